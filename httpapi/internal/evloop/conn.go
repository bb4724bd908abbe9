package evloop

import (
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// The states of a stream's scheduling: a stream is in the ready queue at
// most once, and served by one worker at a time.
const (
	idle    int32 = iota // waiting for news
	queued               // in the ready queue
	running              // a worker is serving it
	again                // news came while a worker served it: serve again
)

// conn is one stream: everything an idle stream costs the loop.
type conn struct {
	l   *Loop
	nc  net.Conn // kept so the runtime does not close fd
	fd  int
	gen uint32
	src Source
	// chunked: the body is in HTTP/1.1 chunked transfer coding.
	chunked bool

	st           atomic.Int32
	readable     atomic.Bool  // the client sent something or hung up
	beat         atomic.Bool  // a heartbeat is due
	kill         atomic.Bool  // close it now (write timeout, shutdown)
	timedOut     atomic.Bool  // the kill is for the write timeout
	overBudget   bool         // closed for leaving more than MaxUnsent unsent (worker-owned)
	blockedSince atomic.Int64 // unix nanos since pending waits for the socket; 0: not blocked
	catchingUp   atomic.Bool  // the source is sending a backlog: served after live streams
	cu           CatchingUp   // src, if it says so; nil otherwise
	inBacklog    bool         // queued in the backlog line (guarded by the ready queue's lock)

	// Owned by the worker serving the stream.
	pending []byte // bytes the socket did not take yet
	done    bool
}

// fdOf finds the connection's file descriptor.
func (c *conn) fdOf() error {
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return ErrUnsupported
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return ErrUnsupported
	}
	c.fd = -1
	if err := raw.Control(func(fd uintptr) { c.fd = int(fd) }); err != nil || c.fd < 0 {
		return ErrUnsupported
	}
	return nil
}

// schedule queues the stream for a worker unless it is queued already; a
// stream being served is served again after.
func (c *conn) schedule() {
	for {
		switch c.st.Load() {
		case idle:
			if c.st.CompareAndSwap(idle, queued) {
				c.l.queue.push(c)
				return
			}
		case running:
			if c.st.CompareAndSwap(running, again) {
				return
			}
		default: // queued, again
			return
		}
	}
}

// close marks the stream to close and has a worker close it soon, ahead
// of the streams catching up.
func (c *conn) close() {
	c.kill.Store(true)
	c.schedule()
	c.l.queue.expedite(c)
}

// A worker serves streams; its buffers are shared by all of them.
type worker struct {
	l       *Loop
	frames  [][]byte
	framed  [][]byte // frames with their chunk's size line and end
	size    [20]byte // the chunk size line
	iov     iovecs   // the vector of writev
	scratch [512]byte
}

// maxRounds bounds how many batches one stream gets before the others have
// their turn (a long replay comes back to the end of the queue).
const maxRounds = 8

// maxIovecs is how many frames go into one writev (Linux's IOV_MAX).
const maxIovecs = 1024

var (
	heartbeat = [][]byte{[]byte(HeartbeatFrame)}
	crlf      = []byte("\r\n")
	lastChunk = [][]byte{[]byte(LastChunk)}
)

// LastChunk ends a chunked HTTP/1.1 body.
const LastChunk = "0\r\n\r\n"

// AppendChunk appends to dst frames framed as one chunk of a chunked
// HTTP/1.1 body: its size line (written into sizeBuf's memory where it
// fits), the frames, and the line end that closes it.
func AppendChunk(dst [][]byte, sizeBuf []byte, frames [][]byte) [][]byte {
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	size := append(strconv.AppendUint(sizeBuf[:0], uint64(n), 16), '\r', '\n')
	return append(append(append(dst, size), frames...), crlf)
}

// serve does what a scheduled stream needs: notice a hung-up client, send
// what the socket could not take before, then what the source has.
func (w *worker) serve(c *conn) {
	if c.done {
		return
	}
	if c.kill.Load() {
		w.end(c)
		return
	}
	// Taken now, so a heartbeat that comes while this serve writes is
	// served by the next serve (the stream is scheduled again), not
	// swallowed by what this one sent before it came.
	beat := c.beat.Swap(false)
	if c.readable.Swap(false) && !w.drainInput(c) {
		w.end(c)
		return
	}
	if len(c.pending) > 0 {
		if !w.flush(c) {
			w.end(c)
			return
		}
		if len(c.pending) > 0 {
			return // the socket is still full; epoll says when it drains
		}
	}
	sent := false
	for round := 0; ; round++ {
		frames, err := c.src.Poll(w.l.ctx, w.frames[:0])
		w.frames = frames
		if c.cu != nil && c.cu.CatchingUp() != c.catchingUp.Load() {
			c.catchingUp.Store(!c.catchingUp.Load())
		}
		if len(frames) > 0 {
			sent = true
			ok := w.write(c, frames)
			clear(frames) // the frames are shared: do not keep them alive
			if !ok {
				w.end(c)
				return
			}
		}
		if err != nil {
			w.finish(c, w.l.opts.Final(err))
			w.end(c)
			return
		}
		if len(c.pending) > 0 || len(frames) == 0 {
			break
		}
		if round == maxRounds {
			c.schedule() // more may be ready: after the others
			break
		}
	}
	if beat && cap(w.frames) > maxIovecs {
		w.frames, w.framed = nil, nil // grown by a burst: let go when idle
	}
	if beat && !sent && len(c.pending) == 0 {
		if !w.write(c, heartbeat) {
			w.end(c)
		}
	}
}

