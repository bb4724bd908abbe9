// Package stream turns a subscription into a served event stream, the one
// way every front door (the native API, the Mercure protocol) answers a
// subscriber. A plain HTTP/1 stream is taken over from net/http and handed
// to an event loop, which holds an idle stream with no goroutine and no
// buffer; HTTP/2, TLS, a ResponseWriter that cannot hijack and platforms
// without a poller are served with a goroutine through net/http. Either way
// the client sees the same head, the same bytes and the same last frame.
package stream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssehub/ssehub/httpapi/internal/evloop"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/sse"
)

// A Source is what one stream sends: a hub subscription, or one wrapped by
// a front door that wants to know when the stream ends (its Close).
type Source interface {
	evloop.Source
	// Next waits for frames, for streams served with a goroutine.
	Next(ctx context.Context, buf [][]byte) ([][]byte, error)
}

var _ Source = (*hub.Subscription)(nil)

// Options configure a Server. Zero values select the defaults.
type Options struct {
	// Heartbeat returns a channel closed at the next heartbeat (the hub's
	// Heartbeat), for the event loop's idle streams. Nil: none.
	Heartbeat func() <-chan struct{}
	// Done is closed when the hub starts closing; the event loop then
	// shuts down once its streams have had their last frame.
	Done <-chan struct{}
	// Retry, when positive, is sent to every stream when it opens.
	Retry time.Duration
	// ShutdownRetry and ShutdownJitter: a stream ended by the hub's
	// shutdown is told to reconnect after ShutdownRetry plus a random part
	// of ShutdownJitter (defaults 1s and 4s).
	ShutdownRetry  time.Duration
	ShutdownJitter time.Duration
	// WriteTimeout closes a stream whose client has not taken what waits
	// for it within this long (default 10s).
	WriteTimeout time.Duration
	// MaxUnsent bounds the bytes the event loop keeps for a stream whose
	// socket does not take them; over it the stream is closed as too slow
	// (default 4 MiB).
	MaxUnsent int
	// GoroutinePerStream serves every stream through net/http with a
	// goroutine of its own.
	GoroutinePerStream bool
	// Logger receives the streams' errors (default: discarded).
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.ShutdownRetry <= 0 {
		o.ShutdownRetry = time.Second
	}
	if o.ShutdownJitter <= 0 {
		o.ShutdownJitter = 4 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server serves streams until Drain.
type Server struct {
	opts Options

	loopOnce  sync.Once
	loop      *evloop.Loop                // nil until the first stream, or on other platforms
	looped    atomic.Pointer[evloop.Loop] // loop, for readers outside loopOnce
	loopDone  chan struct{}               // closed when the loop has shut down
	draining  chan struct{}               // closed by Drain
	drainOnce sync.Once
	hijacked  streamCount // streams taken from net/http served with a goroutine
	// hijackedCtx ends those streams when Drain gives up waiting.
	hijackedCtx    context.Context
	cancelHijacked context.CancelFunc
}

// New returns a Server; its event loop starts with the first stream.
func New(opts Options) *Server {
	opts.setDefaults()
	s := &Server{opts: opts, loopDone: make(chan struct{}), draining: make(chan struct{})}
	s.hijackedCtx, s.cancelHijacked = context.WithCancel(context.Background())
	return s
}

// Serve answers r with the stream of src and owns src from then on: it is
// closed when the stream ends. The headers already set on w (CORS, a
// door's own) are sent with the stream's. Serve may return while the
// stream goes on, served by the event loop.
func (s *Server) Serve(w http.ResponseWriter, r *http.Request, src Source) {
	if s.handOff(w, r, src) {
		return
	}
	defer src.Close()
	rc := Start(w, r)
	write := func(frames [][]byte) error { return s.Write(rc, w, frames) }
	// The first bytes go out at once, so the client's onopen fires now.
	if write([][]byte{s.prelude()}) != nil {
		return
	}
	s.pump(r.Context(), src, write)
}

// handOff serves a plain HTTP/1 stream without a goroutine: it takes the
// connection from net/http, writes the response head itself and gives the
// connection and the source to the event loop. It reports false, having
// changed nothing, where that cannot be done (HTTP/2, TLS, a ResponseWriter
// that cannot hijack, no event loop on this platform, or
// GoroutinePerStream); the caller then streams through w.
func (s *Server) handOff(w http.ResponseWriter, r *http.Request, src Source) bool {
	if s.opts.GoroutinePerStream || r.ProtoMajor != 1 || r.TLS != nil {
		return false
	}
	loop := s.eventLoop()
	if loop == nil {
		return false
	}
	nc, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	// The connection is ours now: net/http neither reads nor closes it.
	// Anything the client sent after its request is read and dropped.
	SetHeaders(w.Header())
	chunked := r.ProtoMinor > 0
	head := responseHead(w.Header(), chunked, s.prelude())
	_ = nc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
	if _, err := nc.Write(head); err != nil {
		src.Close()
		nc.Close()
		return true
	}
	_ = nc.SetWriteDeadline(time.Time{})
	if err := loop.Add(nc, src, chunked); err == nil {
		return true
	}
	// A connection without a file descriptor (a wrapping listener) or a
	// loop shutting down: serve the stream here.
	s.hijacked.add()
	defer s.hijacked.done()
	s.streamConn(nc, src, chunked)
	return true
}

// eventLoop returns the server's event loop, started at the first stream
// and shut down when the hub closes, or nil where there is none.
func (s *Server) eventLoop() *evloop.Loop {
	s.loopOnce.Do(func() {
		l, err := evloop.New(evloop.Options{
			Heartbeat:    s.opts.Heartbeat,
			WriteTimeout: s.opts.WriteTimeout,
			MaxUnsent:    s.opts.MaxUnsent,
			Final:        s.finalFrame,
			Logger:       s.opts.Logger,
		})
		if err != nil {
			s.opts.Logger.Debug("serving each stream with a goroutine", "reason", err)
			close(s.loopDone)
			return
		}
		s.loop = l
		s.looped.Store(l)
		go func() {
			defer close(s.loopDone)
			select {
			case <-s.opts.Done:
			case <-s.draining:
			}
			// Closing the hub ends every subscription, so the loop's
			// streams get their last frame and end at once; the bound
			// is for a stuck socket.
			ctx, cancel := context.WithTimeout(context.Background(), s.opts.WriteTimeout)
			defer cancel()
			_ = l.Shutdown(ctx)
		}()
	})
	return s.loop
}

// Looped reports how many streams the event loop holds now.
func (s *Server) Looped() int {
	if l := s.looped.Load(); l != nil {
		return l.Len()
	}
	return 0
}

// Drain waits, after the hub was closed, until every stream the server
// took over from its http.Server has ended: http.Server.Shutdown does not
// wait for those. When ctx ends first, the remaining streams are closed.
// Streams that open after Drain are served with a goroutine each.
func (s *Server) Drain(ctx context.Context) error {
	s.drainOnce.Do(func() { close(s.draining) })
	s.loopOnce.Do(func() { close(s.loopDone) }) // no stream ever came
	var err error
	if s.loop != nil {
		err = s.loop.Shutdown(ctx)
	}
	<-s.loopDone
	select {
	case <-s.hijacked.zero():
	case <-ctx.Done():
		err = ctx.Err()
		s.cancelHijacked()
		<-s.hijacked.zero()
	}
	return err
}

// streamCount counts the streams served with a goroutine after a hijack.
// Unlike a sync.WaitGroup it may gain a stream while Drain waits for it to
// reach zero: a request that was being answered when Drain began can still
// fall back to a goroutine.
type streamCount struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to zero; nil while it is zero
}

func (c *streamCount) add() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 {
		c.idle = make(chan struct{})
	}
	c.n++
}

