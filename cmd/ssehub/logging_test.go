package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lines returns the non-empty lines of a log.
func lines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// TestBurstOfWarningsIsSummarised: 10,000 identical warnings in a burst
// write the first few lines and, when the window ends, one with the count.
func TestBurstOfWarningsIsSummarised(t *testing.T) {
	var logs syncBuffer
	var mu sync.Mutex
	var timers []func()
	h := newBurstHandler(slog.NewTextHandler(&logs, nil), burstOptions{
		First: 5, Every: time.Second,
		After: func(_ time.Duration, f func()) { mu.Lock(); timers = append(timers, f); mu.Unlock() },
	})
	logger := slog.New(h).With("component", "hub")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2500 {
				logger.Warn("disconnecting a slow subscriber", "seq", g*2500+i)
			}
		})
	}
	wg.Wait()
	logger.Info("another message")                 // other messages pass…
	logger.Info("disconnecting a slow subscriber") // …and other levels are other bursts
	logger.Debug("debug lines are never held back")
	got := lines(logs.String())
	if len(got) != 7 {
		t.Fatalf("%d lines during the burst, want 5 + 2:\n%s", len(got), logs.String())
	}
	mu.Lock()
	ends := timers
	timers = nil
	mu.Unlock()
	for _, end := range ends { // the windows end
		end()
	}
	got = lines(logs.String())
	if len(got) != 8 {
		t.Fatalf("%d lines after the window, want 8:\n%s", len(got), logs.String())
	}
	last := got[7]
	for _, want := range []string{"level=WARN", "repeated 9995 more times", "repeated=9995", "component=hub"} {
		if !strings.Contains(last, want) {
			t.Errorf("the summary %q does not say %q", last, want)
		}
	}
	// A new window lets the message through again.
	logger.Warn("disconnecting a slow subscriber")
	if n := len(lines(logs.String())); n != 9 {
		t.Errorf("%d lines, want 9: a new window did not let the message through", n)
	}
}

// TestHubLoggerSummarisesBursts: the logger serve builds, which the hub
// gets, holds a burst back.
func TestHubLoggerSummarisesBursts(t *testing.T) {
	var logs syncBuffer
	logger, err := newLogger("info", "text", &logs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10_000 {
		logger.Info("disconnecting a slow subscriber", "seq", i)
	}
	if n := len(lines(logs.String())); n > 5 {
		t.Errorf("10,000 identical lines wrote %d", n)
	}
}

func TestLogFormats(t *testing.T) {
	var logs syncBuffer
	logger, err := newLogger("info", "json", &logs)
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("hello", "n", 1)
	logger.Warn("world", "s", "x y")
	for _, l := range lines(logs.String()) {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil || v["msg"] == nil || v["level"] == nil {
			t.Errorf("not a JSON log line: %q (%v)", l, err)
		}
	}
	if _, err := newLogger("info", "xml", io.Discard); err == nil || !strings.Contains(err.Error(), "--log-format") {
		t.Errorf("--log-format xml gave %v", err)
	}
	var errOut syncBuffer
	code := run(context.Background(), []string{"serve", "--log-format", "xml", "--store", "memory:"}, strings.NewReader(""), io.Discard, &errOut, envOf(nil))
	if code != 1 || !strings.Contains(errOut.String(), "--log-format") {
		t.Errorf("serve --log-format xml: exit %d, %q", code, errOut.String())
	}
}

// startLoggedHub runs a hub whose debug-level JSON log goes to logs.
func startLoggedHub(t *testing.T, logs io.Writer) string {
	t.Helper()
	logger, err := newLogger("debug", "json", logs)
	if err != nil {
		t.Fatal(err)
	}
	m := &Main{Config: testConfig(t, "memory:"), Logger: logger}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return "http://" + m.Addr().String()
}

// logRecords decodes a JSON log.
func logRecords(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range lines(s) {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		out = append(out, v)
	}
	return out
}

func TestRequestIDOnRequestLines(t *testing.T) {
	var logs syncBuffer
	base := startLoggedHub(t, &logs)
	generated := regexp.MustCompile(`^[0-9a-f]{16}$`)
	seen := map[string]bool{}
	for _, tc := range []struct {
		name, sent string
		kept       bool
	}{
		{"client's id", "client-req-42", true},
		{"none", "", false},
		{"too long", strings.Repeat("a", 129), false},
		{"longest kept", strings.Repeat("b", 128), true},
		{"with a space", "two words", false},
		{"not ASCII", "é-id", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, base+"/healthz?case="+strings.ReplaceAll(tc.name, " ", "-"), nil)
			if tc.sent != "" {
				req.Header.Set("X-Request-Id", tc.sent)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			id := resp.Header.Get("X-Request-Id")
			switch {
			case tc.kept && id != tc.sent:
				t.Errorf("answered id %q, want the client's %q", id, tc.sent)
			case !tc.kept && !generated.MatchString(id):
				t.Errorf("answered id %q, want a generated one", id)
			case seen[id]:
				t.Errorf("id %q given twice", id)
			}
			seen[id] = true
			// The request's log line carries the same id.
			var found bool
			for _, r := range logRecords(t, logs.String()) {
				if r["msg"] == "request" && r["request_id"] == id {
					found = r["path"] == "/healthz" && r["status"] == float64(200)
				}
			}
			if !found {
				t.Errorf("no request line with request_id %q:\n%s", id, logs.String())
			}
		})
	}
	for _, r := range logRecords(t, logs.String()) {
		if r["msg"] == "request" && r["request_id"] == nil {
			t.Errorf("a request line without a request id: %v", r)
		}
	}
}

