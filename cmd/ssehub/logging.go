package main

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// parseLogLevel reads --log-level.
func parseLogLevel(s string) (slog.Level, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(s)); err != nil {
		return level, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return level, nil
}

// checkLogFormat reads --log-format.
func checkLogFormat(s string) error {
	if s != "text" && s != "json" {
		return fmt.Errorf("--log-format %q: want text or json", s)
	}
	return nil
}

// newLogger returns the hub's logger: text or JSON lines on w, each with
// the request id of the request it is about, and bursts of one message
// summarised.
func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	lv, err := parseLogLevel(level)
	if err != nil {
		return nil, err
	}
	if err := checkLogFormat(format); err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	h = newBurstHandler(h, burstOptions{})
	return slog.New(requestIDHandler{h}), nil
}

// burstOptions tune a burstHandler; the zero value is the hub's.
type burstOptions struct {
	First int           // records of one message let through per window (default 5)
	Every time.Duration // the window (default 10s)
	// After runs f after d (default time.AfterFunc); tests run it by hand.
	After func(d time.Duration, f func())
}

// burstHandler summarises bursts: of records at Info or above with the
// same level and message, the first few of a window pass, and the rest are
// counted and reported in one record when the window ends. A network blip
// that disconnects thousands of slow subscribers writes a few lines and a
// count, not thousands of lines that bury everything else.
type burstHandler struct {
	next  slog.Handler
	state *burstState
}

type burstState struct {
	opts   burstOptions
	mu     sync.Mutex
	bursts map[burstKey]*burst
}

type burstKey struct {
	level slog.Level
	msg   string
}

type burst struct {
	passed, held int
	start        time.Time
	via          slog.Handler // the handler of the first record, with its attributes
}

// maxBursts bounds the messages tracked in one window; past it, records pass.
const maxBursts = 1024

func newBurstHandler(next slog.Handler, opts burstOptions) *burstHandler {
	if opts.First <= 0 {
		opts.First = 5
	}
	if opts.Every <= 0 {
		opts.Every = 10 * time.Second
	}
	if opts.After == nil {
		opts.After = func(d time.Duration, f func()) { time.AfterFunc(d, f) }
	}
	return &burstHandler{next: next, state: &burstState{opts: opts, bursts: map[burstKey]*burst{}}}
}

func (h *burstHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *burstHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelInfo {
		return h.next.Handle(ctx, r)
	}
	s := h.state
	k := burstKey{r.Level, r.Message}
	s.mu.Lock()
	b := s.bursts[k]
	switch {
	case b == nil && len(s.bursts) >= maxBursts:
	case b == nil:
		s.bursts[k] = &burst{passed: 1, start: r.Time, via: h.next}
		s.opts.After(s.opts.Every, func() { s.end(k) })
	case b.passed < s.opts.First:
		b.passed++
	default:
		b.held++
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	return h.next.Handle(ctx, r)
}

// end closes the window of a message and reports what it held back.
func (s *burstState) end(k burstKey) {
	s.mu.Lock()
	b := s.bursts[k]
	delete(s.bursts, k)
	s.mu.Unlock()
	if b == nil || b.held == 0 {
		return
	}
	r := slog.NewRecord(time.Now(), k.level,
		k.msg+" … repeated "+strconv.Itoa(b.held)+" more times", 0)
	r.AddAttrs(slog.Int("repeated", b.held), slog.Time("since", b.start))
	b.via.Handle(context.Background(), r)
}

func (h *burstHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &burstHandler{next: h.next.WithAttrs(as), state: h.state}
}

func (h *burstHandler) WithGroup(name string) slog.Handler {
	return &burstHandler{next: h.next.WithGroup(name), state: h.state}
}

// requestIDKey is the context key of a request's id.
type requestIDKey struct{}

// requestIDHandler adds the request id of the context to every record
// logged with one (logger.InfoContext(r.Context(), …)).
type requestIDHandler struct{ next slog.Handler }

func (h requestIDHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if rw, ok := ctx.Value(requestIDKey{}).(*statusWriter); ok {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", rw.id[0]))
	}
	return h.next.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.next.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.next.WithGroup(name)}
}

// maxRequestIDLen bounds an X-Request-Id taken from a client.
const maxRequestIDLen = 128

// validRequestID accepts a client's X-Request-Id: short, and visible ASCII
// only, so that it cannot break a log line or a response header.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// newRequestID returns 16 random hex digits. An id names a request in
// the logs and guards nothing, so the runtime's fast generator will do,
// without a system call per request.
func newRequestID() string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	var text [16]byte
	hex.Encode(text[:], b[:])
	return string(text[:])
}

// withRequestLog gives each request an id (the client's X-Request-Id when
// valid, else a new one), answers it in X-Request-Id, puts it in the
// context for every line logged about the request, and logs the request
// when it ends: at debug level, or warn when the hub failed it (5xx). One
// line per request, none per event delivered on a stream.
func withRequestLog(next http.Handler, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = newRequestID()
		}
		// One allocation holds the status, the header's value and the
		// context's: a publish pays for each (docs/benchmarks.md).
		rw := &statusWriter{ResponseWriter: w, id: [1]string{id}}
		w.Header()["X-Request-Id"] = rw.id[:]
		ctx := context.WithValue(r.Context(), requestIDKey{}, rw)
		start := time.Now()
		next.ServeHTTP(rw, r.WithContext(ctx))
		level := slog.LevelDebug
		if rw.status >= 500 {
			level = slog.LevelWarn
		}
		if !logger.Enabled(ctx, level) {
			return
		}
		status := rw.status
		if status == 0 {
			status = http.StatusOK
		}
		logger.LogAttrs(ctx, level, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", status), slog.Duration("took", time.Since(start)),
			slog.String("remote", r.RemoteAddr))
	})
}

// statusWriter notes the status of a response. Unwrap lets
// http.ResponseController reach the connection beneath (flush, deadlines,
// the hand-over of streams to the event loop).
type statusWriter struct {
	http.ResponseWriter
	status int
	id     [1]string // the request's id, as X-Request-Id's value
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
