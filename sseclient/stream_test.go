package sseclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/sse"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func wantEvent(t *testing.T, got result, want sse.Event) {
	t.Helper()
	if got.err != nil || got.ev != want {
		t.Fatalf("Next = %+v, %v; want %+v", got.ev, got.err, want)
	}
}

// wantRetry checks that got reports a dropped connection and returns why.
func wantRetry(t *testing.T, got result) *RetryError {
	t.Helper()
	var retry *RetryError
	if !errors.As(got.err, &retry) {
		t.Fatalf("Next = %+v, %v; want a *RetryError", got.ev, got.err)
	}
	return retry
}

func TestStreamReceivesEventsAndComments(t *testing.T) {
	srv := newStreamServer(t)
	comments := make(chan string, 8)
	c, ctx := newTestClient(t, srv.URL, WithHTTPClient(srv.Client()),
		WithComments(func(text string) { comments <- text }))
	results := pump(t, c.Connect(ctx))

	conn := srv.accept(t)
	if conn.method != http.MethodGet || conn.header.Get("Accept") != "text/event-stream" ||
		conn.header.Get("Cache-Control") != "no-cache" || conn.header.Values("Last-Event-ID") != nil {
		t.Errorf("request: %s %v; want GET, Accept: text/event-stream, Cache-Control: no-cache, no Last-Event-ID",
			conn.method, conn.header)
	}
	conn.send <- ": hello\n"
	conn.send <- "id: 1\nevent: add\ndata: a\ndata: b\n\n"
	wantEvent(t, receive(t, results), sse.Event{ID: "1", Type: "add", Data: "a\nb"})
	if got := receive(t, comments); got != "hello" {
		t.Errorf("comment = %q, want hello", got)
	}
}

func TestStreamReconnectsWithLastEventID(t *testing.T) {
	srv := newStreamServer(t)
	c, ctx := newTestClient(t, srv.URL, WithHTTPClient(srv.Client()))
	waits := fastWaits(c)
	s := c.Connect(ctx)
	results := pump(t, s)

	first := srv.accept(t)
	first.send <- "id: 1\ndata: a\n\nid: 2\ndata: unfinished"
	wantEvent(t, receive(t, results), sse.Event{ID: "1", Type: "message", Data: "a"})
	close(first.send)
	wantRetry(t, receive(t, results))

	second := srv.accept(t)
	if got := second.header.Get("Last-Event-ID"); got != "1" {
		t.Errorf("reconnection sent Last-Event-ID %q, want 1 (the unfinished event's id is discarded)", got)
	}
	if got := receive(t, waits); got != DefaultRetry {
		t.Errorf("waited %v before reconnecting, want the default %v", got, DefaultRetry)
	}
	second.send <- "data: b\n\n"
	wantEvent(t, receive(t, results), sse.Event{ID: "1", Type: "message", Data: "b"})
}

func TestStreamEmptyIDClearsLastEventID(t *testing.T) {
	srv := newStreamServer(t)
	c, ctx := newTestClient(t, srv.URL, WithHTTPClient(srv.Client()), WithLastEventID("0"))
	fastWaits(c)
	results := pump(t, c.Connect(ctx))

	first := srv.accept(t)
	if got := first.header.Get("Last-Event-ID"); got != "0" {
		t.Errorf("first request sent Last-Event-ID %q, want the initial 0", got)
	}
	first.send <- "data: a\n\nid\ndata: b\n\n"
	wantEvent(t, receive(t, results), sse.Event{ID: "0", Type: "message", Data: "a"})
	wantEvent(t, receive(t, results), sse.Event{Type: "message", Data: "b"})
	close(first.send)
	wantRetry(t, receive(t, results))
	if got := srv.accept(t).header.Values("Last-Event-ID"); got != nil {
		t.Errorf("reconnection sent Last-Event-ID %q after an empty id", got)
	}
}

func TestStreamHonoursServerRetry(t *testing.T) {
	srv := newStreamServer(t)
	c, ctx := newTestClient(t, srv.URL, WithHTTPClient(srv.Client()))
	waits := fastWaits(c)
	results := pump(t, c.Connect(ctx))

	first := srv.accept(t)
	first.send <- "retry: 1234\n"
	close(first.send)
	if retry := wantRetry(t, receive(t, results)); retry.Delay != 1234*time.Millisecond {
		t.Errorf("RetryError.Delay = %v, want the server's 1.234s", retry.Delay)
	}
	if got := receive(t, waits); got != 1234*time.Millisecond {
		t.Errorf("waited %v, want the server's 1.234s", got)
	}
	srv.accept(t)
}

