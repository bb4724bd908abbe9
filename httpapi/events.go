package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/ssehub/ssehub/httpapi/internal/evloop"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/sse"
)

// serveEvents streams events: GET /events?topic=SEL[&topic=SEL…], resuming
// after the Last-Event-ID header or the lastEventID query parameter.
func (a *API) serveEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := hub.SubscribeRequest{Topics: q["topic"], LastEventID: r.Header.Get("Last-Event-ID")}
	if req.LastEventID == "" {
		req.LastEventID = q.Get("lastEventID")
	}
	if !sse.ValidID(req.LastEventID) {
		writeError(w, http.StatusBadRequest, "Last-Event-ID must not contain CR, LF or NUL", "")
		return
	}
	var ok bool
	if req.Allowed, ok = a.subscriberRights(w, r); !ok {
		return
	}
	sub, err := a.hub.Subscribe(r.Context(), req)
	if err != nil {
		a.writeHubError(w, r, err)
		return
	}
	if r.Method == http.MethodHead {
		// What a GET would be answered, without the stream.
		sub.Close()
		setStreamHeaders(w.Header())
		w.WriteHeader(http.StatusOK)
		return
	}
	if a.handOff(w, r, sub) {
		return
	}
	defer sub.Close()
	a.stream(w, r, sub)
}

// handOff serves a plain HTTP/1 stream without a goroutine: it takes the
// connection from net/http, writes the response head itself and gives the
// connection and the subscription to the event loop. It reports false,
// having changed nothing, where that cannot be done (HTTP/2, TLS, a
// ResponseWriter that cannot hijack, no event loop on this platform, or
// Options.GoroutinePerStream); the caller then streams through w.
func (a *API) handOff(w http.ResponseWriter, r *http.Request, sub *hub.Subscription) bool {
	if a.opts.GoroutinePerStream || r.ProtoMajor != 1 || r.TLS != nil {
		return false
	}
	loop := a.eventLoop()
	if loop == nil {
		return false
	}
	nc, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	// The connection is ours now: net/http neither reads nor closes it.
	// Anything the client sent after its request is read and dropped.
	setStreamHeaders(w.Header())
	chunked := r.ProtoMinor > 0
	head := responseHead(r, w.Header(), chunked, a.prelude())
	_ = nc.SetWriteDeadline(time.Now().Add(a.opts.WriteTimeout))
	if _, err := nc.Write(head); err != nil {
		sub.Close()
		nc.Close()
		return true
	}
	_ = nc.SetWriteDeadline(time.Time{})
	if err := loop.Add(nc, sub, chunked); err == nil {
		return true
	}
	// A connection without a file descriptor (a wrapping listener) or a
	// loop shutting down: serve the stream here.
	a.hijacked.Add(1)
	defer a.hijacked.Done()
	a.streamConn(nc, sub, chunked)
	return true
}

// eventLoop returns the API's event loop, started at the first stream and
// shut down when the hub closes, or nil where there is none.
func (a *API) eventLoop() *evloop.Loop {
	a.loopOnce.Do(func() {
		l, err := evloop.New(evloop.Options{
			Heartbeat:    a.hub.Heartbeat,
			WriteTimeout: a.opts.WriteTimeout,
			Final:        a.finalFrame,
			Logger:       a.opts.Logger,
		})
		if err != nil {
			a.opts.Logger.Debug("serving each stream with a goroutine", "reason", err)
			close(a.loopDone)
			return
		}
		a.loop = l
		go func() {
			defer close(a.loopDone)
			select {
			case <-a.hub.Done():
			case <-a.draining:
			}
			// Closing the hub ends every subscription, so the loop's
			// streams get their last frame and end at once; the bound
			// is for a stuck socket.
			ctx, cancel := context.WithTimeout(context.Background(), a.opts.WriteTimeout)
			defer cancel()
			_ = l.Shutdown(ctx)
		}()
	})
	return a.loop
}

// Drain waits, after the hub was closed, until every stream the API took
// over from its http.Server has ended: http.Server.Shutdown does not wait
// for those. When ctx ends first, the remaining streams are closed. Streams
// that open after Drain are served with a goroutine each.
func (a *API) Drain(ctx context.Context) error {
	a.drainOnce.Do(func() { close(a.draining) })
	a.loopOnce.Do(func() { close(a.loopDone) }) // no stream ever came
	var err error
	if a.loop != nil {
		err = a.loop.Shutdown(ctx)
	}
	<-a.loopDone
	done := make(chan struct{})
	go func() {
		a.hijacked.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		a.cancelHijacked()
		<-done
	}
	return err
}

