package nats

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/internal/epoch"
)

// A cursor reads the stream in order from one position: an ephemeral pull
// consumer on the server and the subscription its messages arrive on. A
// reader that goes on where its last Read ended (a replaying subscriber,
// the tail) finds its cursor again by position, so a replay of many pages
// costs one consumer and one round trip per page, and the server knows how
// many messages follow each one (their count rides on every message), so
// most pages need no question about the stream's extent.
type cursor struct {
	consumer string
	inbox    string
	sub      *natsgo.Subscription
	msgs     chan *natsgo.Msg // what sub receives, read without nats.go's bookkeeping
	next     uint64           // the Seq the next message has
	pending  uint64           // messages after next-1, as the server last said
	idle     time.Time
	// asked is how many messages the pull standing on the cursor may still
	// deliver (0: none stands), and until is when that pull is given up
	// on if it has not ended (see follow).
	asked int
	until time.Time
	// mark is the log's mark when the cursor was made: what the cursor
	// reads raises it, and no other epoch's.
	mark *epoch.Mark
	// subject is the log's subject when the cursor was made: a message on
	// another is another stream's, made since under the same name.
	subject string
	// lastData is the data of the last message accepted, for the log's
	// sighting (see sawPage).
	lastData []byte
	// quit is the log's: closed by Close, it ends a wait for a message
	// (nats.go does not close a channel subscription's channel).
	quit <-chan struct{}
}

// consumerLapse is how soon the server drops a consumer nobody pulls from;
// the log forgets its cursors sooner (cursorIdle), so it never pulls from
// one the server dropped, except after a pause of its own.
const (
	consumerLapse  = 10 * time.Second
	cursorIdle     = consumerLapse / 2
	maxIdleCursors = 1024
	// staleAfter is how long after a pull request's expiry its cursor is
	// given up on.
	staleAfter = time.Second
	// followGrace is how long after the expiry of the pull standing on
	// the tail's cursor that cursor is given up on (see follow), on top of
	// twice the round trip to the server measured at Open (Log.grace):
	// the server times the pull from when it arrives, and its end takes
	// half a round trip back.
	followGrace = 25 * time.Millisecond
	// readWait is the expiry of a pull for events known to be there.
	readWait = 250 * time.Millisecond
	// maxPull bounds the messages one pull asks for (a Read of more returns
	// a short page), so that a cursor's queue is small (cursorQueue):
	// nats.go would give a synchronous subscription 64k pointers up front,
	// which the garbage collector scans on every cycle and which thousands
	// of replaying subscribers would each hold.
	maxPull = 1024
	// cursorQueue has room for a whole pull and the status that ends it.
	cursorQueue = maxPull + 16
)

// cursors keeps the cursors no Read uses now, by the position they read
// next (after+1).
type cursors struct {
	mu    sync.Mutex
	idle  map[uint64][]*cursor
	n     int
	swept time.Time
	// standing is the tail's cursor while a pull stands on it (follow):
	// it is never in idle, since Read's pulls would take its messages.
	standing *cursor
}

// takeStanding returns the standing cursor if its next message follows
// after, and otherwise a standing cursor to drop, if any.
func (cs *cursors) takeStanding(after uint64) (c, drop *cursor) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c, cs.standing = cs.standing, nil
	if c != nil && c.next != after+1 {
		return nil, c
	}
	return c, nil
}

// putStanding keeps c as the standing cursor, and returns the cursor to
// drop: the one it replaces, or c itself once the log is closed.
func (cs *cursors) putStanding(c *cursor) (drop *cursor) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.idle == nil { // Close took the pool
		return c
	}
	drop, cs.standing = cs.standing, c
	return drop
}

// take returns an idle cursor whose next message follows after, or nil.
func (cs *cursors) take(after uint64) *cursor {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	list := cs.idle[after+1]
	if len(list) == 0 {
		return nil
	}
	c := list[len(list)-1]
	list[len(list)-1] = nil
	if len(list) == 1 {
		delete(cs.idle, after+1)
	} else {
		cs.idle[after+1] = list[:len(list)-1]
	}
	cs.n--
	return c
}