// Connections that fail in a row wait longer each time, up to the cap; a
// connection that delivers an event starts the count again.
func TestStreamBacksOffAndResets(t *testing.T) {
	srv := newStreamServer(t)
	c, ctx := newTestClient(t, srv.URL, WithHTTPClient(srv.Client()),
		WithRetry(100*time.Millisecond), WithMaxBackoff(350*time.Millisecond))
	waits := fastWaits(c)
	results := pump(t, c.Connect(ctx))

	var got []time.Duration
	for range 4 {
		close(srv.accept(t).send)
		got = append(got, wantRetry(t, receive(t, results)).Delay)
	}
	conn := srv.accept(t)
	conn.send <- "data: a\n\n"
	wantEvent(t, receive(t, results), sse.Event{Type: "message", Data: "a"})
	close(conn.send)
	got = append(got, wantRetry(t, receive(t, results)).Delay)

	ms := time.Millisecond
	want := []time.Duration{100 * ms, 200 * ms, 350 * ms, 350 * ms, 100 * ms}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("delays %v, want %v", got, want)
	}
	for _, d := range want {
		if w := receive(t, waits); w != d {
			t.Errorf("waited %v, want %v", w, d)
		}
	}
}

func TestBackoff(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name                string
		retry, cap, jitterN time.Duration
		failures            int
		want                time.Duration
	}{
		{"the first failure waits the reconnection time", 100 * ms, time.Second, 0, 1, 100 * ms},
		{"each further failure doubles it", 100 * ms, time.Second, 0, 3, 400 * ms},
		{"the cap bounds the doubling", 100 * ms, time.Second, 0, 10, time.Second},
		{"a reconnection time above the cap is honoured", 5 * time.Second, time.Second, 0, 3, 5 * time.Second},
		{"jitter adds up to half", 100 * ms, time.Second, math.MaxInt64, 1, 150 * ms},
		{"a zero reconnection time reconnects at once the first time", 0, time.Second, math.MaxInt64, 1, 0},
		{"a zero reconnection time backs off from the floor", 0, time.Second, 0, 2, backoffFloor},
		{"the floor doubles too", 0, time.Second, 0, 4, 4 * backoffFloor},
		{"jitter adds up to half of the floor", 0, time.Second, math.MaxInt64, 2, backoffFloor * 3 / 2},
		{"a short reconnection time backs off from the floor", 10 * ms, time.Second, 0, 3, 2 * backoffFloor},
		{"the cap bounds the floor", 0, 30 * ms, 0, 3, 30 * ms},
		{"a zero cap with a zero reconnection time never waits", 0, 0, math.MaxInt64, 50, 0},
		{"no endless doubling of zero", 0, time.Second, 0, 1 << 24, time.Second},
		{"no overflow with a huge cap", time.Hour, math.MaxInt64, 0, 80, math.MaxInt64 - 1},
		{"no overflow with huge jitter", math.MaxInt64, 0, math.MaxInt64, 2, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New("http://unused", WithRetry(tt.retry), WithMaxBackoff(tt.cap))
			c.cfg.jitter = func(limit time.Duration) time.Duration { return min(limit, tt.jitterN) }
			s := c.Connect(context.Background())
			s.failures = tt.failures
			if got := s.backoff(); got != tt.want {
				t.Errorf("backoff() = %v, want %v", got, tt.want)
			}
		})
	}
}

// A reconnection time of zero, from the server's "retry: 0" here, means at
// once after a connection that delivered events, as browsers do, but a
// server that keeps failing is not hammered in a hot loop: from the second
// failure in a row the waits start at the floor and double.
func TestStreamZeroRetryBacksOffOnRepeatedFailures(t *testing.T) {
	srv := newStreamServer(t)
	c, ctx := newTestClient(t, srv.URL, WithHTTPClient(srv.Client()))
	waits := fastWaits(c)
	results := pump(t, c.Connect(ctx))

	conn := srv.accept(t)
	conn.send <- "retry: 0\ndata: a\n\n"
	wantEvent(t, receive(t, results), sse.Event{Type: "message", Data: "a"})
	close(conn.send)
	var got []time.Duration
	got = append(got, wantRetry(t, receive(t, results)).Delay)
	for range 5 {
		close(srv.accept(t).send) // and deliver nothing
		got = append(got, wantRetry(t, receive(t, results)).Delay)
	}

	f := backoffFloor
	want := []time.Duration{0, f, 2 * f, 4 * f, 8 * f, 16 * f}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("delays %v, want %v", got, want)
	}
	for _, d := range want[1:] { // a zero wait starts no timer
		if w := receive(t, waits); w != d {
			t.Errorf("waited %v, want %v", w, d)
		}
	}
}

