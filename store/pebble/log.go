// Package pebble is ssehub's default, durable [hub.Log]: events kept in a
// directory by the Pebble storage engine (github.com/cockroachdb/pebble),
// appended with group commit so that concurrent publishers share fsyncs.
// docs/storage.md says why this engine, and how to choose a sync policy and
// a retention.
//
// Layout: every key starts with one byte naming its kind.
//
//	'e' Seq (8 bytes, big endian) → the event, hub's binary encoding, Seq 0
//	'i' id                        → Seq (8 bytes), for publisher-given ids
//	'm' "epoch"                   → the epoch (see recordRun for when it changes)
//	'm' "state"                   → first, last, bytes (8 bytes each)
//	'm' "run"                     → the open run's policy, boot id, clean close
//
// The state is written in the same batch as the events or deletions that
// change it, so a reopened log always agrees with what it holds.
package pebble

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/internal/epoch"
	"github.com/ssehub/ssehub/store/internal/tail"
)

// cacheSize is the engine's block cache.
const cacheSize = 64 << 20

const (
	kindEvent = 'e'
	kindID    = 'i'
	kindMeta  = 'm'
)

var (
	keyEpoch = []byte{kindMeta, 'e', 'p', 'o', 'c', 'h'}
	keyState = []byte{kindMeta, 's', 't', 'a', 't', 'e'}
	keyRun   = []byte{kindMeta, 'r', 'u', 'n'}
)

func eventKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{kindEvent}, seq)
}

func idKey(id string) []byte { return append([]byte{kindID}, id...) }

// state is the log's extent, kept in memory and in keyState.
type state struct {
	first, last uint64
	bytes       int64
}

func (s state) encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, s.first)
	b = binary.BigEndian.AppendUint64(b, s.last)
	return binary.BigEndian.AppendUint64(b, uint64(s.bytes))
}

func decodeState(b []byte) (state, error) {
	if len(b) != 24 {
		return state{}, fmt.Errorf("pebble: state record of %d bytes, want 24", len(b))
	}
	return state{
		first: binary.BigEndian.Uint64(b),
		last:  binary.BigEndian.Uint64(b[8:]),
		bytes: int64(binary.BigEndian.Uint64(b[16:])),
	}, nil
}

// Log is a [hub.Log] in a directory. Create it with Open.
type Log struct {
	db    *pebble.DB
	wal   *walFS
	opts  Options
	epoch string
	dir   string

	reqs     chan *request         // to the writer; unbuffered, so a send is a hand-over
	trims    chan trimRequest      // to the writer: TrimThrough
	quit     chan struct{}         // closed by Close to stop the writer and syncLoop
	done     chan struct{}         // closed when the writer has stopped
	syncDone chan struct{}         // closed when syncLoop has stopped (or never ran)
	failed   atomic.Pointer[error] // set by syncLoop when an fsync failed

	// The time of the event at Seq oldestSeq, the oldest one the last trim
	// kept, so that a commit under an age retention need not read it again
	// while it is still young enough (the writer's only).
	oldestSeq  uint64
	oldestTime time.Time

	mu     sync.RWMutex
	st     state      // what readers may see: acknowledged events only
	tail   *tail.Tail // wakes Wait when st.last grows
	closed bool

	// inUse is held for reading by every call that touches the engine
	// outside the writer, and for writing by Close, so that the engine is
	// never closed under an open iterator.
	inUse     sync.RWMutex
	closeOnce sync.Once
	closeErr  error
}

var _ hub.Log = (*Log)(nil)

// Open opens the log in directory dir, creating both if needed. A new log
// gets a fresh epoch; an existing one continues its Seq after the last event
// it holds, and keeps its epoch unless acknowledged events may have been lost
// since it was last open (see recordRun).
func Open(dir string, opts Options) (*Log, error) {
	opts.setDefaults()
	// A block cache big enough for the recent tail, which is what resuming
	// subscribers replay; the engine's default (8 MiB) holds ~30,000 events.
	cache := pebble.NewCache(cacheSize)
	defer cache.Unref() // the engine holds its own reference while open
	wal := newWALFS(opts.fs, opts.Sync)
	db, err := pebble.Open(dir, &pebble.Options{Cache: cache, FS: wal, Logger: engineLogger{opts.Logger}})
	if err != nil {
		return nil, fmt.Errorf("pebble: opening %s: %w", dir, err)
	}
	l := &Log{
		db:       db,
		wal:      wal,
		opts:     opts,
		dir:      dir,
		reqs:     make(chan *request),
		trims:    make(chan trimRequest),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		syncDone: make(chan struct{}),
		tail:     tail.New(0),
	}
	if err := l.load(); err != nil {
		_ = db.Close()
		return nil, err
	}
	l.tail.Advance(l.st.last)
	go l.write()
	if opts.Sync == SyncBatch {
		go l.syncLoop()
	} else {
		close(l.syncDone)
	}
	return l, nil
}

