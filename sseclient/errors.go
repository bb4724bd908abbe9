package sseclient

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

var (
	// ErrClosed is returned by Next after [Stream.Close].
	ErrClosed = errors.New("sseclient: stream closed")
	// ErrReadTimeout is the cause of a *RetryError when a connection stayed
	// silent for longer than the read timeout.
	ErrReadTimeout = errors.New("sseclient: read timeout")
)

// errRestart is the cause of a connection ended by Stream.Restart.
var errRestart = errors.New("sseclient: restart requested")

// RetryError reports a connection that failed or dropped. The stream
// reconnects after Delay, on the next call to Next.
type RetryError struct {
	Err   error         // why the connection ended
	Delay time.Duration // the wait before the next attempt
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("sseclient: connection lost: %v; reconnecting in %v", e.Err, e.Delay)
}

func (e *RetryError) Unwrap() error { return e.Err }

// ResponseError reports an answer that is not an event stream: a status
// outside 2xx, 204 No Content (the server's way to say "stop"), or a
// Content-Type other than text/event-stream.
type ResponseError struct {
	StatusCode  int
	Status      string // as in http.Response, e.g. "204 No Content"
	ContentType string
	RetryAfter  time.Duration // from a Retry-After header, if any
}

func (e *ResponseError) Error() string {
	switch {
	case e.StatusCode == http.StatusNoContent:
		return "sseclient: server answered " + e.Status + ": the stream is over"
	case e.StatusCode < 200 || e.StatusCode > 299:
		return "sseclient: server answered " + e.Status
	default:
		return fmt.Sprintf("sseclient: server answered with Content-Type %q, not text/event-stream", e.ContentType)
	}
}

// retryable reports whether the answer is one WithRetryOnServerErrors retries.
func (e *ResponseError) retryable() bool {
	return e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests
}

// final marks an error after which the stream does not reconnect.
type final struct{ err error }

func (f final) Error() string { return f.err.Error() }
func (f final) Unwrap() error { return f.err }

// maxRetryAfter bounds a Retry-After in seconds, so that no answer can stop
// a stream for longer than a day.
const maxRetryAfter = 24 * 60 * 60

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(value string, now time.Time) time.Duration {
	if value == "" {
		return 0
	}
	if s, err := strconv.Atoi(value); err == nil {
		return time.Duration(min(max(s, 0), maxRetryAfter)) * time.Second
	}
	if t, err := http.ParseTime(value); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter*time.Second)
	}
	return 0
}