// WithRetry(0) against a server that is down: the first attempt after a
// failure is immediate, the following ones back off; WithMaxBackoff(0) asks
// for no wait at all and gets it.
func TestStreamZeroRetryAgainstAClosedPort(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	f := backoffFloor
	for _, tt := range []struct {
		name string
		opts []Option
		want []time.Duration
	}{
		{"default cap", []Option{WithRetry(0)}, []time.Duration{0, f, 2 * f, 4 * f}},
		{"zero cap", []Option{WithRetry(0), WithMaxBackoff(0)}, []time.Duration{0, 0, 0, 0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, ctx := newTestClient(t, url, tt.opts...)
			fastWaits(c)
			s := c.Connect(ctx)
			defer s.Close()
			var got []time.Duration
			for range tt.want {
				_, err := s.Next()
				got = append(got, wantRetry(t, result{err: err}).Delay)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("delays %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRandomJitterStaysWithinItsLimit(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 1000 {
		d := randomJitter(3)
		if d < 0 || d > 3 {
			t.Fatalf("randomJitter(3) = %v", d)
		}
		seen[d] = true
	}
	if len(seen) != 4 {
		t.Errorf("randomJitter(3) gave only %v in 1000 draws", seen)
	}
	if d := randomJitter(0); d != 0 {
		t.Errorf("randomJitter(0) = %v", d)
	}
}

func TestStreamStopsOnAnswersThatAreNotAStream(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
	}{
		{"204 No Content", http.StatusNoContent, "text/event-stream"},
		{"500", http.StatusInternalServerError, "text/event-stream"},
		{"503", http.StatusServiceUnavailable, "text/plain"},
		{"404", http.StatusNotFound, "text/plain"},
		{"301 without Location", http.StatusMovedPermanently, ""},
		{"200 with the wrong type", http.StatusOK, "text/html; charset=utf-8"},
		{"200 without a type", http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, requests := statusServer(t, tt.status, tt.contentType, nil)
			c, ctx := newTestClient(t, srv.URL, WithHTTPClient(srv.Client()))
			fastWaits(c)
			s := c.Connect(ctx)
			_, err := s.Next()
			var answer *ResponseError
			if !errors.As(err, &answer) || answer.StatusCode != tt.status {
				t.Fatalf("Next error = %v, want a ResponseError with status %d", err, tt.status)
			}
			if _, again := s.Next(); again != err {
				t.Errorf("second Next error = %v, want the same final error", again)
			}
			if n := len(requests); n != 1 {
				t.Errorf("%d requests, want 1: the stream must not reconnect", n)
			}
		})
	}
}

func TestStreamRetriesServerErrorsWhenAsked(t *testing.T) {
	srv, _ := statusServer(t, http.StatusServiceUnavailable, "", http.Header{"Retry-After": {"7"}})
	c, ctx := newTestClient(t, srv.URL, WithHTTPClient(srv.Client()), WithRetryOnServerErrors(),
		WithRetry(time.Second))
	waits := fastWaits(c)
	s := c.Connect(ctx)
	_, err := s.Next()
	retry := wantRetry(t, result{err: err})
	var answer *ResponseError
	if !errors.As(retry, &answer) || answer.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("RetryError wraps %v, want the 503 answer", retry.Err)
	}
	if retry.Delay != 7*time.Second {
		t.Errorf("delay %v, want the server's Retry-After of 7s", retry.Delay)
	}
	_, err = s.Next()
	wantRetry(t, result{err: err})
	if got := receive(t, waits); got != 7*time.Second {
		t.Errorf("waited %v, want 7s", got)
	}
}

func TestStreamReadTimeoutDropsASilentConnection(t *testing.T) {
	srv := newStreamServer(t)
	c, ctx := newTestClient(t, srv.URL, WithHTTPClient(srv.Client()),
		WithReadTimeout(100*time.Millisecond), WithRetry(0))
	results := pump(t, c.Connect(ctx))

	srv.accept(t) // and say nothing
	if retry := wantRetry(t, receive(t, results)); !errors.Is(retry, ErrReadTimeout) {
		t.Errorf("RetryError wraps %v, want ErrReadTimeout", retry.Err)
	}
	srv.accept(t)
}

func TestStreamFollowsRedirects(t *testing.T) {
	for _, status := range []int{http.StatusMovedPermanently, http.StatusTemporaryRedirect} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := newStreamServer(t)
			redirect := httptest.NewServer(http.RedirectHandler(srv.URL+"/moved", status))
			t.Cleanup(redirect.Close)
			c, ctx := newTestClient(t, redirect.URL, WithHTTPClient(srv.Client()))
			results := pump(t, c.Connect(ctx))
			srv.accept(t).send <- "data: moved\n\n"
			wantEvent(t, receive(t, results), sse.Event{Type: "message", Data: "moved"})
		})
	}
}

