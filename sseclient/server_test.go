package sseclient

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// waitLimit bounds every wait in these tests: a test that would hang fails.
const waitLimit = 10 * time.Second

// streamServer is an httptest server whose connections the test drives one
// by one, as the contract suite's mock stream does.
type streamServer struct {
	*httptest.Server
	conns chan *serverConn
}

// serverConn is one request to a streamServer. The test writes to the
// response through send; closing send ends the response.
type serverConn struct {
	method string
	header http.Header
	body   string
	send   chan string
}

func newStreamServer(t *testing.T) *streamServer {
	t.Helper()
	s := &streamServer{conns: make(chan *serverConn, 16)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *streamServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c := &serverConn{method: r.Method, header: r.Header.Clone(), body: string(body), send: make(chan string, 16)}
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	s.conns <- c
	for {
		select {
		case chunk, ok := <-c.send:
			if !ok {
				return
			}
			_, _ = io.WriteString(w, chunk)
			w.(http.Flusher).Flush()
		case <-r.Context().Done():
			return
		}
	}
}

// accept returns the next connection the client made.
func (s *streamServer) accept(t *testing.T) *serverConn {
	t.Helper()
	return receive(t, s.conns)
}

// acceptUntil is accept for a goroutine other than the test's.
func (s *streamServer) acceptUntil(ctx context.Context) (*serverConn, bool) {
	select {
	case c := <-s.conns:
		return c, true
	case <-ctx.Done():
		return nil, false
	}
}

func receive[T any](t *testing.T, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("nothing received within %v", waitLimit)
		panic("unreachable")
	}
}

// result is one return of Stream.Next.
type result struct {
	ev  sse.Event
	err error
}

// pump calls s.Next on its own goroutine until the stream ends, so that the
// test can drive the server while the client reads. Cleanup cancels the
// stream and waits for the goroutine.
func pump(t *testing.T, s *Stream) <-chan result {
	t.Helper()
	results := make(chan result, 64)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := s.Next()
			select {
			case results <- result{ev, err}:
			case <-stop:
				return
			}
			if s.err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		s.Close()
		<-done
	})
	return results
}

// fastWaits makes the client's reconnection waits end at once, without
// jitter, and returns the waits it asked for.
func fastWaits(c *Client) <-chan time.Duration {
	waits := make(chan time.Duration, 64)
	c.cfg.jitter = func(time.Duration) time.Duration { return 0 }
	c.cfg.newTimer = func(d time.Duration) (<-chan time.Time, func() bool) {
		waits <- d
		fired := make(chan time.Time, 1)
		fired <- time.Time{}
		return fired, func() bool { return false }
	}
	return waits
}

// statusServer answers every request with the given status, content type and
// body, and counts requests.
func statusServer(t *testing.T, status int, contentType string, header http.Header) (*httptest.Server, <-chan struct{}) {
	t.Helper()
	requests := make(chan struct{}, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests <- struct{}{}
		for name, values := range header {
			w.Header()[name] = values
		}
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, requests
}

func newTestClient(t *testing.T, url string, opts ...Option) (*Client, context.Context) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return New(url, opts...), ctx
}
