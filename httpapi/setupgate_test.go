package httpapi

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// gatedServer serves h on a listener whose new connections pass a setup
// gate of n places, each held up to hold.
func gatedServer(t *testing.T, n int, hold time.Duration, h http.Handler) (*httptest.Server, *ConnLimiter) {
	t.Helper()
	lim := NewConnLimiter(ConnLimits{Setups: n, setupHold: hold})
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = lim.Listener(srv.Listener)
	srv.Config.ConnState = lim.ConnState
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, lim
}

// rawGet sends a GET on a connection of its own and returns the
// connection and the response, read in the background.
func rawGet(t *testing.T, srv *httptest.Server, path string) (net.Conn, <-chan *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp := make(chan *http.Response, 1)
	go func() {
		r, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			r = nil
		}
		resp <- r
	}()
	return c, resp
}

func wantOK(t *testing.T, what string, resp <-chan *http.Response) {
	t.Helper()
	select {
	case r := <-resp:
		if r == nil || r.StatusCode != http.StatusOK {
			t.Fatalf("%s: got %v, want 200", what, r)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no answer within 10s", what)
	}
}

// TestSetupGateBoundsRequestsBeingSetUp: of five connections whose
// requests arrive together, two are accepted and handled at a time; the
// others wait in the kernel's accept queue, costing no CPU, and are each
// accepted when a place is given back.
func TestSetupGateBoundsRequestsBeingSetUp(t *testing.T) {
	var inside, most atomic.Int32
	release := make(chan struct{})
	srv, lim := gatedServer(t, 2, time.Hour, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inside.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-release
		inside.Add(-1)
	}))
	var answers []<-chan *http.Response
	for range 5 {
		_, resp := rawGet(t, srv, "/")
		answers = append(answers, resp)
	}
	eventually(t, "two requests handled and the listener waiting for a place", func() bool {
		return inside.Load() == 2 && lim.gate.waiting.Load() == 1
	})
	for range answers {
		release <- struct{}{}
	}
	for _, resp := range answers {
		wantOK(t, "a request let in through the gate", resp)
	}
	if most.Load() != 2 {
		t.Errorf("at most %d requests were handled at once, want 2", most.Load())
	}
}

// TestSetupGateIgnoresSlowHeads: a client that sends its request head in
// pieces (by accident or to hold the gate shut) gives its place back at
// its first read.
func TestSetupGateIgnoresSlowHeads(t *testing.T) {
	srv, _ := gatedServer(t, 1, time.Hour, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	slow, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := slow.Write([]byte("GET / HTTP/1.1\r\nHost: hub\r\n")); err != nil {
		t.Fatal(err)
	}
	// The half-sent head holds no place: another request is answered.
	_, resp := rawGet(t, srv, "/")
	wantOK(t, "a request beside a half-sent head", resp)
	if _, err := slow.Write([]byte("Connection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	r, err := http.ReadResponse(bufio.NewReader(slow), nil)
	if err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("the slow head, finished: %v %v", r, err)
	}
}

// TestSetupGateLetsGoAfterHold: a client that connects and sends nothing,
// and a request that takes long (here one that never ends until the test
// says so), give their place back after the hold, so they slow new
// connections only that long.
func TestSetupGateLetsGoAfterHold(t *testing.T) {
	release := make(chan struct{})
	srv, _ := gatedServer(t, 1, 10*time.Millisecond, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			<-release
		}
	}))
	silent, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	_, blocked := rawGet(t, srv, "/block")
	_, resp := rawGet(t, srv, "/")
	wantOK(t, "a request while another holds the only place", resp)
	close(release)
	wantOK(t, "the long request", blocked)
}

// TestSetupGateFreesHijackedStreams: a stream taken over by the event loop
// gives its place back at once: with one place and a hold of an hour,
// three streams still open one after the other.
func TestSetupGateFreesHijackedStreams(t *testing.T) {
	f := newFixture(t, fixtureOpts{conns: &ConnLimits{Setups: 1, setupHold: time.Hour}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 3 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.url+"/events?topic=t", nil)
		resp, err := f.client.Do(req)
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %s", i, resp.Status)
		}
	}
	// Each stream's head is written just before the loop takes it.
	eventually(t, "the event loop holding the three streams", func() bool { return f.api.streams.Looped() == 3 })
}