func TestStreamResendsMethodBodyAndHeaders(t *testing.T) {
	srv := newStreamServer(t)
	c, ctx := newTestClient(t, srv.URL, WithHTTPClient(srv.Client()),
		WithMethod("REPORT", []byte(`{"topics":["a"]}`)), WithHeader("X-Token", "secret"))
	fastWaits(c)
	results := pump(t, c.Connect(ctx))
	for i := range 2 {
		conn := srv.accept(t)
		if conn.method != "REPORT" || conn.body != `{"topics":["a"]}` || conn.header.Get("X-Token") != "secret" ||
			conn.header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("request %d: %s %q %v", i+1, conn.method, conn.body, conn.header)
		}
		close(conn.send)
		wantRetry(t, receive(t, results))
	}
}

func TestStreamHeaderReplacesADefault(t *testing.T) {
	srv := newStreamServer(t)
	c, ctx := newTestClient(t, srv.URL, WithHTTPClient(srv.Client()),
		WithMethod(http.MethodPost, []byte("{}")), WithHeader("Content-Type", "application/json"))
	pump(t, c.Connect(ctx))
	if got := srv.accept(t).header.Values("Content-Type"); !reflect.DeepEqual(got, []string{"application/json"}) {
		t.Errorf("Content-Type %q, want only application/json", got)
	}
}

func TestStreamRestartReconnectsWithoutError(t *testing.T) {
	srv := newStreamServer(t)
	c, ctx := newTestClient(t, srv.URL, WithHTTPClient(srv.Client()))
	s := c.Connect(ctx)
	results := pump(t, s)

	srv.accept(t).send <- "id: 1\ndata: a\n\n"
	wantEvent(t, receive(t, results), sse.Event{ID: "1", Type: "message", Data: "a"})
	s.Restart()
	second := srv.accept(t)
	if got := second.header.Get("Last-Event-ID"); got != "1" {
		t.Errorf("restart sent Last-Event-ID %q, want 1", got)
	}
	second.send <- "data: b\n\n"
	wantEvent(t, receive(t, results), sse.Event{ID: "1", Type: "message", Data: "b"})
}

func TestStreamRestartEndsAReconnectionWait(t *testing.T) {
	srv := newStreamServer(t)
	c, ctx := newTestClient(t, srv.URL, WithHTTPClient(srv.Client()), WithRetry(time.Hour))
	s := c.Connect(ctx)
	results := pump(t, s)

	close(srv.accept(t).send)
	wantRetry(t, receive(t, results))
	s.Restart()
	srv.accept(t).send <- "data: b\n\n"
	wantEvent(t, receive(t, results), sse.Event{Type: "message", Data: "b"})
}

func TestStreamRetriesNetworkErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	c, ctx := newTestClient(t, url)
	fastWaits(c)
	s := c.Connect(ctx)
	for range 2 {
		_, err := s.Next()
		wantRetry(t, result{err: err})
	}
}

func TestStreamStopsOnAnEventTooLarge(t *testing.T) {
	srv := newStreamServer(t)
	c, ctx := newTestClient(t, srv.URL, WithHTTPClient(srv.Client()), WithMaxEventSize(10))
	results := pump(t, c.Connect(ctx))
	srv.accept(t).send <- "data: 0123456789\n\n"
	if got := receive(t, results); !errors.Is(got.err, sse.ErrEventTooLarge) {
		t.Errorf("Next error = %v, want sse.ErrEventTooLarge", got.err)
	}
}

