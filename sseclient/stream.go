package sseclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// Stream is one EventSource-like stream: a sequence of connections to the
// same URL that continues where the last one stopped. Next, Events and
// LastEventID must be called from one goroutine at a time; Restart and Close
// may be called from any goroutine.
type Stream struct {
	client *Client
	ctx    context.Context
	cancel context.CancelCauseFunc
	parser *sse.Parser
	wake   chan struct{} // cuts a reconnection wait short on Restart

	// Owned by the goroutine calling Next.
	body     io.ReadCloser
	connCtx  context.Context
	timer    *time.Timer // the read timeout of the connection
	delay    time.Duration
	failures int // consecutive connections that delivered no event
	err      error

	mu         sync.Mutex
	restart    bool
	cancelConn context.CancelCauseFunc
}

func newStream(ctx context.Context, c *Client) *Stream {
	s := &Stream{client: c, wake: make(chan struct{}, 1)}
	s.ctx, s.cancel = context.WithCancelCause(ctx)
	s.parser = sse.NewParser(nil)
	s.parser.MaxEventSize = c.cfg.maxEventSize
	s.parser.OnComment = c.cfg.onComment
	s.parser.SetLastEventID(c.cfg.lastEventID)
	return s
}

// Next returns the next event, connecting first if needed.
//
// When a connection fails or drops, Next returns a [*RetryError] and the
// following call waits and reconnects. Any other error is final and every
// later call returns it again: a [*ResponseError], sse.ErrEventTooLarge,
// an invalid request, ErrClosed after Close, or the cause of the context
// given to Connect once it is done.
func (s *Stream) Next() (sse.Event, error) {
	for s.err == nil {
		if err := s.ctx.Err(); err != nil {
			// The parser may still hold events of the last read; none is
			// delivered once the stream is closed or its context is done.
			s.fail(err)
			break
		}
		if s.body == nil {
			if err := s.connect(); err != nil {
				if err := s.fail(err); err != nil {
					return sse.Event{}, err
				}
				continue
			}
		}
		ev, err := s.parser.Next()
		if err == nil {
			s.failures = 0
			return ev, nil
		}
		if errors.Is(err, sse.ErrEventTooLarge) {
			err = final{err}
		}
		if err := s.fail(err); err != nil {
			return sse.Event{}, err
		}
	}
	return sse.Event{}, s.err
}

// Events returns an iterator over the stream's events for a range loop. It
// yields each *RetryError with a zero event and goes on; it yields a final
// error and stops, except when the stream ends because its context is done
// or Close was called: then it just stops. Breaking out of the loop closes
// the stream.
func (s *Stream) Events() iter.Seq2[sse.Event, error] {
	return func(yield func(sse.Event, error) bool) {
		defer s.Close()
		for {
			ev, err := s.Next()
			if s.err != nil {
				if s.ctx.Err() == nil {
					yield(ev, err)
				}
				return
			}
			if !yield(ev, err) {
				return
			}
		}
	}
}

// LastEventID returns the id that the next connection sends as
// Last-Event-ID.
func (s *Stream) LastEventID() string { return s.parser.LastEventID() }

// Restart drops the current connection and reconnects at once, as if the
// server had closed it, without reporting an error. During a reconnection
// wait, it ends the wait. It does not revive a stream that has ended: a
// final answer (such as 204 No Content) that arrived before the connection
// was dropped still ends the stream.
func (s *Stream) Restart() {
	s.mu.Lock()
	s.restart = true
	cancel := s.cancelConn
	s.mu.Unlock()
	if cancel != nil {
		cancel(errRestart)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Close ends the stream and its connection. Next then returns ErrClosed.
func (s *Stream) Close() {
	s.cancel(ErrClosed)
}

// takeRestart reports whether a restart was requested, and clears the
// request.
func (s *Stream) takeRestart() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	requested := s.restart
	s.restart = false
	return requested
}

// connect waits the reconnection delay, then makes the request and checks
// the answer. On success the parser reads the new response.
func (s *Stream) connect() error {
	if err := s.wait(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(s.ctx)
	s.mu.Lock()
	s.restart = false // this connection is the restart
	s.cancelConn = cancel
	s.mu.Unlock()
	s.connCtx = ctx
	req, err := s.newRequest(ctx)
	if err != nil {
		return final{fmt.Errorf("sseclient: %w", err)}
	}
	if d := s.client.cfg.readTimeout; d > 0 {
		s.timer = time.AfterFunc(d, func() { cancel(ErrReadTimeout) })
	}
	resp, err := s.client.cfg.httpClient.Do(req)
	if err != nil {
		return err
	}
	s.body = resp.Body
	if err := s.check(resp); err != nil {
		return err
	}
	var r io.Reader = resp.Body
	if s.timer != nil {
		r = &timeoutReader{r: resp.Body, timer: s.timer, timeout: s.client.cfg.readTimeout}
	}
	s.parser.Reset(r)
	return nil
}

// wait sleeps the reconnection delay, unless Restart or the end of the
// stream cuts it short.
func (s *Stream) wait() error {
	if s.delay <= 0 {
		return s.ctx.Err()
	}
	c, stop := s.client.cfg.newTimer(s.delay)
	defer stop()
	for {
		select {
		case <-c:
			return nil
		case <-s.ctx.Done():
			return s.ctx.Err()
		case <-s.wake:
			if s.takeRestart() {
				return nil
			}
		}
	}
}

func (s *Stream) newRequest(ctx context.Context) (*http.Request, error) {
	cfg := &s.client.cfg
	var body io.Reader
	if cfg.body != nil {
		body = bytes.NewReader(cfg.body) // also lets redirects re-send it
	}
	req, err := http.NewRequestWithContext(ctx, cfg.method, s.client.url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if body != nil {
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	}
	for name, values := range cfg.header {
		req.Header[name] = values
	}
	if id := s.parser.LastEventID(); id != "" && validHeaderValue(id) {
		req.Header.Set("Last-Event-ID", id)
	}
	return req, nil
}

// validHeaderValue reports whether v can be sent in a header: an id with
// control characters cannot, and is then not sent rather than making every
// reconnection fail.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7F {
			return false
		}
	}
	return true
}

