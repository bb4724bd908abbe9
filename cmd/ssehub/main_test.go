package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/sse"
)

const testKey = "test-key-test-key-test-key-0123"

// startHub runs Main with cfg until the test ends and returns its base URL.
func startHub(t *testing.T, cfg Config) (string, func()) {
	t.Helper()
	m := &Main{Config: cfg}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			stop()
		}
	})
	return "http://" + m.Addr().String(), stop
}

// testConfig is the default configuration with test-friendly changes.
func testConfig(t *testing.T, store string) Config {
	var cfg Config
	fs := newFlagSet("serve", io.Discard)
	cfg.register(fs)
	if err := parseFlags(fs, nil, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	cfg.Listen = "127.0.0.1:0"
	cfg.Store = store
	cfg.Auth.Shared.Key = testKey
	cfg.Demo = false
	return cfg
}

func publisherToken(t *testing.T) string {
	t.Helper()
	tok, err := signForTest()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func signForTest() (string, error) { return auth.Sign([]byte(testKey), []string{"*"}, nil, 0) }

// post publishes body and returns the status and decoded answer.
func post(t *testing.T, base, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/publish", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		t.Fatalf("status %s, answer not JSON: %v", resp.Status, err)
	}
	return resp.StatusCode, answer
}

func mustPublish(t *testing.T, base, body string) string {
	t.Helper()
	status, answer := post(t, base, publisherToken(t), body)
	if status != http.StatusOK {
		t.Fatalf("publish %s: %d %v", body, status, answer)
	}
	return answer["id"].(string)
}

// stream is an open event stream read with the sse parser.
type stream struct {
	resp   *http.Response
	events chan sse.Event
	errc   chan error
}

func openStream(t *testing.T, url, lastEventID string) *stream {
	t.Helper()
	h := http.Header{}
	if lastEventID != "" {
		h.Set("Last-Event-ID", lastEventID)
	}
	return openStreamWith(t, url, h)
}

func openStreamWith(t *testing.T, url string, header http.Header) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	s := &stream{resp: resp, events: make(chan sse.Event, 1024), errc: make(chan error, 1)}
	go func() {
		p := sse.NewParser(resp.Body)
		for {
			ev, err := p.Next()
			if err != nil {
				s.errc <- err
				close(s.events)
				return
			}
			s.events <- ev
		}
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		for range s.events {
		}
	})
	return s
}

func (s *stream) next(t *testing.T) sse.Event {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatalf("stream ended: %v", <-s.errc)
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	panic("unreachable")
}

func TestServeEndToEnd(t *testing.T) {
	for _, loop := range []bool{true, false} {
		t.Run(fmt.Sprintf("event-loop=%v", loop), func(t *testing.T) {
			cfg := testConfig(t, "memory:")
			cfg.EventLoop = loop
			testServeEndToEnd(t, cfg)
		})
	}
}

func testServeEndToEnd(t *testing.T, cfg Config) {
	base, _ := startHub(t, cfg)
	s := openStream(t, base+"/events?topic=chat/{room}", "")
	if ct := s.resp.Header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := s.resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control = %q", cc)
	}
	first := mustPublish(t, base, `{"topic":"chat/lobby","data":"line one\nline two\r\nline three","type":"chat-message"}`)
	mustPublish(t, base, `{"topic":"chat/lobby","data":" leading space","id":"custom-1"}`)
	mustPublish(t, base, `{"topic":"elsewhere","data":"not for us"}`)
	third := mustPublish(t, base, `{"topics":["chat/kitchen"],"data":{"json":true}}`)

	want := []sse.Event{
		{ID: first, Type: "chat-message", Data: "line one\nline two\nline three"},
		{ID: "custom-1", Type: "message", Data: " leading space"},
		{ID: third, Type: "message", Data: `{"json":true}`},
	}
	for _, w := range want {
		if got := s.next(t); got.ID != w.ID || got.Type != w.Type || got.Data != w.Data {
			t.Errorf("got %+v, want %+v", got, w)
		}
	}

	// A stream resumed after the first event gets exactly what followed,
	// whether the id comes in the header or in the query.
	for _, r := range []*stream{
		openStream(t, base+"/events?topic=chat/{room}", first),
		openStream(t, base+"/events?topic=chat/{room}&lastEventID="+url.QueryEscape(first), ""),
	} {
		for _, w := range want[1:] {
			if got := r.next(t); got.ID != w.ID || got.Data != w.Data {
				t.Errorf("resumed: got %+v, want %+v", got, w)
			}
		}
	}
}