// TestNoLogLinePerDeliveredEvent: at debug level, delivering 400 events
// (200 events to two streams) logs one line per request, none per event.
func TestNoLogLinePerDeliveredEvent(t *testing.T) {
	var logs syncBuffer
	base := startLoggedHub(t, &logs)
	streams := []*stream{openStream(t, base+"/events?topic=t", ""), openStream(t, base+"/events?topic=t", "")}
	before := len(lines(logs.String()))
	const requests, perRequest = 20, 10
	for r := range requests {
		var batch []string
		for i := range perRequest {
			batch = append(batch, fmt.Sprintf(`{"topic":"t","data":"%d"}`, r*perRequest+i))
		}
		if status, answer := post(t, base, publisherToken(t), "["+strings.Join(batch, ",")+"]"); status != http.StatusOK {
			t.Fatalf("publish: %d %v", status, answer)
		}
	}
	for _, s := range streams {
		for i := range requests * perRequest {
			if ev := s.next(t); ev.Data != fmt.Sprint(i) {
				t.Fatalf("event %d = %+v", i, ev)
			}
		}
	}
	// The streams' own lines may come before or after: the event loop
	// takes a stream over, and its request line is written then.
	added := lines(logs.String())[before:]
	if len(added) > requests+len(streams) {
		t.Errorf("%d log lines for %d publish requests delivering %d events:\n%s",
			len(added), requests, 2*requests*perRequest, strings.Join(added, "\n"))
	}
}

// TestFailedRequestLinesCarryTheRequestID: what the HTTP layer logs about
// a request it could not serve has the request's id, as its request line.
func TestFailedRequestLinesCarryTheRequestID(t *testing.T) {
	var logs syncBuffer
	logger, err := newLogger("info", "json", &logs)
	if err != nil {
		t.Fatal(err)
	}
	m := &Main{Config: testConfig(t, "file:"+t.TempDir()), Logger: logger}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	m.log.Close() // the store fails every append from now on
	req, _ := http.NewRequest(http.MethodPost, "http://"+m.Addr().String()+"/publish", strings.NewReader(`{"topic":"t","data":"x"}`))
	req.Header.Set("Authorization", "Bearer "+publisherToken(t))
	req.Header.Set("X-Request-Id", "failing-publish-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 500 {
		t.Fatalf("status %d, want the hub's failure", resp.StatusCode)
	}
	msgs := map[string]bool{}
	for _, r := range logRecords(t, logs.String()) {
		if r["request_id"] == "failing-publish-1" {
			msgs[r["msg"].(string)] = true
		}
	}
	if !msgs["request failed"] || !msgs["request"] {
		t.Errorf("lines with the request id: %v\n%s", msgs, logs.String())
	}
}

// BenchmarkRequestLog: what the request id and log line add to a request
// at the default info level (the line itself is not written).
//
//	go test -run '^$' -bench RequestLog -benchmem ./cmd/ssehub/
func BenchmarkRequestLog(b *testing.B) {
	logger, err := newLogger("info", "json", io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"bare", ok}, {"with-request-log", withRequestLog(ok, logger)}} {
		b.Run(bc.name, func(b *testing.B) {
			req, _ := http.NewRequest(http.MethodPost, "http://hub/publish", nil)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				bc.h.ServeHTTP(w, req)
			}
		})
	}
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}
