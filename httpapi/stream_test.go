package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/hub"
)

// hiddenConn hides the connection's file descriptor, as a wrapping
// listener (PROXY protocol, connection limits) does.
type hiddenConn struct{ net.Conn }

type hidingListener struct{ net.Listener }

func (l hidingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return hiddenConn{c}, nil
}

// streamWay is one way the API serves a stream.
type streamWay struct {
	name string
	opts Options
	hide bool // behind a listener that hides the connection's descriptor
}

var streamWays = []streamWay{
	{"event loop", Options{}, false},
	{"hijacked without a descriptor", Options{}, true},
	{"goroutine per stream", Options{GoroutinePerStream: true}, false},
}

// start serves h this way, with the test key, on a new test server.
func (w streamWay) start(h *hub.Hub) (*httptest.Server, *API) {
	w.opts.Verifier = auth.NewVerifier(testKey)
	api := New(h, w.opts)
	srv := httptest.NewUnstartedServer(api)
	if w.hide {
		srv.Listener = hidingListener{srv.Listener}
	}
	srv.Start()
	return srv, api
}

// TestStreamEveryWay runs one stream through each way the API can serve
// it and expects the same bytes from all: the event loop, a goroutine on
// a connection taken from net/http, and net/http's own ResponseWriter.
func TestStreamEveryWay(t *testing.T) {
	for _, tc := range streamWays {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t)
			tc.opts.CORSOrigins = []string{"https://app.example"}
			tc.opts.Retry = 3 * time.Second
			tc.opts.ShutdownRetry, tc.opts.ShutdownJitter = time.Second, time.Millisecond
			srv, api := tc.start(h)
			defer srv.Close()

			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/events?topic=t", nil)
			req.Header.Set("Origin", "https://app.example")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			for name, want := range map[string]string{
				"Content-Type":                     "text/event-stream; charset=utf-8",
				"Cache-Control":                    "no-cache",
				"X-Accel-Buffering":                "no",
				"Access-Control-Allow-Origin":      "https://app.example",
				"Access-Control-Allow-Credentials": "true",
			} {
				if got := resp.Header.Get(name); got != want {
					t.Errorf("%s: %q, want %q", name, got, want)
				}
			}
			// The same HTTP/1.1 answer every way: chunked; a connection
			// taken from net/http is closed when the stream ends, and the
			// answer says so (TestEndedStreamLeavesNoDeadConnection).
			if resp.StatusCode != http.StatusOK || resp.Close != !tc.opts.GoroutinePerStream || !slices.Equal(resp.TransferEncoding, []string{"chunked"}) {
				t.Errorf("status %d, Close %v, Transfer-Encoding %q; want 200, %v, chunked", resp.StatusCode, resp.Close, resp.TransferEncoding, !tc.opts.GoroutinePerStream)
			}
			r := bufio.NewReader(resp.Body)
			// The prelude (a comment and the retry) comes first, then the
			// position.
			if got := readUntil(t, r, "id: "); strings.Join(got[:len(got)-1], "|") != ":|retry: 3000" {
				t.Errorf("stream opened with %q", got)
			}
			ids, err := h.Publish(context.Background(), hub.Event{Topics: []string{"t"}, Type: "note", Data: "one\ntwo"})
			if err != nil {
				t.Fatal(err)
			}
			readUntil(t, r, "") // the position frame's blank line
			if got := readUntil(t, r, "data: two"); strings.Join(got, "|") != "id: "+ids[0]+"|event: note|data: one|data: two" {
				t.Errorf("event arrived as %q", got)
			}
			h.Close()
			lines := readUntil(t, r, "retry: ")
			if got := lines[len(lines)-1]; got != "retry: 1000" {
				t.Errorf("shutdown sent %q, want retry: 1000", got)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := api.Drain(ctx); err != nil {
				t.Fatalf("Drain: %v", err)
			}
			// EOF, not ErrUnexpectedEOF: the body ends with its last chunk.
			if rest, err := io.ReadAll(r); err != nil || string(rest) != "\n" {
				t.Fatalf("after the retry: %q, %v; want the frame's end, then the end of the body", rest, err)
			}
		})
	}
}

