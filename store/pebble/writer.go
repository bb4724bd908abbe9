package pebble

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/internal/batch"
)

// request is one Append on its way to the writer.
type request struct {
	events []*hub.Event
	values [][]byte // the events' encodings, with Seq 0: the key holds it
	first  uint64   // Seq given to events[0], set by the writer
	done   chan error
}

// Append implements [hub.Log]. Events are encoded by the calling goroutine;
// one writer goroutine then gathers the Appends waiting at that moment into
// one batch and one commit (group commit), so that under SyncAlways
// concurrent publishers share each fsync. An event without Time gets the
// log's clock's time.
func (l *Log) Append(ctx context.Context, events []*hub.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := batch.CheckIDs(events); err != nil {
		return err
	}
	now := l.opts.Now()
	r := &request{events: events, values: make([][]byte, len(events)), done: make(chan error, 1)}
	for i, ev := range events {
		if ev.Time.IsZero() {
			ev.Time = now
		}
		c := *ev
		c.Seq = 0
		r.values[i], _ = c.MarshalBinary()
	}
	select {
	case l.reqs <- r:
	case <-l.quit:
		return hub.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// The writer has the events now; its answer comes within one commit,
	// so it is awaited even if ctx ends, to report what happened.
	return <-r.done
}

// write is the writer goroutine: the only one that changes the log.
func (l *Log) write() {
	defer close(l.done)
	var ageTick <-chan time.Time
	if age := l.opts.Retention.MaxAge; age > 0 {
		t := time.NewTicker(min(max(age/2, time.Second), time.Minute))
		defer t.Stop()
		ageTick = t.C
	}
	var group []*request
	var g grouping
	for {
		select {
		case r := <-l.reqs:
			group = l.gather(append(group[:0], r), &g)
			start := time.Now()
			l.commit(group)
			g.committed(len(group), time.Since(start))
			clear(group)
		case <-ageTick:
			l.publish(l.trim(l.st), false)
		case t := <-l.trims:
			l.serveTrim(t)
		case <-l.quit:
			for {
				select {
				case r := <-l.reqs:
					r.done <- hub.ErrClosed
				default:
					return
				}
			}
		}
	}
}

// syncLoop makes the WAL durable under SyncBatch: after a commit, it waits
// BatchDelay and fsyncs once for everything written meanwhile. So there is
// at most one fsync per BatchDelay, an acknowledged event is on the disk
// about BatchDelay (plus one fsync) after its Append returned, and the fsync
// runs beside the writer, never holding a commit up. Close syncs the rest.
func (l *Log) syncLoop() {
	defer close(l.syncDone)
	t := time.NewTimer(l.opts.BatchDelay)
	t.Stop() // armed after each commit
	for {
		select {
		case <-l.wal.dirty:
		case <-l.quit:
			return
		}
		t.Reset(l.opts.BatchDelay)
		select {
		case <-t.C:
		case <-l.quit:
			return
		}
		if err := l.wal.syncNow(); err != nil {
			// What was acknowledged may never reach the disk: refuse
			// further Appends rather than acknowledge more of the same.
			l.opts.Logger.Error("syncing the event log", "dir", l.dir, "err", err)
			failed := fmt.Errorf("pebble: syncing: %w", err)
			l.failed.CompareAndSwap(nil, &failed)
		}
	}
}

// gather adds the Appends already waiting to group, up to MaxGroup events.
// Under SyncAlways it may then wait a little for more (see grouping).
func (l *Log) gather(group []*request, g *grouping) []*request {
	n := 0
	for _, r := range group {
		n += len(r.events)
	}
	for waiting := true; waiting && n < l.opts.MaxGroup; {
		select {
		case r := <-l.reqs:
			group = append(group, r)
			n += len(r.events)
		default:
			waiting = false
		}
	}
	want, wait := g.more(len(group), l.opts.Sync)
	if wait <= 0 || n >= l.opts.MaxGroup {
		return group
	}
	return l.await(group, n, want, wait)
}

// await adds Appends to group, which holds n events, as they arrive, until
// it has want requests or MaxGroup events, wait passed or the log closes.
func (l *Log) await(group []*request, n, want int, wait time.Duration) []*request {
	t := time.NewTimer(wait)
	defer t.Stop()
	for n < l.opts.MaxGroup && len(group) < want {
		select {
		case r := <-l.reqs:
			group = append(group, r)
			n += len(r.events)
		case <-t.C:
			return group
		case <-l.quit:
			return group
		}
	}
	return group
}

// grouping is what the writer remembers of its latest commit, to decide
// whether a group waits for more Appends. Under SyncAlways every commit
// costs one fsync, which on the machines measured took 0.3-1 ms and about
// 100 us of CPU in the kernel, however many events it carried: a commit of
// two events pays that per two. The publishers the last commit answered are
// the ones most likely to append again soon (each waits for its answer
// before sending the next), so a group waits for as many more requests as
// the last commit answered, for at most as long as that commit took (and
// never more than maxGroupWait): an Append then waits at most about two
// commits. A lone publisher's commits answer one request, which is back
// only after its own round trip: its groups never wait.
type grouping struct {
	answered int           // requests the latest commit answered
	took     time.Duration // how long it took
	most     time.Duration // the longest wait; 0 means maxGroupWait
}

// maxGroupWait bounds the wait for more Appends, whatever commits cost.
const maxGroupWait = time.Millisecond

// more returns how many requests a group of have should reach, and how long
// it may wait for them.
func (g *grouping) more(have int, policy SyncPolicy) (want int, wait time.Duration) {
	if policy != SyncAlways || g.answered <= 1 {
		return have, 0
	}
	return have + g.answered, min(g.took, cmp.Or(g.most, maxGroupWait))
}

// committed records a commit: how many requests it answered, in how long.
func (g *grouping) committed(requests int, took time.Duration) {
	g.answered, g.took = requests, took
}

// commit appends the group's events in one batch, applies the retention,
// publishes the new extent and answers every request.
func (l *Log) commit(group []*request) {
	if f := l.failed.Load(); f != nil {
		for _, r := range group {
			r.done <- *f
		}
		return
	}
	b := l.db.NewBatch()
	defer b.Close()
	st := l.st
	held := make(map[string]bool)
	accepted := group[:0:0]
	for _, r := range group {
		if err := l.checkHeld(r.events, held, st); err != nil {
			r.done <- err
			continue
		}
		r.first = st.last + 1
		for i, ev := range r.events {
			st.last++
			_ = b.Set(eventKey(st.last), r.values[i], nil)
			if ev.ID != "" {
				held[ev.ID] = true
				_ = b.Set(idKey(ev.ID), binary.BigEndian.AppendUint64(nil, st.last), nil)
			}
			st.bytes += int64(len(r.values[i]) + 9)
		}
		accepted = append(accepted, r)
	}
	if len(accepted) == 0 {
		return
	}
	_ = b.Set(keyState, st.encode(), nil)
	// Synced under every policy: only a synced commit waits until the
	// engine wrote the record to the operating system, which is what
	// survives kill -9. walFS decides what the sync costs (see there).
	if err := b.Commit(pebble.Sync); err != nil {
		l.opts.Logger.Error("appending to the event log", "dir", l.dir, "err", err)
		for _, r := range accepted {
			r.done <- fmt.Errorf("pebble: appending: %w", err)
		}
		return
	}
	l.publish(l.trim(st), true)
	for _, r := range accepted {
		for i, ev := range r.events {
			ev.Seq = r.first + uint64(i)
		}
		r.done <- nil
	}
}

// checkHeld refuses events whose id the log holds or an earlier request of
// the same group takes.
func (l *Log) checkHeld(events []*hub.Event, group map[string]bool, st state) error {
	for _, ev := range events {
		if ev.ID == "" {
			continue
		}
		if group[ev.ID] {
			return fmt.Errorf("%w: %q", hub.ErrDuplicateID, ev.ID)
		}
		seq, err := l.lookup(ev.ID)
		switch {
		case err == nil && seq >= st.first:
			return fmt.Errorf("%w: %q is event %d", hub.ErrDuplicateID, ev.ID, seq)
		case err != nil && !isNotFound(err):
			return err
		}
	}
	return nil
}

// publish makes st what readers see, and wakes waiters if events were added.
func (l *Log) publish(st state, grew bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.st = st
	if grew {
		l.tail.Advance(st.last)
	}
}