// put keeps c for the next Read at its position, and returns the cursors
// to drop: c itself when too many are kept or the log is closed, and those
// idle for longer than cursorIdle.
func (cs *cursors) put(c *cursor, closed bool) (drop []*cursor) {
	now := time.Now()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	closed = closed || cs.idle == nil // Close took the pool
	if closed || cs.n >= maxIdleCursors {
		drop = append(drop, c)
	} else {
		c.idle = now
		cs.idle[c.next] = append(cs.idle[c.next], c)
		cs.n++
	}
	if now.Sub(cs.swept) < time.Second && !closed {
		return drop
	}
	cs.swept = now
	for pos, list := range cs.idle {
		kept := list[:0]
		for _, c := range list {
			if closed || now.Sub(c.idle) > cursorIdle {
				drop = append(drop, c)
				cs.n--
			} else {
				kept = append(kept, c)
			}
		}
		clear(list[len(kept):])
		if len(kept) == 0 {
			delete(cs.idle, pos)
		} else {
			cs.idle[pos] = kept
		}
	}
	return drop
}

// keep gives c back to the pool.
func (l *Log) keep(c *cursor) {
	for _, d := range l.cursors.put(c, l.closed.Load()) {
		l.drop(d)
	}
}

// drop ends a cursor: its subscription now, its consumer by a request that
// expects no answer (the server would drop it after consumerLapse anyway).
func (l *Log) drop(c *cursor) {
	_ = c.sub.Unsubscribe()
	_ = l.nc.Publish("$JS.API.CONSUMER.DELETE."+l.name+"."+c.consumer, nil)
}

// newCursor makes a cursor whose first message is the one at start.
func (l *Log) newCursor(ctx context.Context, start uint64) (*cursor, error) {
	// Taken before the consumer is made: a stream replaced in between
	// gives the consumer another epoch's messages, which accept refuses
	// by their subject, and which must not raise this epoch's mark.
	m, subject := l.mark.Load(), *l.subject.Load()
	cons, err := l.js.CreateConsumer(ctx, l.name, jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: consumerLapse,
		MemoryStorage:     true,
		Replicas:          1,
	})
	if err != nil {
		return nil, l.fail(ctx, "read", err)
	}
	info := cons.CachedInfo()
	c := &cursor{consumer: info.Name, inbox: l.nc.NewInbox(), next: start, pending: info.NumPending,
		msgs: make(chan *natsgo.Msg, cursorQueue), mark: m, subject: subject, quit: l.quit}
	// A page is bounded by maxPull; its bytes by the events'. A message
	// that finds the queue full is dropped by nats.go, and the gap it
	// leaves is seen (errGap) as any other.
	if c.sub, err = l.nc.ChanSubscribe(c.inbox, c.msgs); err != nil {
		_ = l.nc.Publish("$JS.API.CONSUMER.DELETE."+l.name+"."+c.consumer, nil)
		return nil, l.fail(ctx, "read", err)
	}
	return c, nil
}

// nextMsg returns the next message c receives, ctx's error, or ErrClosed
// once the log is closed.
func (c *cursor) nextMsg(ctx context.Context) (*natsgo.Msg, error) {
	select {
	case m := <-c.msgs: // most often one is there: no need to look at ctx
		return m, nil
	default:
	}
	select {
	case m := <-c.msgs:
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.quit:
		return nil, hub.ErrClosed
	}
}

// Errors of one pull, handled by Read.
var (
	// errGap: the next message is not the one at the cursor's position
	// (retention removed what lay between, or a message was lost).
	errGap = errors.New("a message is missing")
	// errStale: the cursor cannot serve (its consumer is gone, or it
	// answered nothing while the stream said there was more).
	errStale = errors.New("the read gave nothing")
)

// pull asks c's consumer for n messages, waiting up to wait for them, and
// decodes what arrives. ok says the request ended as the server meant (n
// messages or its status saying it has no more now), so c may serve again;
// on any other end the caller drops c. The events returned are valid even
// with an error.
func (l *Log) pull(ctx context.Context, c *cursor, n int, wait time.Duration) (evs []*hub.Event, ok bool, err error) {
	// A consumer the server no longer has answers nothing at all (no
	// "no responders" status), so silence past the request's own expiry
	// means a stale cursor.
	pctx, cancel := context.WithTimeout(ctx, wait+staleAfter)
	defer cancel()
	if err := l.askPull(c, n, wait); err != nil {
		return nil, false, err
	}
	evs = make([]*hub.Event, 0, n)
	defer func() { l.sawPage(c, evs) }()
	for len(evs) < n {
		m, err := c.nextMsg(pctx)
		if err != nil {
			if ctx.Err() == nil && pctx.Err() != nil {
				err = fmt.Errorf("%w: no answer within %v", errStale, wait+staleAfter)
			}
			return evs, false, err
		}
		ev, end, err := c.accept(m)
		switch {
		case err != nil:
			return evs, false, err
		case end:
			return evs, true, nil
		case ev != nil:
			evs = append(evs, ev)
		}
	}
	return evs, true, nil
}

