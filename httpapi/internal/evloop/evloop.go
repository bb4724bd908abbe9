// Package evloop serves many event streams from a few goroutines. An idle
// stream costs a small struct and its socket: no goroutine, no buffer. The
// operating system tells the loop when a connection can take more bytes or
// has been closed by its client (epoll, on Linux), and each stream's source
// tells it when it has something to send; a pool of workers then writes
// what is ready, many frames in one writev.
//
// Writes never block a worker: what a full socket does not take waits in
// that stream's own buffer until the socket drains, and a stream that stays
// blocked longer than the write timeout is closed. Its source (a hub
// subscription) meanwhile keeps its own bounded queue, and ends it when the
// queue overflows, as it does for any slow subscriber.
package evloop

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// A Source is what one stream sends: a hub subscription.
type Source interface {
	// Poll returns the frames ready now, appended to buf[:0], or nothing;
	// an error ends the stream after the frames returned with it.
	Poll(ctx context.Context, buf [][]byte) ([][]byte, error)
	// OnReady registers a function to call whenever Poll has news.
	OnReady(func())
	// Close releases the source; the loop calls it when the stream ends.
	Close()
}

// A CatchingUp source says whether it is still sending a backlog (a
// subscription replaying the log after a reconnect). The loop serves
// streams that are live first, and lets backlogs take all but one of its
// workers, so a reconnect storm never delays live delivery.
type CatchingUp interface {
	CatchingUp() bool
}

// Options configure a Loop.
type Options struct {
	// Heartbeat returns a channel closed at the next heartbeat, when every
	// stream is sent HeartbeatFrame (unless it was sent something since the
	// previous one). Nil: no heartbeats.
	Heartbeat func() <-chan struct{}
	// WriteTimeout closes a stream whose client has not taken the bytes
	// waiting for it for this long (default 10s).
	WriteTimeout time.Duration
	// MaxUnsent bounds the bytes a stream's socket did not take yet, which
	// the loop keeps for it: a stream over it is closed as too slow, and
	// its client resumes from its last event id when it reconnects
	// (default 4 MiB). Keep it above the largest batch a source returns.
	MaxUnsent int
	// Final returns the last bytes to send to a stream that ends because
	// its source returned err (nil: none).
	Final func(err error) []byte
	// Workers is how many goroutines write (default: GOMAXPROCS, at least 2).
	Workers int
	// Logger receives unexpected errors (default: discarded).
	Logger *slog.Logger
}

// HeartbeatFrame is the comment an idle stream is sent at every heartbeat.
const HeartbeatFrame = ":\n\n"

// Errors from Add.
var (
	// ErrUnsupported: the connection (or this platform) offers no file
	// descriptor to poll; serve the stream some other way.
	ErrUnsupported = errors.New("evloop: connection cannot be polled")
	// ErrClosed: the loop is shutting down.
	ErrClosed = errors.New("evloop: loop closed")
)