func TestPrivateEventsReachOnlyAllowedSubscribers(t *testing.T) {
	base, _ := startHub(t, testConfig(t, "memory:"))
	reader, _ := auth.Sign([]byte(testKey), nil, []string{"users/{id}"}, 0)
	allowed := openStreamWith(t, base+"/events?topic=users/{id}", http.Header{"Authorization": {"Bearer " + reader}})
	anonymous := openStream(t, base+"/events?topic=users/{id}", "")
	mustPublish(t, base, `{"topic":"users/7","data":"secret","private":true}`)
	public := mustPublish(t, base, `{"topic":"users/7","data":"hello"}`)
	if ev := allowed.next(t); ev.Data != "secret" {
		t.Errorf("allowed subscriber got %+v first, want the private event", ev)
	}
	if ev := anonymous.next(t); ev.ID != public {
		t.Errorf("anonymous subscriber got %+v, want only the public event %s", ev, public)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/events?topic=x", nil)
	req.Header.Set("Authorization", "Bearer forged")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a forged subscriber token got %d, want 401", resp.StatusCode)
	}
}

func TestPublishErrorsAreClear(t *testing.T) {
	base, _ := startHub(t, testConfig(t, "memory:"))
	token := publisherToken(t)
	chatOnly, _ := auth.Sign([]byte(testKey), []string{"chat/*"}, nil, 0)
	mustPublish(t, base, `{"topic":"t","id":"once"}`)
	for _, tc := range []struct {
		name, token, body string
		status            int
	}{
		{"no token", "", `{"topic":"t"}`, http.StatusUnauthorized},
		{"bad token", "nonsense", `{"topic":"t"}`, http.StatusUnauthorized},
		{"topic not allowed", chatOnly, `{"topic":"news"}`, http.StatusForbidden},
		{"not JSON", token, `topic=t`, http.StatusBadRequest},
		{"unknown field", token, `{"topic":"t","tpoics":["x"]}`, http.StatusBadRequest},
		{"no topic", token, `{"data":"x"}`, http.StatusBadRequest},
		{"LF in id", token, `{"topic":"t","id":"a\nid: b"}`, http.StatusBadRequest},
		{"CR in type", token, `{"topic":"t","type":"a\rdata: b"}`, http.StatusBadRequest},
		{"NUL in id", token, `{"topic":"t","id":"a\u0000"}`, http.StatusBadRequest},
		{"empty batch", token, `[]`, http.StatusBadRequest},
		{"duplicate id", token, `{"topic":"t","id":"once"}`, http.StatusConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, answer := post(t, base, tc.token, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d (%v)", status, tc.status, answer)
			}
			if msg, _ := answer["error"].(string); msg == "" {
				t.Errorf("answer %v has no error message", answer)
			}
		})
	}
}

func TestBatchPublishAnswersIDsInOrder(t *testing.T) {
	base, _ := startHub(t, testConfig(t, "memory:"))
	s := openStream(t, base+"/events?topic=t", "")
	status, answer := post(t, base, publisherToken(t), `[{"topic":"t","data":"1"},{"topic":"t","data":"2","id":"two"}]`)
	if status != http.StatusOK {
		t.Fatalf("status %d: %v", status, answer)
	}
	ids := answer["ids"].([]any)
	for i, id := range ids {
		if got := s.next(t); got.ID != id || got.Data != fmt.Sprint(i+1) {
			t.Errorf("event %d = %+v, want id %v", i, got, id)
		}
	}
}

func TestHistory(t *testing.T) {
	base, _ := startHub(t, testConfig(t, "memory:"))
	first := mustPublish(t, base, `{"topic":"a","data":"1"}`)
	mustPublish(t, base, `{"topic":"b","data":"2"}`)
	mustPublish(t, base, `{"topic":"a","data":"3"}`)
	resp, err := http.Get(base + "/history?topic=a&after=" + first)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Events []struct{ ID, Data string }
		More   bool
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 1 || page.Events[0].Data != "3" || page.More {
		t.Fatalf("history = %+v, want only event 3 and no more", page)
	}
	for _, q := range []string{"topic=a&after=unknown", "topic=a&limit=0", "topic={"} {
		resp, err := http.Get(base + "/history?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("history?%s: status %d, want a 4xx", q, resp.StatusCode)
		}
	}
}