func TestStreamInvalidURLIsFinal(t *testing.T) {
	c, ctx := newTestClient(t, "http://bad host/")
	_, err := c.Connect(ctx).Next()
	var retry *RetryError
	if err == nil || errors.As(err, &retry) {
		t.Errorf("Next error = %v, want a final error", err)
	}
}

func TestStreamCancellationEndsEverything(t *testing.T) {
	defer goleak.VerifyNone(t)
	srv := newStreamServer(t)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	s := New(srv.URL, WithHTTPClient(srv.Client())).Connect(ctx)
	next := make(chan error, 1)
	go func() {
		_, err := s.Next()
		next <- err
	}()
	srv.accept(t)
	cancel()
	if err := receive(t, next); err != context.Canceled {
		t.Errorf("Next error = %v, want context.Canceled", err)
	}
	if _, err := s.Next(); err != context.Canceled {
		t.Errorf("Next after cancel = %v, want context.Canceled", err)
	}
}

func TestStreamCloseEndsTheStream(t *testing.T) {
	srv := newStreamServer(t)
	c, ctx := newTestClient(t, srv.URL, WithHTTPClient(srv.Client()))
	s := c.Connect(ctx)
	next := make(chan error, 1)
	go func() {
		_, err := s.Next()
		next <- err
	}()
	srv.accept(t)
	s.Close()
	if err := receive(t, next); err != ErrClosed {
		t.Errorf("Next error = %v, want ErrClosed", err)
	}
}

func TestEventsYieldsRetriesAndEndsSilentlyOnCancel(t *testing.T) {
	srv := newStreamServer(t)
	c, ctx := newTestClient(t, srv.URL, WithHTTPClient(srv.Client()))
	fastWaits(c)
	ctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	go func() {
		if first, ok := srv.acceptUntil(ctx); ok {
			first.send <- "data: a\n\n"
			close(first.send)
		}
		if second, ok := srv.acceptUntil(ctx); ok {
			second.send <- "data: b\n\n"
		}
	}()
	var got []string
	for ev, err := range c.Events(ctx) {
		if err != nil {
			got = append(got, "retry")
			continue
		}
		got = append(got, ev.Data)
		if ev.Data == "b" {
			cancel()
		}
	}
	if want := []string{"a", "retry", "b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("loop saw %v, want %v", got, want)
	}
}

func TestEventsYieldsTheFinalError(t *testing.T) {
	srv, _ := statusServer(t, http.StatusNoContent, "", nil)
	c, ctx := newTestClient(t, srv.URL, WithHTTPClient(srv.Client()))
	var errs []error
	for _, err := range c.Events(ctx) {
		errs = append(errs, err)
	}
	if len(errs) != 1 || !strings.Contains(fmt.Sprint(errs[0]), "204") {
		t.Errorf("loop saw %v, want one error for the 204", errs)
	}
}

func TestEventsBreakClosesTheStream(t *testing.T) {
	srv := newStreamServer(t)
	c, ctx := newTestClient(t, srv.URL, WithHTTPClient(srv.Client()))
	ctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	s := c.Connect(ctx)
	go func() {
		if conn, ok := srv.acceptUntil(ctx); ok {
			conn.send <- "data: a\n\n"
		}
	}()
	for range s.Events() {
		break
	}
	if _, err := s.Next(); err != ErrClosed {
		t.Errorf("Next after break = %v, want ErrClosed", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"":                              0,
		"120":                           2 * time.Minute,
		"-5":                            0,
		"99999999999":                   24 * time.Hour,
		"Mon, 23 Nov 2026 09:00:30 GMT": 30 * time.Second,
		"Mon, 23 Nov 2026 08:00:00 GMT": 0,
		"soon":                          0,
	}
	for value, want := range tests {
		if got := parseRetryAfter(value, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", value, got, want)
		}
	}
}

// fixedStream answers every request with a fixed event stream body that
// does not watch the request's context, as a proxy or a test double may.
type fixedStream string

func (f fixedStream) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK,
		Status:     "200 OK",
		Header:     http.Header{"Content-Type": {"text/event-stream"}},
		Body:       io.NopCloser(strings.NewReader(string(f))),
	}, nil
}

