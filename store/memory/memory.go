// Package memory is a [hub.Log] kept in process memory: fast, bounded by
// its retention, and gone when the process ends. Use it for tests, demos and
// hubs whose events need not survive a restart.
package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/internal/epoch"
	"github.com/ssehub/ssehub/store/internal/tail"
)

// Options configure a Log. The zero value keeps every event forever.
type Options struct {
	// Retention bounds what the log keeps. It is applied on every Append,
	// and by age also whenever the log is read.
	Retention hub.Retention
	// Now is the clock used for retention by age and for events appended
	// without a Time; nil means time.Now.
	Now func() time.Time
}

// Log is an in-memory [hub.Log]. Events returned by Read are shared with the
// log and other readers and must not be modified.
type Log struct {
	opts  Options
	epoch string

	mu     sync.RWMutex
	events []*hub.Event // retained events, oldest first; events[i].Seq == first+i
	first  uint64       // Seq of events[0], or last+1 when none
	last   uint64
	bytes  int64
	ids    map[string]uint64
	tail   *tail.Tail // wakes Wait when events are appended
	closed bool
}

var _ hub.Log = (*Log)(nil)

// New returns an empty log with a fresh epoch.
func New(opts Options) *Log {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Log{
		opts:  opts,
		epoch: epoch.New(),
		first: 1,
		ids:   make(map[string]uint64),
		tail:  tail.New(0),
	}
}

// Append implements [hub.Log]. It stores copies of the events: later changes
// to them do not reach the log.
func (l *Log) Append(ctx context.Context, events []*hub.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := l.opts.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return hub.ErrClosed
	}
	if err := checkIDs(events, l.ids); err != nil {
		return err
	}
	for _, ev := range events {
		l.last++
		ev.Seq = l.last
		if ev.Time.IsZero() {
			ev.Time = now
		}
		c := *ev
		c.Topics = slices.Clone(ev.Topics)
		l.events = append(l.events, &c)
		l.bytes += size(&c)
		if c.ID != "" {
			l.ids[c.ID] = c.Seq
		}
	}
	l.trim(now)
	l.tail.Advance(l.last)
	return nil
}

// checkIDs reports an error wrapping ErrDuplicateID if an event's id is
// already held or appears twice in events.
func checkIDs(events []*hub.Event, held map[string]uint64) error {
	var batch map[string]bool
	for i, ev := range events {
		if ev.ID == "" {
			continue
		}
		if seq, ok := held[ev.ID]; ok {
			return fmt.Errorf("%w: %q is event %d", hub.ErrDuplicateID, ev.ID, seq)
		}
		if batch == nil {
			batch = make(map[string]bool, len(events)-i)
		}
		if batch[ev.ID] {
			return fmt.Errorf("%w: %q appears twice in the batch", hub.ErrDuplicateID, ev.ID)
		}
		batch[ev.ID] = true
	}
	return nil
}

// size approximates the memory an event holds.
func size(ev *hub.Event) int64 {
	n := 64 + len(ev.ID) + len(ev.Type) + len(ev.Data)
	for _, t := range ev.Topics {
		n += 16 + len(t)
	}
	return int64(n)
}

// trim removes the oldest events while the retention is exceeded. The
// caller holds l.mu for writing.
func (l *Log) trim(now time.Time) {
	r := l.opts.Retention
	n := 0
	for n < len(l.events) {
		ev := l.events[n]
		over := r.MaxEvents > 0 && int64(len(l.events)-n) > r.MaxEvents ||
			r.MaxBytes > 0 && l.bytes > r.MaxBytes ||
			r.MaxAge > 0 && now.Sub(ev.Time) > r.MaxAge
		if !over {
			break
		}
		l.bytes -= size(ev)
		if ev.ID != "" {
			delete(l.ids, ev.ID)
		}
		l.events[n] = nil
		n++
	}
	l.drop(n)
}

// drop forgets the n oldest events, already cleared. The caller holds l.mu
// for writing.
func (l *Log) drop(n int) {
	if n == 0 {
		return
	}
	l.first += uint64(n)
	l.events = l.events[n:]
	// Copy the survivors down once the slice's dead front outweighs them, so
	// that memory follows what is retained rather than what was ever appended.
	if cap(l.events) > 64 && len(l.events) < cap(l.events)/4 {
		l.events = append(make([]*hub.Event, 0, 2*len(l.events)), l.events...)
	}
}

// expired reports whether the oldest event is older than the retention by
// age; then the caller trims under the write lock.
func (l *Log) expired(now time.Time) bool {
	return l.opts.Retention.MaxAge > 0 && len(l.events) > 0 && now.Sub(l.events[0].Time) > l.opts.Retention.MaxAge
}

// lockRead takes the read lock after applying the retention by age, so that
// events past their age are not served just because nothing was appended.
func (l *Log) lockRead() error {
	now := l.opts.Now()
	l.mu.RLock()
	if l.expired(now) {
		l.mu.RUnlock()
		l.mu.Lock()
		l.trim(now)
		l.mu.Unlock()
		l.mu.RLock()
	}
	if l.closed {
		l.mu.RUnlock()
		return hub.ErrClosed
	}
	return nil
}

// Read implements [hub.Log].
func (l *Log) Read(ctx context.Context, after uint64, limit int) ([]*hub.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("memory: read limit %d, want at least 1", limit)
	}
	if err := l.lockRead(); err != nil {
		return nil, err
	}
	defer l.mu.RUnlock()
	if after+1 < l.first {
		return nil, fmt.Errorf("%w: reading after %d, oldest retained is %d", hub.ErrTrimmed, after, l.first)
	}
	if after >= l.last {
		return nil, nil
	}
	i := int(after + 1 - l.first)
	j := i + min(limit, len(l.events)-i) // not i+limit: a huge limit overflows
	return slices.Clone(l.events[i:j]), nil
}

// Wait implements [hub.Log].
func (l *Log) Wait(ctx context.Context, after uint64) error { return l.tail.Wait(ctx, after) }

// Lookup implements [hub.Log].
func (l *Log) Lookup(ctx context.Context, id string) (uint64, error) {
	if err := l.lockRead(); err != nil {
		return 0, err
	}
	defer l.mu.RUnlock()
	seq, ok := l.ids[id]
	if !ok {
		return 0, fmt.Errorf("%w: id %q", hub.ErrNotFound, id)
	}
	return seq, nil
}

// Info implements [hub.Log].
func (l *Log) Info(ctx context.Context) (hub.Info, error) {
	if err := l.lockRead(); err != nil {
		return hub.Info{}, err
	}
	defer l.mu.RUnlock()
	return hub.Info{
		Epoch:  l.epoch,
		First:  l.first,
		Last:   l.last,
		Events: int64(len(l.events)),
		Bytes:  l.bytes,
	}, nil
}

// Close implements [hub.Log]. It wakes every Wait with ErrClosed; the
// events are dropped.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		l.tail.Close()
		l.events, l.ids = nil, nil
	}
	return nil
}