func (o *Options) setDefaults() {
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.MaxUnsent <= 0 {
		o.MaxUnsent = 4 << 20
	}
	if o.Workers <= 0 {
		o.Workers = max(2, runtime.GOMAXPROCS(0))
	}
	if o.Final == nil {
		o.Final = func(error) []byte { return nil }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// A Loop serves streams until Shutdown.
type Loop struct {
	opts   Options
	poller poller
	ctx    context.Context // canceled when the loop stops or Shutdown's ctx ends; sources read with it
	cancel context.CancelFunc
	wg     sync.WaitGroup
	queue  readyQueue

	mu       sync.Mutex
	conns    map[int]*conn // by file descriptor
	gen      uint32
	closing  bool
	drained  chan struct{} // closed when closing and conns is empty
	stopOnce sync.Once

	timeouts atomic.Int64 // streams closed by the write timeout
}

// New starts a loop. It fails with ErrUnsupported where the platform has no
// poller.
func New(opts Options) (*Loop, error) {
	opts.setDefaults()
	l := &Loop{opts: opts, conns: make(map[int]*conn), drained: make(chan struct{})}
	if err := l.poller.open(); err != nil {
		return nil, err
	}
	l.queue.init(max(1, opts.Workers-1))
	l.ctx, l.cancel = context.WithCancel(context.Background())
	// The first heartbeat to wait for is taken now, so none that comes
	// after New returns is missed.
	var beat <-chan struct{}
	if opts.Heartbeat != nil {
		beat = opts.Heartbeat()
	}
	l.wg.Add(2 + opts.Workers)
	go l.poll()
	go l.tick(beat)
	for range opts.Workers {
		go l.work()
	}
	return l, nil
}

// Add hands a connection and its source to the loop, which from now on
// owns both: it writes what the source has, and closes both when the
// stream ends. The connection's response headers must already be written.
// With chunked, the response body is in HTTP/1.1 chunked transfer coding:
// every write is a chunk, and a source that ends ends the body with the
// last chunk. On error the caller still owns both.
func (l *Loop) Add(nc net.Conn, src Source, chunked bool) error {
	c := &conn{l: l, nc: nc, src: src, chunked: chunked}
	if cu, ok := src.(CatchingUp); ok {
		c.cu = cu
		c.catchingUp.Store(cu.CatchingUp())
	}
	if err := c.fdOf(); err != nil {
		return err
	}
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return ErrClosed
	}
	l.gen++
	c.gen = l.gen
	if err := l.poller.add(c.fd, c.gen); err != nil {
		l.mu.Unlock()
		return err
	}
	l.conns[c.fd] = c
	l.mu.Unlock()
	src.OnReady(c.schedule)
	c.schedule() // whatever the source already holds
	return nil
}

// Len returns how many streams the loop serves.
func (l *Loop) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Shutdown stops taking streams and waits until every stream has ended
// (their sources end them: a hub that closes ends all its subscriptions).
// When ctx ends first, the remaining streams are closed at once, and the
// context their sources read with is canceled, so none is waited for. Then the
// loop's goroutines stop. It may be called more than once, also
// concurrently; every call returns when the loop has stopped.
func (l *Loop) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	l.closing = true
	l.noteDrained()
	l.mu.Unlock()
	var err error
	select {
	case <-l.drained:
	case <-ctx.Done():
		err = ctx.Err()
		// Let go of the workers waiting in a source's read (a replay
		// from a store that does not answer) before waiting for them.
		l.cancel()
		for _, c := range l.snapshot() {
			c.close()
		}
		<-l.drained
	}
	l.stopOnce.Do(func() {
		l.cancel()
		l.queue.close()
		l.poller.wake()
		l.wg.Wait()
		l.poller.close()
	})
	return err
}

// noteDrained closes drained once the loop is closing and serves no
// stream. l.mu must be held.
func (l *Loop) noteDrained() {
	if !l.closing || len(l.conns) > 0 {
		return
	}
	select {
	case <-l.drained:
	default:
		close(l.drained)
	}
}

// snapshot returns the connections served now.
func (l *Loop) snapshot() []*conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	cs := make([]*conn, 0, len(l.conns))
	for _, c := range l.conns {
		cs = append(cs, c)
	}
	return cs
}

// poll turns the poller's readiness events into scheduled streams.
func (l *Loop) poll() {
	defer l.wg.Done()
	for {
		evs, err := l.poller.wait()
		if err != nil {
			l.opts.Logger.Error("event loop: waiting for sockets", "err", err)
			return
		}
		if l.ctx.Err() != nil {
			return
		}
		l.mu.Lock()
		for _, ev := range evs {
			c := l.conns[ev.fd]
			if c == nil || c.gen != ev.gen {
				continue // closed since: the event was for an old socket
			}
			if ev.readable {
				c.readable.Store(true)
			}
			c.schedule()
		}
		l.mu.Unlock()
	}
}

// tick sends heartbeats and closes streams blocked past the write timeout.
func (l *Loop) tick(beat <-chan struct{}) {
	defer l.wg.Done()
	sweep := time.NewTicker(max(l.opts.WriteTimeout/4, 10*time.Millisecond))
	defer sweep.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-beat:
			beat = l.opts.Heartbeat()
			for _, c := range l.snapshot() {
				c.beat.Store(true)
				c.schedule()
			}
		case now := <-sweep.C:
			l.sweep(now)
		}
	}
}

// sweep closes the streams blocked past the write timeout at now. A
// stream is counted once: it may wait for a worker over several sweeps,
// and one closed already (by Shutdown) is not counted.
func (l *Loop) sweep(now time.Time) {
	limit := now.Add(-l.opts.WriteTimeout).UnixNano()
	for _, c := range l.snapshot() {
		since := c.blockedSince.Load()
		if since == 0 || since >= limit || c.kill.Load() || !c.timedOut.CompareAndSwap(false, true) {
			continue
		}
		l.timeouts.Add(1)
		c.close() // after timedOut, so the worker that ends it logs why
	}
}