// streamConn streams to a connection taken from net/http, with a goroutine.
func (a *API) streamConn(nc net.Conn, sub *hub.Subscription, chunked bool) {
	defer sub.Close()
	defer nc.Close()
	ctx, cancel := context.WithCancel(a.hijackedCtx)
	defer cancel()
	go func() {
		// The client sends nothing more: a read ends when it hangs up
		// (or when nc is closed above).
		_, _ = io.Copy(io.Discard, nc)
		cancel()
	}()
	write := func(frames [][]byte) error {
		_ = nc.SetWriteDeadline(time.Now().Add(a.opts.WriteTimeout))
		if chunked {
			frames = evloop.AppendChunk(nil, nil, frames)
		}
		bufs := net.Buffers(frames)
		_, err := bufs.WriteTo(nc)
		return err
	}
	if a.pump(ctx, sub, write) && chunked {
		_ = nc.SetWriteDeadline(time.Now().Add(a.opts.WriteTimeout))
		_, _ = io.WriteString(nc, evloop.LastChunk)
	}
}

// stream writes the subscription to the response until either ends.
func (a *API) stream(w http.ResponseWriter, r *http.Request, sub *hub.Subscription) {
	rc := startStream(w, r)
	write := func(frames [][]byte) error { return a.write(rc, w, frames) }
	// The first bytes go out at once, so the client's onopen fires now.
	if write([][]byte{a.prelude()}) != nil {
		return
	}
	a.pump(r.Context(), sub, write)
}

// pump writes what the subscription has until it or a write fails. It
// reports true when the subscription ended and its last frame was written.
func (a *API) pump(ctx context.Context, sub *hub.Subscription, write func([][]byte) error) bool {
	var frames [][]byte
	for {
		var err error
		frames, err = sub.Next(ctx, frames)
		if len(frames) > 0 && write(frames) != nil {
			return false
		}
		if err != nil {
			if final := a.finalFrame(err); final != nil {
				return write([][]byte{final}) == nil
			}
			return true
		}
	}
}

// prelude is the first bytes of every stream: a comment, so the client's
// onopen fires at once, and the default retry if there is one.
func (a *API) prelude() []byte {
	p := []byte(":\n")
	if a.opts.Retry > 0 {
		p = sse.AppendRetry(p, a.opts.Retry)
	}
	return p
}

// setStreamHeaders sets the headers of an event stream: proxies must
// neither cache nor buffer it.
func setStreamHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
}

// startStream sends the headers of an event stream through w and returns
// the controller for flushing it.
func startStream(w http.ResponseWriter, r *http.Request) *http.ResponseController {
	setStreamHeaders(w.Header())
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "keep-alive")
	}
	w.WriteHeader(http.StatusOK)
	return http.NewResponseController(w)
}

// responseHead is the status line and headers of a stream written on a
// hijacked connection, followed by the stream's first bytes. Over HTTP/1.1
// the body is chunked and the connection kept alive, as net/http would
// answer; HTTP/1.0 has no chunks, so there the body ends when the
// connection closes, which "Connection: close" says.
func responseHead(r *http.Request, h http.Header, chunked bool, prelude []byte) []byte {
	var b bytes.Buffer
	if chunked {
		b.WriteString("HTTP/1.1 200 OK\r\n")
		h.Set("Connection", "keep-alive")
		if r.Close { // the client asked to close after this response
			h.Set("Connection", "close")
		}
		h.Set("Transfer-Encoding", "chunked")
	} else {
		b.WriteString("HTTP/1.0 200 OK\r\n")
		h.Set("Connection", "close")
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

// write sends frames with one flush, within the write timeout.
func (a *API) write(rc *http.ResponseController, w http.ResponseWriter, frames [][]byte) error {
	_ = rc.SetWriteDeadline(time.Now().Add(a.opts.WriteTimeout))
	for _, f := range frames {
		if _, err := w.Write(f); err != nil {
			return err
		}
	}
	return rc.Flush()
}

// finalFrame is what a stream ending with err is told last, if anything.
func (a *API) finalFrame(err error) []byte {
	if errors.Is(err, hub.ErrHubClosed) {
		// Spread the reconnections of a restart over ShutdownJitter.
		d := a.opts.ShutdownRetry + rand.N(a.opts.ShutdownJitter)
		return append(sse.AppendRetry(nil, d), '\n')
	}
	if errors.Is(err, hub.ErrSlowSubscriber) || errors.Is(err, hub.ErrLagged) {
		// The hub has logged why already, once per cause.
		a.opts.Logger.Debug("stream ended by the hub; the client resumes from its last event id", "err", err)
	}
	return nil
}