// load reads the epoch and state and records this run, or writes them all
// for a new log.
func (l *Log) load() error {
	e, closer, err := l.db.Get(keyEpoch)
	if errors.Is(err, pebble.ErrNotFound) {
		l.epoch, l.st = epoch.New(), state{first: 1}
		b := l.db.NewBatch()
		defer b.Close()
		_ = b.Set(keyEpoch, []byte(l.epoch), nil)
		_ = b.Set(keyState, l.st.encode(), nil)
		_ = b.Set(keyRun, run{policy: l.opts.Sync, boot: l.opts.BootID}.encode(), nil)
		if err := l.commitDurably(b); err != nil {
			return fmt.Errorf("pebble: creating the log in %s: %w", l.dir, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("pebble: reading the epoch in %s: %w", l.dir, err)
	}
	l.epoch = string(e)
	_ = closer.Close()
	s, closer, err := l.db.Get(keyState)
	if err != nil {
		return fmt.Errorf("pebble: reading the state in %s: %w", l.dir, err)
	}
	l.st, err = decodeState(s)
	_ = closer.Close()
	if err != nil {
		return err
	}
	return l.recordRun()
}

// Dir returns the directory the log is kept in.
func (l *Log) Dir() string { return l.dir }

// Read implements [hub.Log].
func (l *Log) Read(ctx context.Context, after uint64, limit int) ([]*hub.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("pebble: read limit %d, want at least 1", limit)
	}
	st, err := l.acquire()
	if err != nil {
		return nil, err
	}
	defer l.inUse.RUnlock()
	switch {
	case after+1 < st.first:
		return nil, trimmed(after, st.first)
	case after >= st.last:
		return nil, nil
	}
	end := min(st.last, after+uint64(limit))
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: eventKey(after + 1), UpperBound: eventKey(end + 1)})
	if err != nil {
		return nil, fmt.Errorf("pebble: reading after %d: %w", after, err)
	}
	defer it.Close()
	out := make([]*hub.Event, 0, end-after)
	for ok := it.First(); ok; ok = it.Next() {
		ev := new(hub.Event)
		if err := ev.UnmarshalBinary(it.Value()); err != nil {
			return nil, fmt.Errorf("pebble: event at key %x: %w", it.Key(), err)
		}
		ev.Seq = binary.BigEndian.Uint64(it.Key()[1:])
		if ev.Seq != after+1+uint64(len(out)) {
			// Retention removed events between reading st and iterating.
			return nil, trimmed(after, ev.Seq)
		}
		out = append(out, ev)
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("pebble: reading after %d: %w", after, err)
	}
	if len(out) == 0 {
		return nil, trimmed(after, end+1)
	}
	return out, nil
}

// acquire returns the current state with l.inUse held for reading, or
// ErrClosed (and nothing held) once Close has begun.
func (l *Log) acquire() (state, error) {
	l.inUse.RLock()
	l.mu.RLock()
	st, closed := l.st, l.closed
	l.mu.RUnlock()
	if closed {
		l.inUse.RUnlock()
		return state{}, hub.ErrClosed
	}
	return st, nil
}

func trimmed(after, first uint64) error {
	return fmt.Errorf("%w: reading after %d, oldest retained is %d", hub.ErrTrimmed, after, first)
}

// Wait implements [hub.Log].
func (l *Log) Wait(ctx context.Context, after uint64) error { return l.tail.Wait(ctx, after) }

// Lookup implements [hub.Log].
func (l *Log) Lookup(ctx context.Context, id string) (uint64, error) {
	st, err := l.acquire()
	if err != nil {
		return 0, err
	}
	defer l.inUse.RUnlock()
	seq, err := l.lookup(id)
	if err != nil {
		return 0, err
	}
	if seq < st.first || seq > st.last {
		return 0, fmt.Errorf("%w: id %q", hub.ErrNotFound, id)
	}
	return seq, nil
}

// lookup returns the Seq stored for id, or an error wrapping ErrNotFound.
func (l *Log) lookup(id string) (uint64, error) {
	if id == "" {
		return 0, fmt.Errorf("%w: empty id", hub.ErrNotFound)
	}
	v, closer, err := l.db.Get(idKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, fmt.Errorf("%w: id %q", hub.ErrNotFound, id)
	}
	if err != nil {
		return 0, fmt.Errorf("pebble: looking up %q: %w", id, err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("pebble: index entry for %q has %d bytes", id, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Info implements [hub.Log].
func (l *Log) Info(ctx context.Context) (hub.Info, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return hub.Info{}, hub.ErrClosed
	}
	return hub.Info{
		Epoch:  l.epoch,
		First:  l.st.first,
		Last:   l.st.last,
		Events: int64(l.st.last + 1 - l.st.first),
		Bytes:  l.st.bytes,
	}, nil
}

// Close implements [hub.Log]: it stops taking Appends, lets the one being
// committed finish, wakes every Wait with ErrClosed, records a clean close
// durably (everything before it is then on the disk too) and closes the
// engine. Calling it again returns the first call's result.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		l.tail.Close()
		close(l.quit)
		<-l.done
		<-l.syncDone
		l.inUse.Lock() // wait for reads under way; later ones see closed
		defer l.inUse.Unlock()
		if f := l.failed.Load(); f != nil {
			// The WAL could not be synced: this close is not clean.
			l.closeErr = errors.Join(*f, l.db.Close())
			return
		}
		b := l.db.NewBatch()
		_ = b.Set(keyRun, run{policy: l.opts.Sync, boot: l.opts.BootID, clean: true}.encode(), nil)
		err := l.commitDurably(b)
		_ = b.Close()
		l.closeErr = errors.Join(err, l.db.Close())
	})
	return l.closeErr
}