// sawPage raises c's mark to the last of evs, what a pull on c delivered,
// and makes it the log's sighting.
func (l *Log) sawPage(c *cursor, evs []*hub.Event) {
	if len(evs) > 0 {
		seq := evs[len(evs)-1].Seq
		c.mark.Saw(seq)
		l.saw(c.mark.Epoch, seq, c.subject, c.lastData)
	}
}

// askPull asks c's consumer for n messages, to be delivered within wait.
func (l *Log) askPull(c *cursor, n int, wait time.Duration) error {
	req := strconv.AppendInt([]byte(`{"batch":`), int64(n), 10)
	req = strconv.AppendInt(append(req, `,"expires":`...), int64(wait), 10)
	req = append(req, '}')
	return l.nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT."+l.name+"."+c.consumer, c.inbox, req)
}

// accept reads one message a pull on c delivered: an event, the status
// that ends the pull (end), a heartbeat (neither), or why c cannot serve.
func (c *cursor) accept(m *natsgo.Msg) (ev *hub.Event, end bool, err error) {
	if len(m.Data) == 0 && m.Header != nil {
		switch m.Header.Get("Status") {
		case "":
		case "404", "408": // nothing more now; the request is over
			return nil, true, nil
		case "100": // a heartbeat: not asked for, harmless
			return nil, false, nil
		default: // 409 (consumer deleted, …), 503 (no consumer)
			return nil, false, fmt.Errorf("%w: %s %s", errStale, m.Header.Get("Status"), m.Header.Get("Description"))
		}
	}
	if m.Subject != c.subject {
		// The stream was deleted and made again between the look that
		// found it in this log's epoch and the consumer's creation.
		return nil, false, fmt.Errorf("%w: a message on %s, not on %s: the stream was replaced", errStale, m.Subject, c.subject)
	}
	seq, left, parsed := ackFields(m.Reply)
	if !parsed {
		return nil, false, fmt.Errorf("nats: read: a message with reply %q", m.Reply)
	}
	if seq != c.next {
		return nil, false, fmt.Errorf("%w: want %d, got %d", errGap, c.next, seq)
	}
	ev = new(hub.Event)
	if err := ev.UnmarshalBinaryString(owned(m.Data)); err != nil {
		return nil, false, fmt.Errorf("nats: message %d: %w", seq, err)
	}
	ev.Seq = seq
	c.next, c.pending, c.lastData = seq+1, left, m.Data
	return ev, false, nil
}

// owned views a message's data as a string without copying it: nats.go
// gives every message a buffer of its own (a copy of what it read), which
// nothing writes to after, so the event's strings may share it.
func owned(data []byte) string {
	return unsafe.String(unsafe.SliceData(data), len(data))
}

// ackFields reads the stream sequence and the count of messages pending
// after it from a consumer message's reply subject, without allocating:
// $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<time>.<pending>,
// or the newer form with a domain and an account hash after ACK, and maybe
// a last random token (11 or 12 tokens). The numbers it needs are near the
// end, so it counts the tokens and takes those from there.
func ackFields(reply string) (seq, pending uint64, ok bool) {
	if !strings.HasPrefix(reply, "$JS.ACK.") {
		return 0, 0, false
	}
	tokens := strings.Count(reply, ".") + 1
	if tokens != 9 && tokens != 11 && tokens != 12 {
		return 0, 0, false
	}
	rest, pend := cutLast(reply)
	if tokens == 12 {
		rest, pend = cutLast(rest) // the random token
	}
	rest, _ = cutLast(rest) // time
	rest, _ = cutLast(rest) // consumer sequence
	_, sseq := cutLast(rest)
	seq, ok1 := decimal(sseq)
	pending, ok2 := decimal(pend)
	return seq, pending, ok1 && ok2
}

// cutLast splits s at its last dot, which the caller knows it has.
func cutLast(s string) (before, last string) {
	i := strings.LastIndexByte(s, '.')
	return s[:i], s[i+1:]
}

