// Package redis is a [hub.Log] on a Redis stream, shared by every ssehub
// node pointed at it: Redis assigns the Seqs (dense, in one Lua script with
// the publisher-id check), so ids and order are the same on every node and a
// client may resume on any of them.
//
// An Append is acknowledged once Redis has executed it; how durable that is
// follows the server's own setting: with appendonly yes and appendfsync
// always, Redis writes and fsyncs its AOF before it answers.
package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/internal/epoch"
)

// Options configure a Log. The zero value is usable.
type Options struct {
	// Stream names the log: its keys are {Stream}:events and so on
	// (default "ssehub"). Hubs given the same stream share one log.
	Stream string
	// Retention bounds what the log keeps; it is applied on every Append.
	Retention hub.Retention
	// Timeout bounds every call to Redis but the tail's blocking read,
	// so that an unreachable engine fails a publish fast (default 3s).
	Timeout time.Duration
	// Block is how long one blocking read of the tail waits in Redis
	// before it is issued again (default 500ms). It bounds how long a
	// cancelled Wait or a Close may take.
	Block time.Duration
	// Now is the clock used for retention by age and for events appended
	// without a Time; nil means time.Now.
	Now func() time.Time
	// Logger receives the log's warnings (default: discarded).
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.Stream == "" {
		o.Stream = "ssehub"
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.Block <= 0 {
		o.Block = 500 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Log is a [hub.Log] on Redis Streams. It also implements [hub.Tailer].
type Log struct {
	rdb  goredis.UniversalClient
	opts Options
	keys []string // events, meta, ids
	node string   // {stream}:nodes

	// epoch is the epoch this log serves, adopted by Info. Append and
	// Read refuse to work in any other.
	epoch atomic.Pointer[string]
	// tailEpoch is the epoch the tail's reader was last told of: when
	// Info adopts a new one, the next ReadWait reports ErrReplaced once,
	// so the dispatcher drops its old position.
	tailMu    sync.Mutex
	tailEpoch string
	// mark is what this node has seen of the log in the epoch it serves;
	// seen, the newest event it has seen the encoding of (sighting.go).
	mark atomic.Pointer[epoch.Mark]
	seen atomic.Pointer[sighting]

	// reqs hands Appends to the committer (see append.go); ctx bounds
	// its calls and ends with Close, as does quit.
	reqs       chan *appendReq
	ctx        context.Context
	cancel     context.CancelFunc
	quit       chan struct{}
	committing sync.WaitGroup

	// ahead holds the pages read ahead of their Reads (readahead.go).
	ahead readAheads
	// entryBytes is the size of an entry in the last XRANGE reply.
	entryBytes atomic.Int64

	closed atomic.Bool
}

var (
	_ hub.Log    = (*Log)(nil)
	_ hub.Tailer = (*Log)(nil)
)

// Open connects to Redis and opens (or creates) the log named
// opts.Stream.
func Open(ctx context.Context, srv Server, opts Options) (*Log, error) {
	opts.setDefaults()
	if strings.ContainsAny(opts.Stream, "{}") {
		// The name is the keys' hash tag: a brace would cut it, and
		// spread the log's keys over a cluster's shards.
		return nil, fmt.Errorf("redis: stream name %q: braces are not allowed", opts.Stream)
	}
	rdb, addr, err := srv.client(opts.Timeout)
	if err != nil {
		return nil, err
	}
	tag := "{" + opts.Stream + "}"
	l := &Log{
		rdb:  rdb,
		opts: opts,
		keys: []string{tag + ":events", tag + ":meta", tag + ":ids"},
		node: tag + ":nodes",
		reqs: make(chan *appendReq),
		quit: make(chan struct{}),
	}
	info, err := l.Info(ctx)
	if err != nil {
		l.rdb.Close()
		return nil, fmt.Errorf("redis %s: %w", addr, err)
	}
	l.tailEpoch = info.Epoch
	l.warnIfVolatile(ctx)
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.committing.Add(1)
	go l.commit()
	return l, nil
}

// warnIfVolatile logs a warning when Redis would lose acknowledged events
// on a crash: without the AOF, or without fsync before each answer.
func (l *Log) warnIfVolatile(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	cfg, err := l.rdb.ConfigGet(ctx, "append*").Result()
	if err != nil {
		return // CONFIG may be renamed away; nothing to say then
	}
	if cfg["appendonly"] != "yes" || cfg["appendfsync"] != "always" {
		l.opts.Logger.Warn("redis acknowledges appends before they are on disk; a crash of Redis loses the latest events (set appendonly yes, appendfsync always)",
			"appendonly", cfg["appendonly"], "appendfsync", cfg["appendfsync"])
	}
}

// Stream returns the name of the log's stream.
func (l *Log) Stream() string { return l.opts.Stream }

// Client returns the log's Redis client, for readiness checks.
func (l *Log) Client() goredis.UniversalClient { return l.rdb }

func (l *Log) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, l.opts.Timeout)
}

// past says whether ctx's deadline has come.
func past(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// fail turns an error from Redis into one the hub understands.
func (l *Log) fail(ctx context.Context, what string, err error) error {
	var rerr goredis.Error
	switch {
	case l.closed.Load():
		return hub.ErrClosed
	case ctx.Err() != nil || past(ctx):
		// The caller's ctx ended: go-redis reports its deadline as its
		// socket's (an i/o timeout), sometimes a moment before ctx
		// itself says it is done.
		cerr := cmp.Or(ctx.Err(), context.DeadlineExceeded)
		if errors.Is(err, cerr) {
			return err
		}
		return fmt.Errorf("redis: %s: %w (%v)", what, cerr, err)
	case errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "SSEHUB-REPLACED"):
		return fmt.Errorf("redis: %s: %w", what, hub.ErrReplaced)
	case errors.As(err, &rerr) && !passing(rerr.Error()):
		return fmt.Errorf("redis: %s: %w", what, err)
	}
	return fmt.Errorf("redis: %s: %w: %v", what, hub.ErrUnavailable, err)
}

// passing says whether a Redis error reply names a state that passes by
// itself: a cluster moving slots or electing a primary, a server loading
// its data or turned replica by a failover, another client's script
// running past busy-reply-threshold. The command was not run; the
// publisher may try again.
func passing(reply string) bool {
	code, _, _ := strings.Cut(reply, " ")
	switch code {
	case "MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "LOADING", "READONLY", "MASTERDOWN", "BUSY":
		return true
	}
	return false
}

// maxSeq is the largest Seq an entry id carries exactly through Lua's
// numbers (doubles).
const maxSeq = 1 << 53

// Read implements [hub.Log]. The epoch, the end of the log and the events
// are read in one transaction: one round trip, one consistent view. The
// events are parsed from XRANGE's raw reply (page.go). A page read ahead
// for this position is taken instead when there is one (readahead.go).
func (l *Log) Read(ctx context.Context, after uint64, limit int) ([]*hub.Event, error) {
	if l.closed.Load() {
		return nil, hub.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("redis: read limit %d, want at least 1", limit)
	}
	if after >= maxSeq {
		return nil, nil
	}
	if evs, ok, err := l.readAhead(ctx, after, limit); ok {
		return evs, err
	}
	evs, _, err := l.readPage(ctx, after, limit)
	if err == nil && len(evs) == limit {
		l.ahead.start(l, after+uint64(limit), limit)
	}
	return evs, err
}

// pageMeta is what a page was read with: the epoch, the Seq the log ended
// at and, when asked for, the event at another Seq.
type pageMeta struct {
	epoch string
	last  uint64
	tail  *hub.Event
}

// readPage is one Read from Redis.
func (l *Log) readPage(ctx context.Context, after uint64, limit int) ([]*hub.Event, pageMeta, error) {
	return l.readPageAnd(ctx, after, limit, 0)
}

// readPageAnd is readPage that also reads the event at Seq tail, if
// tail is not 0, into the page's meta, in the same transaction.
func (l *Log) readPageAnd(ctx context.Context, after uint64, limit int, tail uint64) ([]*hub.Event, pageMeta, error) {
	cctx, cancel := l.bound(ctx)
	defer cancel()
	buf := takeBuffer()
	defer giveBuffer(buf)
	// Room for the reply at once, from the size of the entries read
	// last: it would otherwise grow through a dozen sizes.
	buf.b = slices.Grow(buf.b, replySize(limit, int(l.entryBytes.Load())))
	mk := l.mark.Load()
	floor := mk.Seq() // before the read: the log held it then
	sight := l.sighted(mk.Epoch)
	var tb, sb *reply
	if tail > 0 {
		tb = takeBuffer()
		defer giveBuffer(tb)
	}
	if sight.seq > 0 {
		sb = takeBuffer()
		defer giveBuffer(sb)
	}
	var meta *goredis.SliceCmd
	_, err := l.rdb.TxPipelined(cctx, func(p goredis.Pipeliner) error {
		meta = p.HMGet(cctx, l.keys[1], "epoch", "last")
		if sight.seq > 0 {
			if err := l.readEntry(cctx, p, sb, sight.seq); err != nil {
				return err
			}
		}
		if tail > 0 {
			if err := l.readEntry(cctx, p, tb, tail); err != nil {
				return err
			}
		}
		return p.Process(cctx, goredis.NewRawWriteToCmd(cctx, buf, "XRANGE", l.keys[0], entryID(after+1), "+", "COUNT", limit))
	})
	if err != nil {
		return nil, pageMeta{}, l.fail(ctx, "read", err)
	}
	m := pageMeta{epoch: str(meta.Val()[0])}
	m.last, _ = strconv.ParseUint(str(meta.Val()[1]), 10, 64)
	if err := l.sameEpoch(m.epoch); err != nil {
		return nil, pageMeta{}, err
	}
	if err := l.holds(ctx, mk, m.epoch, m.last, floor, sight, sb); err != nil {
		return nil, pageMeta{}, err
	}
	evs, enc, err := parseRangeLast(buf.b, after)
	if err != nil {
		return nil, pageMeta{}, err
	}
	if len(evs) > 0 {
		l.entryBytes.Store(int64(len(buf.b) / len(evs)))
		l.saw(m.epoch, evs[len(evs)-1].Seq, enc)
	}
	if len(evs) == 0 && after < m.last {
		return nil, pageMeta{}, fmt.Errorf("%w: reading after %d, the log ends at %d and holds none of them", hub.ErrTrimmed, after, m.last)
	}
	if tail > 0 {
		if t, err := parseRange(tb.b, tail-1); err == nil && len(t) == 1 {
			m.tail = t[0]
		}
	}
	return evs, m, nil
}

// readEntry queues on p the read of the entry at seq alone, raw into buf.
func (l *Log) readEntry(ctx context.Context, p goredis.Pipeliner, buf *reply, seq uint64) error {
	id := entryID(seq)
	return p.Process(ctx, goredis.NewRawWriteToCmd(ctx, buf, "XRANGE", l.keys[0], id, id))
}

// holds checks that the log, which a read found in epoch stored ending at
// last, still holds floor, the highest Seq m had seen before that read,
// and that at, what the read found at sight's Seq (nil when it did not
// look), is the event sighted there. If so, m notes last. If not, the log
// lost acknowledged events: it gets a new epoch (renewScript), and the
// answer is ErrReplaced, on which the hub adopts it and resets its clients.
func (l *Log) holds(ctx context.Context, m *epoch.Mark, stored any, last, floor uint64, sight sighting, at *reply) error {
	if str(stored) != m.Epoch {
		return nil // Info adopted another epoch since; its own mark counts
	}
	refilled := at != nil && sight.differs(at.b)
	if last >= floor && !refilled {
		m.Saw(last)
		return nil
	}
	cctx, cancel := l.bound(ctx)
	defer cancel()
	renewed, err := renewScript.Run(cctx, l.rdb, l.keys, m.Epoch, floor, epoch.New(), sight.seq, sight.sum).Int()
	if err != nil {
		return l.fail(ctx, "renewing the epoch", err)
	}
	if renewed == 1 {
		l.opts.Logger.Warn("the redis stream lost acknowledged events (a failover or a restart that lost its tail): new epoch",
			"stream", l.opts.Stream, "ends at", last, "seen", floor, "refilled", refilled)
	}
	if refilled {
		return fmt.Errorf("redis: the log holds another event %d than this node saw: it lost acknowledged events: %w", sight.seq, hub.ErrReplaced)
	}
	return fmt.Errorf("redis: the log ends at %d, before event %d it held: it lost acknowledged events: %w", last, floor, hub.ErrReplaced)
}

// replySize is the room to make for a reply of limit entries of
// entryBytes each, at most maxPooled (and no overflow for a huge limit).
func replySize(limit, entryBytes int) int {
	if entryBytes > 0 && limit > maxPooled/entryBytes {
		return maxPooled
	}
	return limit * entryBytes
}

// sameEpoch reports ErrReplaced unless stored is the epoch the log serves.
func (l *Log) sameEpoch(stored any) error {
	if s := str(stored); s != *l.epoch.Load() {
		return fmt.Errorf("redis: the stream's epoch is %q, this log's %q: %w", s, *l.epoch.Load(), hub.ErrReplaced)
	}
	return nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func entryID(seq uint64) string { return "0-" + strconv.FormatUint(seq, 10) }

func parseEntryID(id string) (uint64, error) {
	ms, seq, ok := strings.Cut(id, "-")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || ms != "0" || err != nil {
		return 0, fmt.Errorf("redis: stream entry %q was not written by ssehub", id)
	}
	return n, nil
}

// ReadWait implements [hub.Tailer] with a blocking XREAD, issued again
// every Options.Block while nothing arrives. The epoch is read in the same
// round trip, so a replaced stream is noticed within one Block.
func (l *Log) ReadWait(ctx context.Context, after uint64, limit int) ([]*hub.Event, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("redis: read limit %d, want at least 1", limit)
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
		evs, err := l.readBlocking(ctx, after, limit)
		if err != nil || len(evs) > 0 {
			return evs, err
		}
	}
}

// tailTold reports ErrReplaced once after Info adopted a new epoch.
func (l *Log) tailTold() error {
	current := *l.epoch.Load()
	l.tailMu.Lock()
	defer l.tailMu.Unlock()
	if l.tailEpoch != current {
		old := l.tailEpoch
		l.tailEpoch = current
		return fmt.Errorf("redis: the log moved from epoch %q to %q: %w", old, current, hub.ErrReplaced)
	}
	return nil
}

// readBlocking is one blocking read of the tail; no events and no error
// means Block passed with nothing new.
func (l *Log) readBlocking(ctx context.Context, after uint64, limit int) ([]*hub.Event, error) {
	if after >= maxSeq {
		return nil, fmt.Errorf("redis: position %d beyond any Seq", after)
	}
	cctx, cancel := context.WithTimeout(ctx, l.opts.Block+l.opts.Timeout)
	defer cancel()
	m := l.mark.Load()
	floor := m.Seq() // before the read: the log held it then
	sight := l.sighted(m.Epoch)
	buf := takeBuffer()
	defer giveBuffer(buf)
	buf.b = slices.Grow(buf.b, replySize(limit, int(l.entryBytes.Load())))
	p := l.rdb.Pipeline()
	meta := p.HMGet(cctx, l.keys[1], "epoch", "last")
	var sb *reply
	if sight.seq > 0 {
		sb = takeBuffer()
		defer giveBuffer(sb)
		if err := l.readEntry(cctx, p, sb, sight.seq); err != nil {
			return nil, l.fail(ctx, "tail", err)
		}
	}
	xr := goredis.NewRawWriteToCmd(cctx, buf, "XREAD", "COUNT", limit, "BLOCK", l.opts.Block.Milliseconds(),
		"STREAMS", l.keys[0], entryID(after))
	if err := p.Process(cctx, xr); err != nil {
		return nil, l.fail(ctx, "tail", err)
	}
	// The epoch again, once the XREAD is answered: another node may have
	// started a new epoch while it waited (the stream dropped and filled
	// again), and what it woke for is then the new epoch's. Epochs are
	// random, so one seen before and after holds what came between.
	then := p.HMGet(cctx, l.keys[1], "epoch") // not HGET: a wiped log's is no error, but ""
	if _, err := p.Exec(cctx); err != nil {
		return nil, l.fail(ctx, "tail", err)
	}
	if err := l.sameEpoch(meta.Val()[0]); err != nil {
		return nil, err
	}
	if err := l.sameEpoch(then.Val()[0]); err != nil {
		return nil, err
	}
	last, _ := strconv.ParseUint(str(meta.Val()[1]), 10, 64)
	if err := l.holds(ctx, m, meta.Val()[0], last, floor, sight, sb); err != nil {
		return nil, err
	}
	evs, enc, err := parseReadLast(buf.b, after)
	if err == nil && len(evs) > 0 {
		l.saw(str(meta.Val()[0]), evs[len(evs)-1].Seq, enc)
	}
	return evs, err
}

// Wait implements [hub.Log].
func (l *Log) Wait(ctx context.Context, after uint64) error {
	_, err := l.ReadWait(ctx, after, 1)
	if errors.Is(err, hub.ErrTrimmed) {
		return nil // events after `after` exist; Read will say the rest
	}
	return err
}

// Lookup implements [hub.Log].
func (l *Log) Lookup(ctx context.Context, id string) (uint64, error) {
	if l.closed.Load() {
		return 0, hub.ErrClosed
	}
	cctx, cancel := l.bound(ctx)
	defer cancel()
	s, err := l.rdb.HGet(cctx, l.keys[2], id).Result()
	if errors.Is(err, goredis.Nil) || id == "" {
		return 0, fmt.Errorf("%w: id %q", hub.ErrNotFound, id)
	}
	if err != nil {
		return 0, l.fail(ctx, "lookup", err)
	}
	return strconv.ParseUint(s, 10, 64)
}

// Info implements [hub.Log]. It creates the log when Redis holds none (a
// new stream, or an engine that lost its data: the log gets a new epoch),
// and adopts the epoch it finds.
func (l *Log) Info(ctx context.Context) (hub.Info, error) {
	if l.closed.Load() {
		return hub.Info{}, hub.ErrClosed
	}
	cctx, cancel := l.bound(ctx)
	defer cancel()
	res, err := infoScript.Run(cctx, l.rdb, l.keys, epoch.New()).Slice()
	if err != nil {
		return hub.Info{}, l.fail(ctx, "info", err)
	}
	if len(res) != 5 {
		return hub.Info{}, fmt.Errorf("redis: info answered %v", res)
	}
	e := str(res[0])
	info := hub.Info{Epoch: e}
	info.Last, _ = strconv.ParseUint(str(res[1]), 10, 64)
	if old := l.epoch.Swap(&e); old != nil && *old != e {
		l.opts.Logger.Warn("the redis stream was replaced: new epoch", "stream", l.opts.Stream, "old", *old, "new", e)
	}
	if m := l.mark.Load(); m != nil && m.Epoch == e {
		m.Saw(info.Last)
	} else {
		l.mark.Store(epoch.NewMark(e, info.Last))
	}
	info.Bytes, _ = strconv.ParseInt(str(res[2]), 10, 64)
	info.Events, _ = res[3].(int64)
	info.First = info.Last + 1
	if first := str(res[4]); first != "" {
		if info.First, err = parseEntryID(first); err != nil {
			return hub.Info{}, err
		}
	}
	return info, nil
}

// Close implements [hub.Log]. Redis keeps the events; Close only drops the
// connections, which wakes blocked readers with ErrClosed.
func (l *Log) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	l.cancel()
	close(l.quit)
	l.committing.Wait()
	l.ahead.close()
	return l.rdb.Close()
}