// TestEndedStreamLeavesNoDeadConnection: when the hub ends a stream (here
// an operator's disconnect), the connection it came on is either kept and
// answers the client's next request, or was announced with "Connection:
// close" and is closed, every way a stream is served. A hijacked stream
// used to say keep-alive and then close: a client that sent its next
// request on it, as HTTP/1.1 allows, never got an answer.
func TestEndedStreamLeavesNoDeadConnection(t *testing.T) {
	for _, tc := range streamWays {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t)
			srv, _ := tc.start(h)
			t.Cleanup(func() {
				h.Close()
				srv.Close()
			})
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(conn)
			get, _ := http.NewRequest(http.MethodGet, srv.URL+"/events?topic=t", nil)
			if err := get.Write(conn); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(br, get)
			if err != nil {
				t.Fatal(err)
			}
			body := bufio.NewReader(resp.Body)
			readUntil(t, body, "id: ")
			subs := h.Subscribers()
			if len(subs) != 1 || !h.Disconnect(subs[0].ID) {
				t.Fatalf("subscribers %+v: want one to disconnect", subs)
			}
			if _, err := io.Copy(io.Discard, body); err != nil {
				t.Fatalf("the ended stream's body: %v, want its last chunk", err)
			}
			if resp.Close {
				if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
					t.Fatalf("after a stream announced with Connection: close: read %d, %v; want the connection closed", n, err)
				}
				return
			}
			post, _ := http.NewRequest(http.MethodPost, srv.URL+"/publish", strings.NewReader(`{"topic":"t","data":"after"}`))
			post.Header.Set("Authorization", "Bearer "+sign(t, testKey, []string{"*"}, nil))
			if err := post.Write(conn); err != nil {
				t.Fatalf("the next request on the kept connection: %v", err)
			}
			resp, err = http.ReadResponse(br, post)
			if err != nil {
				t.Fatalf("the stream's answer said keep-alive, but the next request on the connection got %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("the next request on the kept connection: %d", resp.StatusCode)
			}
		})
	}
}

// TestHTTP10StreamEndsWithTheConnection: an HTTP/1.0 client gets an
// HTTP/1.0 answer whose body runs until the connection closes.
func TestHTTP10StreamEndsWithTheConnection(t *testing.T) {
	srv, h := newServer(t, Options{})
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /events?topic=t HTTP/1.0\r\nHost: hub\r\n\r\n")
	r := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	head := readUntil(t, r, "\r")
	if head[0] != "HTTP/1.0 200 OK\r" {
		t.Fatalf("status line %q", head[0])
	}
	if !strings.Contains(strings.Join(head, "\n"), "Connection: close\r") {
		t.Errorf("head %q does not say Connection: close", head)
	}
	readUntil(t, r, "id: ")
	h.Close()
	readUntil(t, r, "retry: ")
	if rest, err := io.ReadAll(r); err != nil || string(rest) != "\n" {
		t.Fatalf("after the retry: %q, %v", rest, err)
	}
}

// TestStreamChurnLeavesNothingBehind opens and drops many streams: every
// subscription, loop entry and goroutine they used is released.
func TestStreamChurnLeavesNothingBehind(t *testing.T) {
	h := newHub(t)
	api := New(h, Options{})
	srv := httptest.NewServer(api)
	defer func() {
		h.Close() // ends the streams, which srv.Close waits for
		srv.Close()
	}()
	open := func(topic string) (net.Conn, *bufio.Reader) {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET /events?topic=%s HTTP/1.1\r\nHost: hub\r\n\r\n", topic)
		r := bufio.NewReader(conn)
		readUntil(t, r, "id: ")
		return conn, r
	}
	// A stream kept open throughout proves the loop keeps serving.
	keeper, kr := open("keep")
	defer keeper.Close()
	goroutines := runtime.NumGoroutine()
	for round := range 5 {
		var conns []net.Conn
		for i := range 100 {
			c, _ := open(fmt.Sprintf("churn/%d/%d", round, i))
			conns = append(conns, c)
		}
		for _, c := range conns {
			c.Close()
		}
	}
	// Each handler's goroutine ends right after it hands its stream over;
	// none is left per stream.
	eventually(t, "every dropped stream and its goroutines to be released", func() bool {
		return h.Stats().Subscribers == 1 && api.streams.Looped() == 1 && runtime.NumGoroutine() <= goroutines
	})
	ids, err := h.Publish(context.Background(), hub.Event{Topics: []string{"keep"}, Data: "still here"})
	if err != nil {
		t.Fatal(err)
	}
	readUntil(t, kr, "id: "+ids[0])
}

// eventually waits until cond holds, failing the test after a bound.
// Nothing signals these releases, so it checks cond every few
// milliseconds; the bound, not the interval, decides the outcome.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	bound := time.NewTimer(10 * time.Second)
	defer bound.Stop()
	check := time.NewTicker(5 * time.Millisecond)
	defer check.Stop()
	for !cond() {
		select {
		case <-bound.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-check.C:
		}
	}
}

// TestHeadOfTheStream: HEAD gets what GET would, without the body, and
// leaves no subscription behind.
func TestHeadOfTheStream(t *testing.T) {
	srv, h := newServer(t, Options{})
	resp, err := http.Head(srv.URL + "/events?topic=t")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
		t.Fatalf("HEAD: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if n := h.Stats().Subscribers; n != 0 {
		t.Fatalf("HEAD left %d subscribers", n)
	}
	if resp, err = http.Head(srv.URL + "/events"); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("HEAD without a topic: %d, want 400 as for GET", resp.StatusCode)
	}
}