// decimal parses s, ASCII digits only, as strconv.ParseUint(s, 10, 64)
// does, at a fraction of its cost: it runs twice per message replayed.
func decimal(s string) (uint64, bool) {
	if len(s) == 0 {
		return 0, false
	}
	var x uint64
	for i := 0; i < len(s); i++ {
		d := uint64(s[i] - '0')
		if d > 9 || x > (math.MaxUint64-d)/10 {
			return 0, false
		}
		x = x*10 + d
	}
	return x, true
}

// Read implements [hub.Log]: one page through a cursor at after+1.
func (l *Log) Read(ctx context.Context, after uint64, limit int) ([]*hub.Event, error) {
	if l.closed.Load() {
		return nil, hub.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("nats: read limit %d, want at least 1", limit)
	}
	cctx, cancel := l.bound(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		evs, err := l.readPage(cctx, after, limit)
		if errors.Is(err, errStale) && attempt < 2 {
			continue // a new cursor, after a look at the stream
		}
		if err != nil && !errors.Is(err, hub.ErrTrimmed) && !errors.Is(err, hub.ErrReplaced) {
			err = l.fail(ctx, "read", err)
		}
		return evs, err
	}
}

// readPage reads up to limit events after `after`. It asks the stream for
// its extent only when the cursor does not know that events follow: for
// the first page, at the end of the log and after a failure. The extent is
// what tells a trimmed position and a replaced stream.
func (l *Log) readPage(ctx context.Context, after uint64, limit int) ([]*hub.Event, error) {
	c := l.cursors.take(after)
	var n int
	if c != nil && c.pending > 0 {
		n = int(min(uint64(limit), c.pending, maxPull))
	} else {
		first, last, err := l.state(ctx)
		switch {
		case err != nil:
		case after+1 < first:
			err = fmt.Errorf("%w: reading after %d, oldest retained is %d", hub.ErrTrimmed, after, first)
		case after >= last:
			if c != nil {
				l.keep(c)
			}
			return nil, nil
		}
		if err != nil {
			if c != nil {
				l.drop(c)
			}
			return nil, err
		}
		n = int(min(uint64(limit), last-after, maxPull))
		if c == nil {
			if c, err = l.newCursor(ctx, after+1); err != nil {
				return nil, err
			}
		}
	}
	evs, ok, err := l.pull(ctx, c, n, min(readWait, l.opts.Block))
	if !ok {
		l.drop(c)
	} else {
		if len(evs) == 0 {
			c.pending = 0 // it knew of more than the server had: ask the stream
		}
		l.keep(c)
	}
	switch {
	case len(evs) > 0:
		return evs, nil // what follows is the next Read's to judge
	case errors.Is(err, errGap):
		if first, _, serr := l.state(ctx); serr != nil || after+1 >= first {
			return nil, fmt.Errorf("%w: %v", errStale, err)
		}
		return nil, fmt.Errorf("%w: reading after %d: %v", hub.ErrTrimmed, after, err)
	case err == nil:
		return nil, fmt.Errorf("%w: no message arrived after %d", errStale, after)
	}
	return nil, err
}

// ReadWait implements [hub.Tailer]. Behind the tail it reads as Read
// does; at the tail it follows the stream through a cursor with a pull
// standing on it (follow), kept from one call to the next.
func (l *Log) ReadWait(ctx context.Context, after uint64, limit int) ([]*hub.Event, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("nats: read limit %d, want at least 1", limit)
	}
	for {
		if l.closed.Load() {
			return nil, hub.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := l.tailTold(); err != nil {
			return nil, err
		}
		if h := l.hooks.afterTailTold; h != nil {
			h()
		}
		c, stale := l.cursors.takeStanding(after)
		if stale != nil {
			l.drop(stale)
		}
		if c == nil {
			// No pull stands at after+1: Read first. It looks at the
			// stream when its cursor knows of nothing more, which is
			// what tells a trimmed, shortened or replaced stream. It
			// keeps its cursor where it ended, and a pull stands on that
			// one next: at once when it found events, so that the next
			// call follows even while events keep coming.
			evs, err := l.Read(ctx, after, limit)
			if err != nil {
				return nil, err
			}
			if len(evs) > 0 {
				if c = l.cursors.take(evs[len(evs)-1].Seq); c != nil {
					l.stand(c)
				}
				return l.told(evs)
			}
			if c = l.cursors.take(after); c == nil {
				cctx, cancel := l.bound(ctx)
				c, err = l.newCursor(cctx, after+1)
				cancel()
				if err != nil {
					return nil, err
				}
			}
		}
		evs, ok, err := l.follow(ctx, c, limit)
		switch {
		case ok && c.asked > 0:
			l.keepStanding(c)
		case ok: // its pull is over: the next call looks at the stream first
			l.keep(c)
		default:
			l.drop(c)
		}
		switch {
		case len(evs) > 0:
			return l.told(evs)
		case l.closed.Load():
			return nil, hub.ErrClosed
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case ok || errors.Is(err, errGap) || errors.Is(err, errStale):
			continue // Read looks at the stream
		}
		return nil, l.fail(ctx, "tail", err)
	}
}