// work serves scheduled streams until the loop stops.
func (l *Loop) work() {
	defer l.wg.Done()
	w := &worker{l: l}
	for {
		c, backlog, ok := l.queue.pop()
		if !ok {
			return
		}
		c.st.Store(running)
		w.serve(c)
		// Come back to c if it was scheduled while being served, behind
		// the others.
		if !c.st.CompareAndSwap(running, idle) {
			c.st.Store(queued)
			l.queue.push(c)
		}
		if backlog {
			l.queue.backlogDone()
			// A backlog keeps a worker busy for seconds in a storm. Step
			// aside after each piece, so that the publish requests, the
			// log's writer and the dispatcher that feed live streams run
			// now, not after the scheduler's 10 ms time slice: with one
			// core, every hop of a publish waited that long behind replay.
			runtime.Gosched()
		}
	}
}

// remove forgets a closed connection.
func (l *Loop) remove(c *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns[c.fd] == c {
		delete(l.conns, c.fd)
	}
	l.noteDrained()
}

// readyQueue holds the streams waiting for a worker, each at most once,
// in two lines: live streams, always served first, and streams catching up
// on a backlog, of which at most maxBacklog are served at a time. So a
// storm of resuming clients leaves a worker for live delivery, and a live
// event never waits behind thousands of replays.
type readyQueue struct {
	mu         sync.Mutex
	cond       sync.Cond
	live       fifo
	backlog    fifo
	serving    int // backlog streams being served
	maxBacklog int
	closed     bool
}

func (q *readyQueue) init(maxBacklog int) {
	q.cond.L = &q.mu
	q.maxBacklog = maxBacklog
}

// push queues c. A stream to close goes in the live line even while it
// catches up: closing it is quick, and in the backlog line it could wait
// long, holding its socket and its unsent bytes.
func (q *readyQueue) push(c *conn) {
	q.mu.Lock()
	if c.catchingUp.Load() && !c.kill.Load() {
		c.inBacklog = true
		q.backlog.push(c)
	} else {
		q.live.push(c)
	}
	q.mu.Unlock()
	q.cond.Signal()
}

// expedite moves c, marked to close since it was queued, from the backlog
// line to the live one. Its place in the backlog line is left behind, and
// skipped when its turn comes.
func (q *readyQueue) expedite(c *conn) {
	q.mu.Lock()
	moved := c.inBacklog
	if moved {
		c.inBacklog = false
		q.live.push(c)
	}
	q.mu.Unlock()
	if moved {
		q.cond.Signal()
	}
}

// pop waits for a stream to serve; backlog says it came from the backlog
// line, and then the caller calls backlogDone after serving it.
func (q *readyQueue) pop() (c *conn, backlog, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		switch {
		case q.closed:
			return nil, false, false
		case q.live.len() > 0:
			return q.live.pop(), false, true
		case q.backlog.len() > 0 && q.serving < q.maxBacklog:
			if c := q.backlog.pop(); c.inBacklog { // else: expedited
				c.inBacklog = false
				q.serving++
				return c, true, true
			}
			continue
		}
		q.cond.Wait()
	}
}

// backlogDone says a worker finished serving a stream popped from the
// backlog line.
func (q *readyQueue) backlogDone() {
	q.mu.Lock()
	q.serving--
	wake := q.backlog.len() > 0
	q.mu.Unlock()
	if wake {
		q.cond.Signal()
	}
}

func (q *readyQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.live, q.backlog = fifo{}, fifo{}
	q.mu.Unlock()
	q.cond.Broadcast()
}

// fifo is a queue of streams that reuses its memory: it holds a few times
// as many slots as the most streams it held at once (at most four), also
// when it never empties.
type fifo struct {
	items []*conn
	head  int // items[:head] are popped
}

func (f *fifo) len() int { return len(f.items) - f.head }

func (f *fifo) push(c *conn) {
	// Rather than grow, move the queued streams to the front when at
	// least half the slots are popped ones: each move is paid for by as
	// many pops, so a push still costs O(1) on average.
	if f.head > 0 && len(f.items) == cap(f.items) && f.head >= len(f.items)/2 {
		n := copy(f.items, f.items[f.head:])
		clear(f.items[n:]) // do not keep the moved streams alive twice
		f.items, f.head = f.items[:n], 0
	}
	f.items = append(f.items, c)
}

func (f *fifo) pop() *conn {
	c := f.items[f.head]
	f.items[f.head] = nil
	f.head++
	return c
}
