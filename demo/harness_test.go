package demo_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/demo"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testKey = []byte("demo-test-key-0123456789abcdef!!")

// server is a real hub on loopback: memory log, hub, HTTP API, demos.
type server struct {
	URL   string
	Hub   *hub.Hub
	Demos *demo.Demos

	mu     sync.Mutex
	tokens []string // bearer tokens seen by POST /publish
}

// start runs a hub with the demos. opts' Hub, PublishURL and Key are set
// here. With run, the demos' publishers run until the test ends.
func start(t *testing.T, opts demo.Options, run bool) *server {
	t.Helper()
	log := memory.New(memory.Options{})
	h, err := hub.New(log, hub.Options{Heartbeat: -1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{URL: "http://" + ln.Addr().String(), Hub: h}
	opts.Hub, opts.PublishURL, opts.Key = h, s.URL, testKey
	if s.Demos, err = demo.New(opts); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	httpapi.New(h, httpapi.Options{Verifier: auth.NewVerifier(testKey)}).Register(mux)
	s.Demos.Register(mux)
	srv := httptest.NewUnstartedServer(s.recordTokens(mux))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if run {
			_ = s.Demos.Run(ctx)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		h.Close()
		srv.Close()
		log.Close()
	})
	return s
}

// recordTokens notes the token of every publish request.
func (s *server) recordTokens(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/publish" {
			token, _ := auth.FromRequest(r)
			s.mu.Lock()
			s.tokens = append(s.tokens, token)
			s.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (s *server) publishTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tokens...)
}

// event is one SSE event as a test reads it.
type event struct{ ID, Type, Data string }

// subscribe opens GET /events for the topics (after lastEventID, if not
// empty) and returns the events as they come. The stream ends with the test.
func (s *server) subscribe(t *testing.T, lastEventID string, topics ...string) <-chan event {
	t.Helper()
	q := url.Values{"topic": topics}
	if lastEventID != "" {
		q.Set("lastEventID", lastEventID)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/events?"+q.Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("GET /events: %s", resp.Status)
	}
	out := make(chan event, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		readEvents(resp.Body, out)
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-done
	})
	return out
}

// readEvents parses the stream well enough for these tests: one field per
// line, events dispatched on a blank line, id-only frames skipped.
func readEvents(r io.Reader, out chan<- event) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	var ev event
	var data []string
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if data != nil {
				ev.Data = strings.Join(data, "\n")
				out <- ev
			}
			ev, data = event{}, nil
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.ID = value
		case "event":
			ev.Type = value
		case "data":
			data = append(data, value)
		}
	}
}

// next returns the next event of one of types (others are skipped), or
// fails the test after a few seconds.
func next(t *testing.T, events <-chan event, types ...string) event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("stream ended")
			}
			for _, typ := range types {
				if ev.Type == typ {
					return ev
				}
			}
		case <-deadline:
			t.Fatalf("no %v event within 5s", types)
		}
	}
}

// call sends a request and decodes a JSON answer into out (if not nil).
func (s *server) call(t *testing.T, method, path, contentType, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type %q, body %s", method, path, ct, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	return resp.StatusCode
}

const jsonType = "application/json"

// errorBody is the shape of every error answer.
type errorBody struct {
	Error string `json:"error"`
}

// position returns the id of the hub's newest event.
func (s *server) position(t *testing.T) string {
	t.Helper()
	var pos struct {
		LastEventID string `json:"lastEventId"`
	}
	if code := s.call(t, "GET", "/demo/position", "", "", &pos); code != 200 || pos.LastEventID == "" {
		t.Fatalf("GET /demo/position: %d %+v", code, pos)
	}
	return pos.LastEventID
}

func fixedNow() time.Time { return time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC) }