// Events that arrived in the same read as the last one delivered must not
// come out after Close or the end of the context: the standard dispatches
// nothing once an EventSource is closed, and the doc promises ErrClosed.
func TestStreamDeliversNoBufferedEventAfterTheEnd(t *testing.T) {
	for _, tt := range []struct {
		name string
		end  func(s *Stream, cancel context.CancelFunc)
		want error
	}{
		{"Close", func(s *Stream, _ context.CancelFunc) { s.Close() }, ErrClosed},
		{"context done", func(_ *Stream, cancel context.CancelFunc) { cancel() }, context.Canceled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			httpClient := &http.Client{Transport: fixedStream("data: a\n\ndata: b\n\ndata: c\n\n")}
			s := New("http://hub.test/events", WithHTTPClient(httpClient)).Connect(ctx)
			defer s.Close()
			if ev, err := s.Next(); err != nil || ev.Data != "a" {
				t.Fatalf("first Next = %+v, %v; want event a", ev, err)
			}
			tt.end(s, cancel)
			if ev, err := s.Next(); err != tt.want {
				t.Fatalf("Next after the end = %+v, %v; want %v", ev, err, tt.want)
			}
		})
	}
}

// lateAnswer is a transport whose answer to the first request comes only
// once the request's context is done: the read timeout fired, or Restart
// was called (by cancel, before it waits), while the answer was on its
// way. With inBody the wait is in the first read of a 200 stream instead.
// A later request would mean the stream reconnected; it is answered 204.
type lateAnswer struct {
	status int
	body   string
	inBody bool
	cancel func() // called before waiting, if set
	reqs   atomic.Int32
}

func (l *lateAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp := &http.Response{
		StatusCode: l.status,
		Status:     fmt.Sprintf("%d %s", l.status, http.StatusText(l.status)),
		Header:     http.Header{"Content-Type": {"text/event-stream"}},
		Body:       io.NopCloser(strings.NewReader(l.body)),
		Request:    req,
	}
	if l.reqs.Add(1) > 1 {
		resp.StatusCode, resp.Status, resp.Body = http.StatusNoContent, "204 No Content", http.NoBody
		return resp, nil
	}
	wait := func() {
		if l.cancel != nil {
			l.cancel()
		}
		<-req.Context().Done()
	}
	if l.inBody {
		resp.Body = io.NopCloser(&waitReader{wait: wait, r: resp.Body})
	} else {
		wait()
	}
	return resp, nil
}

// waitReader calls wait before its first read.
type waitReader struct {
	wait func()
	r    io.Reader
	once sync.Once
}

func (w *waitReader) Read(p []byte) (int, error) {
	w.once.Do(w.wait)
	return w.r.Read(p)
}

// A final answer stays final when the connection's context is cancelled
// between its arrival and the stream's look at it: neither the read timeout
// nor Restart may turn a 204 (the server's "stop reconnecting"), another
// final answer or an event too large into a reconnection.
func TestStreamFinalAnswerSurvivesACancelledConnection(t *testing.T) {
	answers := []struct {
		name   string
		status int
		body   string
		inBody bool
		check  func(error) bool
	}{
		{"204", http.StatusNoContent, "", false, isStatus(http.StatusNoContent)},
		{"404", http.StatusNotFound, "", false, isStatus(http.StatusNotFound)},
		{"event too large", http.StatusOK, "data: 0123456789\n\n", true,
			func(err error) bool { return errors.Is(err, sse.ErrEventTooLarge) }},
	}
	for _, a := range answers {
		for _, cancelledBy := range []string{"read timeout", "Restart"} {
			t.Run(a.name+" after "+cancelledBy, func(t *testing.T) {
				transport := &lateAnswer{status: a.status, body: a.body, inBody: a.inBody}
				opts := []Option{WithHTTPClient(&http.Client{Transport: transport}), WithMaxEventSize(10)}
				if cancelledBy == "read timeout" {
					opts = append(opts, WithReadTimeout(time.Millisecond))
				}
				c, ctx := newTestClient(t, "http://hub.test/events", opts...)
				fastWaits(c)
				s := c.Connect(ctx)
				defer s.Close()
				if cancelledBy == "Restart" {
					transport.cancel = s.Restart
				}
				_, err := s.Next()
				var retry *RetryError
				if errors.As(err, &retry) || !a.check(err) {
					t.Fatalf("Next error = %v, want the final %s", err, a.name)
				}
				if _, again := s.Next(); again != err {
					t.Errorf("second Next error = %v, want the same final error", again)
				}
				if n := transport.reqs.Load(); n != 1 {
					t.Errorf("%d requests, want 1: the stream must not reconnect", n)
				}
			})
		}
	}
}

func isStatus(code int) func(error) bool {
	return func(err error) bool {
		var answer *ResponseError
		return errors.As(err, &answer) && answer.StatusCode == code
	}
}