func (c *streamCount) done() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n--; c.n == 0 {
		close(c.idle)
		c.idle = nil
	}
}

// zero returns a channel that is closed once no stream is counted.
func (c *streamCount) zero() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idle == nil {
		closed := make(chan struct{})
		close(closed)
		return closed
	}
	return c.idle
}

// streamConn streams to a connection taken from net/http, with a goroutine.
func (s *Server) streamConn(nc net.Conn, src Source, chunked bool) {
	defer src.Close()
	defer nc.Close()
	ctx, cancel := context.WithCancel(s.hijackedCtx)
	defer cancel()
	go func() {
		// The client sends nothing more: a read ends when it hangs up
		// (or when nc is closed above).
		_, _ = io.Copy(io.Discard, nc)
		cancel()
	}()
	write := func(frames [][]byte) error {
		_ = nc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
		if chunked {
			frames = evloop.AppendChunk(nil, nil, frames)
		}
		bufs := net.Buffers(frames)
		_, err := bufs.WriteTo(nc)
		return err
	}
	if s.pump(ctx, src, write) && chunked {
		_ = nc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
		_, _ = io.WriteString(nc, evloop.LastChunk)
	}
}

// pump writes what the source has until it or a write fails. It reports
// true when the source ended and its last frame was written.
func (s *Server) pump(ctx context.Context, src Source, write func([][]byte) error) bool {
	var frames [][]byte
	for {
		var err error
		frames, err = src.Next(ctx, frames)
		if len(frames) > 0 && write(frames) != nil {
			return false
		}
		if cap(frames) > 1024 && len(frames) <= 1 {
			frames = nil // grown by a burst: an idle stream lets go of it
		}
		if err != nil {
			if final := s.finalFrame(err); final != nil {
				return write([][]byte{final}) == nil
			}
			return true
		}
	}
}