// askStanding stands a pull on c for the tail (see follow).
func (l *Log) askStanding(c *cursor) error {
	if err := l.askPull(c, maxPull, l.opts.Block); err != nil {
		return err
	}
	c.asked, c.until = maxPull, time.Now().Add(l.opts.Block+l.grace)
	return nil
}

// stand keeps c as the tail's cursor with a pull standing on it, or drops
// it if the pull cannot be asked for.
func (l *Log) stand(c *cursor) {
	if err := l.askStanding(c); err != nil {
		l.drop(c)
		return
	}
	l.keepStanding(c)
}

// keepStanding keeps c, with its pull standing, for the tail's next read.
func (l *Log) keepStanding(c *cursor) {
	if d := l.cursors.putStanding(c); d != nil {
		l.drop(d)
	}
}

// follow returns the next events of the tail through c. A pull stands on
// c for up to maxPull messages and Block; the server delivers each message
// to it as the stream stores it, and each call takes what has arrived,
// waiting for the first. So following the tail costs one request per
// maxPull events or per Block, where a pull for one message and a look at
// the stream after each wake-up cost two round trips. ok says c may serve
// again: its pull may still stand (c.asked > 0), and a call ended by ctx
// leaves it standing for the next.
func (l *Log) follow(ctx context.Context, c *cursor, limit int) (evs []*hub.Event, ok bool, err error) {
	if c.asked == 0 {
		if err := l.askStanding(c); err != nil {
			return nil, false, err
		}
	}
	// A pull's end may not come: a consumer the server no longer has
	// answers nothing at all, and nats-server 2.9 sometimes ends a pull
	// at its expiry without the status that says so, while events flow
	// (not seen on 2.15.3). So the cursor is given up on soon after the
	// expiry: a new one costs one round trip, where waiting for a status
	// that may never come held the tail for staleAfter.
	pctx, cancel := context.WithDeadline(ctx, c.until)
	defer cancel()
	defer func() { l.sawPage(c, evs) }()
	for len(evs) < limit && c.asked > 0 {
		var m *natsgo.Msg
		if len(evs) == 0 {
			if m, err = c.nextMsg(pctx); err != nil {
				if ctx.Err() != nil {
					return nil, true, err
				}
				if errors.Is(err, hub.ErrClosed) {
					return nil, false, err
				}
				return nil, false, fmt.Errorf("%w: no answer by the pull's expiry", errStale)
			}
		} else {
			select {
			case m = <-c.msgs:
			default:
				return evs, true, nil
			}
		}
		ev, end, err := c.accept(m)
		switch {
		case err != nil:
			return evs, false, err
		case end:
			c.asked = 0
			return evs, true, nil
		case ev != nil:
			evs = append(evs, ev)
			c.asked--
		}
	}
	return evs, true, nil
}

// told returns the events a tail's read found, unless this log moved to
// another epoch while it read (another caller's Info adopted a new stream
// between tailTold and the read's look at the stream): the events may be
// the new stream's, and the tail's position is the old one's.
func (l *Log) told(evs []*hub.Event) ([]*hub.Event, error) {
	if err := l.tailTold(); err != nil {
		return nil, err
	}
	return evs, nil
}

// tailTold answers ErrReplaced, once, when this log has moved to another
// epoch since the tail last heard of it.
func (l *Log) tailTold() error {
	current := *l.epoch.Load()
	l.tailMu.Lock()
	defer l.tailMu.Unlock()
	if l.tailEpoch != current {
		old := l.tailEpoch
		l.tailEpoch = current
		return fmt.Errorf("nats: the log moved from epoch %q to %q: %w", old, current, hub.ErrReplaced)
	}
	return nil
}

// Wait implements [hub.Log].
func (l *Log) Wait(ctx context.Context, after uint64) error {
	_, err := l.ReadWait(ctx, after, 1)
	if errors.Is(err, hub.ErrTrimmed) {
		return nil
	}
	return err
}