// finish sends the last bytes of a stream that its source ended, and the
// end of a chunked body, if the socket takes them now.
func (w *worker) finish(c *conn, final []byte) {
	if len(c.pending) > 0 {
		return // the client is not reading: it will not miss these
	}
	if len(final) > 0 && !w.write(c, [][]byte{final}) {
		return
	}
	if c.chunked && len(c.pending) == 0 {
		w.writeRaw(c, lastChunk)
	}
}

// write sends frames (as one chunk of a chunked body), keeping in
// c.pending what the socket does not take. It reports false when the
// connection failed.
func (w *worker) write(c *conn, frames [][]byte) bool {
	if !c.chunked {
		return w.writeRaw(c, frames)
	}
	w.framed = AppendChunk(w.framed[:0], w.size[:], frames)
	ok := w.writeRaw(c, w.framed)
	clear(w.framed)
	return ok
}

// writeRaw sends bufs as they are, keeping in c.pending what the socket
// does not take.
func (w *worker) writeRaw(c *conn, frames [][]byte) bool {
	for len(frames) > 0 {
		batch := frames[:min(len(frames), maxIovecs)]
		n, err := w.iov.writev(c.fd, batch)
		if err != nil && !errors.Is(err, syscall.EAGAIN) {
			return false
		}
		total := 0
		for _, f := range batch {
			total += len(f)
		}
		if n < total {
			// Keep the rest, in order, and wait for the socket to drain.
			for _, f := range frames {
				if n >= len(f) {
					n -= len(f)
					continue
				}
				c.pending = append(c.pending, f[n:]...)
				n = 0
			}
			if len(c.pending) > w.l.opts.MaxUnsent {
				c.overBudget = true
				return false
			}
			c.blockedSince.Store(time.Now().UnixNano())
			return w.flush(c)
		}
		frames = frames[len(batch):]
	}
	return true
}

// flush sends c.pending until it is empty or the socket is full (and will
// say when it drains). It reports false when the connection failed.
func (w *worker) flush(c *conn) bool {
	for len(c.pending) > 0 {
		n, err := w.iov.writev(c.fd, [][]byte{c.pending})
		if errors.Is(err, syscall.EAGAIN) {
			return true
		}
		if err != nil {
			return false
		}
		c.pending = c.pending[n:]
	}
	c.pending = nil
	c.blockedSince.Store(0)
	return true
}

// drainInput reads and drops what the client sent (an event stream's
// client sends nothing after its request) and reports false when it hung
// up.
func (w *worker) drainInput(c *conn) bool {
	for range 16 {
		n, err := read(c.fd, w.scratch[:])
		switch {
		case errors.Is(err, syscall.EAGAIN):
			return true
		case err != nil, n == 0:
			return false
		}
	}
	// A client that keeps talking is served after the others.
	c.readable.Store(true)
	c.schedule()
	return true
}

// end closes the stream and releases its source.
func (w *worker) end(c *conn) {
	switch {
	case c.timedOut.Load():
		w.l.opts.Logger.Info("closing a stream whose client stopped reading; it resumes from its last event id when it comes back",
			"remote", c.nc.RemoteAddr().String(), "waited", w.l.opts.WriteTimeout, "unsent", len(c.pending))
	case c.overBudget:
		w.l.opts.Logger.Info("closing a stream whose client reads too slowly; it resumes from its last event id when it comes back",
			"remote", c.nc.RemoteAddr().String(), "unsent", len(c.pending), "maxUnsent", w.l.opts.MaxUnsent)
	}
	c.done = true
	c.pending = nil
	c.blockedSince.Store(0)
	w.l.poller.remove(c.fd)
	w.l.remove(c)
	c.src.Close()
	c.nc.Close()
}