func TestFlagsHaveEnvironmentTwins(t *testing.T) {
	var cfg Config
	fs := newFlagSet("serve", io.Discard)
	cfg.register(fs)
	env := map[string]string{"SSEHUB_LISTEN": ":9999", "SSEHUB_RETENTION_BYTES": "64MiB", "SSEHUB_HEARTBEAT": "3s"}
	if err := parseFlags(fs, []string{"--heartbeat", "5s"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":9999" || cfg.RetentionBytes != 64<<20 || cfg.Heartbeat != 5*time.Second {
		t.Errorf("got listen %q, retention-bytes %d, heartbeat %v", cfg.Listen, cfg.RetentionBytes, cfg.Heartbeat)
	}
	bad := func(string) string { return "lots" }
	if err := parseFlags(fs, nil, bad); err == nil || !strings.Contains(err.Error(), "SSEHUB_") {
		t.Errorf("a bad environment value gave %v, want an error naming the variable", err)
	}
}

func TestFirstStartPrintsKeyAndToken(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, "file:"+dir)
	cfg.Auth.Shared.Key = ""
	var out bytes.Buffer
	m := &Main{Config: cfg, Out: &out, Terminal: true}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Authorization: Bearer ") {
		t.Fatalf("first start printed no publisher token:\n%s", out.String())
	}
	// The second start keeps the key and prints nothing.
	out.Reset()
	m = &Main{Config: cfg, Out: &out, Terminal: true}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("second start printed %q", out.String())
	}
}

func TestServesDashboardDemosAndDocs(t *testing.T) {
	cfg := testConfig(t, "memory:")
	cfg.Demo = true
	base, _ := startHub(t, cfg)
	for _, path := range []string{"/", "/docs/api.md", "/docs/", "/demo/board", "/demo/board/tasks", "/readyz", "/healthz", "/metrics"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s: %s, %d bytes", path, resp.Status, len(body))
		}
		if path == "/" && !strings.Contains(string(body), `href="/docs/"`) {
			t.Errorf("the dashboard does not link to the served docs")
		}
	}
}

func TestBenchMeasuresARunningHub(t *testing.T) {
	// Both readers, against both ways the hub writes: a body that ends
	// with the connection (event loop) and a chunked one (net/http).
	for _, tc := range []struct {
		reader    string
		eventLoop bool
	}{{"goroutine", true}, {"goroutine", false}, {defaultBenchReader, true}, {defaultBenchReader, false}} {
		t.Run(fmt.Sprintf("reader=%s,event-loop=%v", tc.reader, tc.eventLoop), func(t *testing.T) {
			cfg := testConfig(t, "memory:")
			cfg.EventLoop = tc.eventLoop
			base, _ := startHub(t, cfg)
			var out, errOut bytes.Buffer
			args := []string{"bench", "--url", base, "--token", publisherToken(t), "--subscribers", "20",
				"--rate", "200", "--batch", "10", "--duration", "300ms", "--reader", tc.reader, "--publishers", "2"}
			if code := run(context.Background(), args, nil, &out, &errOut, func(string) string { return "" }); code != 0 {
				t.Fatalf("bench exited %d: %s", code, errOut.String())
			}
			for _, want := range []string{"subscribers      20", "missed           0", "latency p99"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("bench output lacks %q:\n%s", want, out.String())
				}
			}
			if strings.Contains(out.String(), "delivered        0 ") {
				t.Errorf("bench delivered nothing:\n%s", out.String())
			}
		})
	}
}

// TestEveryServeFlagIsDocumented: docs/configuration.md has a row for each
// flag of `ssehub serve`, so the reference cannot fall behind the binary.
func TestEveryServeFlagIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	var cfg Config
	fs := newFlagSet("serve", io.Discard)
	cfg.register(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(string(doc), "| `--"+f.Name+"` |") {
			t.Errorf("docs/configuration.md has no row for --%s", f.Name)
		}
	})
}