// check accepts a 2xx answer other than 204 with the event stream type.
func (s *Stream) check(resp *http.Response) error {
	contentType := resp.Header.Get("Content-Type")
	mediaType, _, _ := mime.ParseMediaType(contentType)
	code := resp.StatusCode
	if code >= 200 && code <= 299 && code != http.StatusNoContent && mediaType == "text/event-stream" {
		return nil
	}
	err := &ResponseError{
		StatusCode:  code,
		Status:      resp.Status,
		ContentType: contentType,
		RetryAfter:  parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
	if s.client.cfg.retryServerErrors && err.retryable() {
		return err
	}
	return final{err}
}

// fail ends the current connection after err. It returns nil to reconnect
// at once after a restart, a *RetryError to reconnect after a delay, or the
// final error, which it keeps.
//
// A final error is what the connection delivered (a 204 or another answer
// that stops the stream, an event too large), so it stands even when the
// connection's context was cancelled in the meantime: the read timeout
// firing after the answer arrived did not make it any less of an answer,
// and neither does a Restart racing it. Restart drops a connection "as if
// the server had closed it", and a server that said stop is not reconnected
// to after a close either; a restart that comes first, while the request or
// read is still waiting, cancels it and reconnects as usual. Only the end of
// the stream itself (Close, the context) outranks a final error.
func (s *Stream) fail(err error) error {
	var stop final
	isFinal := errors.As(err, &stop)
	if !isFinal && s.connCtx != nil && s.connCtx.Err() != nil {
		err = context.Cause(s.connCtx) // the read timeout or restart behind a cancelled read
	}
	s.endConnection()
	switch {
	case s.ctx.Err() != nil:
		s.err = context.Cause(s.ctx)
	case isFinal:
		s.err = stop.err
	case s.takeRestart() || errors.Is(err, errRestart):
		s.delay = 0
		return nil
	default:
		s.failures++
		s.delay = s.backoff()
		var answer *ResponseError
		if errors.As(err, &answer) {
			s.delay = max(s.delay, answer.RetryAfter)
		}
		return &RetryError{Err: err, Delay: s.delay}
	}
	return s.err
}

// endConnection releases the connection, if any.
func (s *Stream) endConnection() {
	s.mu.Lock()
	cancel := s.cancelConn
	s.cancelConn = nil
	s.mu.Unlock()
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if s.body != nil {
		s.body.Close()
		s.body = nil
	}
	if cancel != nil {
		cancel(nil)
	}
	s.connCtx = nil
}

// backoffFloor is the least wait from the second failure in a row on,
// whatever the reconnection time (within the cap). A reconnection time of
// zero, or of a few milliseconds, is fine once, after a connection that
// worked, but doubling zero stays zero: against a server that is down the
// client would reconnect in a hot loop, thousands of attempts a second.
// 100 ms is short enough that a second attempt still feels immediate, yet
// allows no more than 10 attempts a second, and the doubling reaches the
// default cap after about ten failures.
const backoffFloor = 100 * time.Millisecond

// backoff returns the wait before the next attempt. After the first failure
// in a row (a connection that delivered no event) it is the reconnection
// time, zero included. Each further failure doubles it, starting from at
// least backoffFloor at the second, up to the cap (or up to the reconnection
// time, when that is above the cap), plus jitter of up to half of it. The cap
// bounds the floor too, so a zero cap with a zero reconnection time never
// waits.
func (s *Stream) backoff() time.Duration {
	cfg := &s.client.cfg
	base := cfg.retry
	if d, ok := s.parser.Retry(); ok {
		base = d
	}
	ceiling := max(cfg.maxBackoff, base)
	d := base
	if s.failures > 1 {
		d = max(d, backoffFloor/2) // doubled below: the second wait is at least the floor
	}
	for i := 1; i < s.failures && d < ceiling; i++ {
		d = min(d, ceiling/2) * 2
	}
	d = min(d, ceiling)
	jitter := cfg.jitter(d / 2)
	if d > math.MaxInt64-jitter {
		return math.MaxInt64
	}
	return d + jitter
}

// timeoutReader restarts the read timeout whenever bytes arrive.
type timeoutReader struct {
	r       io.Reader
	timer   *time.Timer
	timeout time.Duration
}

func (t *timeoutReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.timer.Reset(t.timeout)
	}
	return n, err
}