// prelude is the first bytes of every stream: a comment, so the client's
// onopen fires at once, and the default retry if there is one.
func (s *Server) prelude() []byte {
	p := []byte(":\n")
	if s.opts.Retry > 0 {
		p = sse.AppendRetry(p, s.opts.Retry)
	}
	return p
}

// SetHeaders sets the headers of an event stream: proxies must neither
// cache nor buffer it.
func SetHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
}

// Start sends the headers of an event stream through w and returns the
// controller for flushing it, for streams a handler writes itself.
func Start(w http.ResponseWriter, r *http.Request) *http.ResponseController {
	SetHeaders(w.Header())
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "keep-alive")
	}
	w.WriteHeader(http.StatusOK)
	return http.NewResponseController(w)
}

// responseHead is the status line and headers of a stream written on a
// hijacked connection, followed by the stream's first bytes. Over HTTP/1.1
// the body is chunked; HTTP/1.0 has no chunks, so there the body ends when
// the connection closes. Either way the answer says "Connection: close":
// a hijacked connection serves this one stream and is closed when it
// ends, so a client that sent its next request on it, as HTTP/1.1 allows
// after a kept-alive answer, would never get an answer.
func responseHead(h http.Header, chunked bool, prelude []byte) []byte {
	var b bytes.Buffer
	h.Set("Connection", "close")
	if chunked {
		b.WriteString("HTTP/1.1 200 OK\r\n")
		h.Set("Transfer-Encoding", "chunked")
	} else {
		b.WriteString("HTTP/1.0 200 OK\r\n")
	}
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	_ = h.Write(&b)
	b.WriteString("\r\n")
	if chunked {
		for _, p := range evloop.AppendChunk(nil, nil, [][]byte{prelude}) {
			b.Write(p)
		}
	} else {
		b.Write(prelude)
	}
	return b.Bytes()
}

// Write sends frames through w with one flush, within the write timeout.
func (s *Server) Write(rc *http.ResponseController, w http.ResponseWriter, frames [][]byte) error {
	_ = rc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
	for _, f := range frames {
		if _, err := w.Write(f); err != nil {
			return err
		}
	}
	return rc.Flush()
}

// finalFrame is what a stream ending with err is told last, if anything.
func (s *Server) finalFrame(err error) []byte {
	if errors.Is(err, hub.ErrHubClosed) {
		// Spread the reconnections of a restart over ShutdownJitter.
		d := s.opts.ShutdownRetry + rand.N(s.opts.ShutdownJitter)
		return append(sse.AppendRetry(nil, d), '\n')
	}
	if errors.Is(err, hub.ErrSlowSubscriber) || errors.Is(err, hub.ErrLagged) {
		// The hub has logged why already, once per cause.
		s.opts.Logger.Debug("stream ended by the hub; the client resumes from its last event id", "err", err)
	}
	return nil
}

// LoopFigures reads the event loop's figures (zero before its first
// stream, and where there is no loop).
func (s *Server) LoopFigures() evloop.Figures {
	if l := s.looped.Load(); l != nil {
		return l.Figures()
	}
	return evloop.Figures{}
}
