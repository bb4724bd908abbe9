package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeCentrifugo speaks the shapes of Centrifugo's unidirectional SSE
// transport and server publish API that the load tool uses, and nothing
// more: it checks only that the tool parses and sends them right.
type fakeCentrifugo struct {
	key string

	mu      sync.Mutex
	streams map[string][]chan []byte // channel → streams
}

func (f *fakeCentrifugo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/connection/uni_sse":
		var connect struct {
			Subs map[string]json.RawMessage `json:"subs"`
		}
		if err := json.Unmarshal([]byte(r.URL.Query().Get("cf_connect")), &connect); err != nil || len(connect.Subs) != 1 {
			http.Error(w, "bad cf_connect", http.StatusBadRequest)
			return
		}
		ch := make(chan []byte, 1000)
		f.mu.Lock()
		for name := range connect.Subs {
			f.streams[name] = append(f.streams[name], ch)
		}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: {\"connect\":{\"client\":\"c1\",\"version\":\"0.0.0\",\"subs\":{}}}\n\n")
		w.(http.Flusher).Flush()
		for {
			select {
			case msg := <-ch:
				fmt.Fprintf(w, "data: %s\n\n", msg)
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
	case "/api/publish":
		if r.Header.Get("X-API-Key") != f.key {
			fmt.Fprint(w, `{"error":{"code":101,"message":"unauthorized"}}`)
			return
		}
		var req struct {
			Channel string          `json:"channel"`
			Data    json.RawMessage `json:"data"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Channel == "" || len(req.Data) == 0 {
			fmt.Fprint(w, `{"error":{"code":107,"message":"bad request"}}`)
			return
		}
		msg, _ := json.Marshal(map[string]any{"channel": req.Channel, "pub": map[string]any{"data": req.Data, "offset": 1}})
		f.mu.Lock()
		for _, ch := range f.streams[req.Channel] {
			ch <- msg
		}
		f.mu.Unlock()
		fmt.Fprint(w, `{"result":{}}`)
	default:
		http.NotFound(w, r)
	}
}

func TestBenchSpeaksCentrifugo(t *testing.T) {
	fake := &fakeCentrifugo{key: "the-key", streams: make(map[string][]chan []byte)}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	for _, reader := range []string{"epoll", "goroutine"} {
		var out, errOut bytes.Buffer
		args := []string{"bench", "--protocol", "centrifugo", "--url", srv.URL, "--token", "the-key", "--reader", reader,
			"--subscribers", "3", "--rate", "200", "--batch", "2", "--publishers", "2", "--duration", "250ms", "--drain", "5s"}
		if code := run(context.Background(), args, nil, &out, &errOut, func(string) string { return "" }); code != 0 {
			t.Fatalf("%s: bench exited %d: %s", reader, code, errOut.String())
		}
		// 250 ms at 200/s in batches of 2: 25 batches of 2 events.
		for _, want := range []string{"published        50 events", "delivered        150 ", "missed           0\n", "publish p99 "} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s: bench printed no %q:\n%s", reader, want, out.String())
			}
		}
		fake.mu.Lock()
		clear(fake.streams)
		fake.mu.Unlock()
	}

	var out, errOut bytes.Buffer
	args := []string{"bench", "--protocol", "centrifugo", "--url", srv.URL, "--token", "wrong",
		"--subscribers", "1", "--rate", "100", "--batch", "1", "--duration", "50ms"}
	if code := run(context.Background(), args, nil, &out, &errOut, func(string) string { return "" }); code == 0 ||
		!strings.Contains(errOut.String(), "error 101: unauthorized") {
		t.Errorf("a refused publish gave exit %d, stderr %q", code, errOut.String())
	}
}

// TestBenchPublishersKeepTheirConnections: publishers publish over
// keep-alive connections, about one each however many there are, so a run
// measures publishing and not connection set-up.
func TestBenchPublishersKeepTheirConnections(t *testing.T) {
	fake := &fakeCentrifugo{key: "k", streams: make(map[string][]chan []byte)}
	srv := httptest.NewUnstartedServer(fake)
	var dialled atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialled.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	// Far more asked than the fake takes: the 8 publishers are busy all
	// the time, so with fewer idle connections kept than publishers, some
	// would dial again for most requests.
	var out, errOut bytes.Buffer
	args := []string{"bench", "--protocol", "centrifugo", "--url", srv.URL, "--token", "k",
		"--subscribers", "1", "--rate", "20000", "--batch", "1", "--publishers", "8", "--duration", "100ms"}
	if code := run(context.Background(), args, nil, &out, &errOut, func(string) string { return "" }); code != 0 {
		t.Fatalf("bench exited %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "published        2000 events") {
		t.Fatalf("bench printed:\n%s", out.String())
	}
	// net/http may dial one more when a request starts before the last
	// one's connection was put back idle, and keeps it: a few more than 9
	// then. Keeping two idle connections (its default) opened 217–257.
	if n := dialled.Load(); n > 1+4*8 {
		t.Errorf("2,000 publishes from 8 publishers and 1 stream opened %d connections, want a few more than 9", n)
	}
}

func TestCentrifugoAnswerAndUnwrap(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		ok     bool
	}{
		{200, `{"result":{}}`, true},
		{200, `{}`, true},
		{200, `{"error":{"code":102,"message":"unknown channel"}}`, false},
		{200, `not json`, false},
		{401, `Unauthorized`, false},
	} {
		if err := centrifugoAnswer(tc.status, []byte(tc.body)); (err == nil) != tc.ok {
			t.Errorf("centrifugoAnswer(%d, %s) = %v", tc.status, tc.body, err)
		}
	}
	for data, want := range map[string]string{
		`{"channel":"bench:x","pub":{"data":{"bench":"123|xx"},"offset":3}}`: "123|xx",
		`{"connect":{"client":"c1"}}`:                                        "",
		`{}`:                                                                 "",
		`garbage`:                                                            "",
	} {
		if got := centrifugoUnwrap(data); got != want {
			t.Errorf("centrifugoUnwrap(%s) = %q, want %q", data, got, want)
		}
	}
}
