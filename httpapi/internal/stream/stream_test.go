package stream

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// closeCounter is a subscription whose Close is counted, as a front door
// wraps one to learn when its stream ends.
type closeCounter struct {
	*hub.Subscription
	closed chan struct{}
	n      atomic.Int32
}

func (c *closeCounter) Close() {
	c.Subscription.Close()
	if c.n.Add(1) == 1 {
		close(c.closed)
	}
}

type hiddenConn struct{ net.Conn }

type hidingListener struct{ net.Listener }

func (l hidingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	return hiddenConn{c}, err
}

// TestServeClosesTheSourceOnceWhenTheClientLeaves, through every way a
// stream is served: the source's Close is what tells a door (Mercure's
// subscription events) that its subscriber left.
func TestServeClosesTheSourceOnceWhenTheClientLeaves(t *testing.T) {
	for _, tc := range []struct {
		name      string
		perStream bool
		hide      bool
	}{
		{"event loop", false, false},
		{"hijacked without a descriptor", false, true},
		{"goroutine per stream", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := memory.New(memory.Options{})
			h, err := hub.New(log, hub.Options{})
			if err != nil {
				t.Fatal(err)
			}
			s := New(Options{Heartbeat: h.Heartbeat, Done: h.Done(), GoroutinePerStream: tc.perStream})
			sources := make(chan *closeCounter, 1)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				sub, err := h.Subscribe(r.Context(), hub.SubscribeRequest{Topics: []string{"t"}})
				if err != nil {
					t.Error(err)
					return
				}
				src := &closeCounter{Subscription: sub, closed: make(chan struct{})}
				sources <- src
				w.Header().Set("X-Door", "test")
				s.Serve(w, r, src)
			}))
			if tc.hide {
				srv.Listener = hidingListener{srv.Listener}
			}
			srv.Start()
			defer func() {
				h.Close()
				srv.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := s.Drain(ctx); err != nil {
					t.Errorf("Drain: %v", err)
				}
				log.Close()
			}()
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Header.Get("X-Door") != "test" || resp.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
				t.Errorf("headers %v: want the door's and the stream's", resp.Header)
			}
			line, err := bufio.NewReader(resp.Body).ReadString('\n')
			if err != nil || strings.TrimSpace(line) != ":" {
				t.Fatalf("first line %q, %v", line, err)
			}
			src := <-sources
			resp.Body.Close()
			select {
			case <-src.closed:
			case <-time.After(10 * time.Second):
				t.Fatal("the source was not closed after its client left")
			}
			if _, err := h.Publish(context.Background(), hub.Event{Topics: []string{"t"}, Data: "after"}); err != nil {
				t.Fatal(err)
			}
			if n := src.n.Load(); n != 1 {
				t.Fatalf("Close called %d times, want once", n)
			}
		})
	}
}
