package pebble

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ssehub/ssehub/hub"
)

// defaultTrimBatch is the most events one trim commit removes. A trim can
// have any number to remove (an operator's keep-0, a reopen with a smaller
// retention, or after a long downtime under an age retention), and one
// batch for all of them holds every removed id and grows without bound
// (peak heap about 150 MB for a million events with 33-byte ids; the engine
// refuses a batch over 4 GiB). Why this many: a batch of 100,000 such ids
// (about 4 MB) is past the engine's large-batch threshold (half a
// memtable), so it is applied as a table of its own rather than inserted
// key by key into the memtable; in batches of 10,000 the same million took
// 6-10 s instead of about 1 s, stalled on the flushes and compactions of
// many small memtables. Measured on the 2-core VM: peak heap 25-33 MB
// whatever the trim removes. Long ids make a batch larger per event, so it
// also ends at maxTrimBatchBytes.
const (
	defaultTrimBatch  = 100_000
	maxTrimBatchBytes = 16 << 20
)

// trim removes the oldest events while the retention is exceeded and
// returns the new state. It works from the front of the log and stops at the
// first event it keeps, so its cost follows what it removes, not what the log
// holds. The deletions are committed without fsync: should a crash lose
// them, the next trim removes those events again (TrimThrough, which no
// retention would repeat, makes its own durable afterwards).
func (l *Log) trim(st state) state { return l.trimTo(st, 0) }

// trimTo is trim that also removes every event with Seq at most through,
// whatever the retention says (0: none). It commits at most trimBatch
// events' removal at a time, each commit with the state it leaves, so that a
// crash between two leaves a log that agrees with what it holds; and it
// publishes the state after every commit but the last, which the caller
// publishes, so that readers see each removal as it is made (one that reads
// meanwhile finds a gap, and answers ErrTrimmed, as Read does).
func (l *Log) trimTo(st state, through uint64) state {
	r := l.opts.Retention
	if r == (hub.Retention{}) && through < st.first || st.first > st.last {
		return st
	}
	now := l.opts.Now()
	if through < st.first && r.MaxAge > 0 && !overRetention(r, st) && l.oldestSeq == st.first && now.Sub(l.oldestTime) <= r.MaxAge {
		return st // the oldest event is young enough, as last time
	}
	for {
		next, more := l.removeBatch(st, through, now)
		if next.first == st.first {
			return st
		}
		if more {
			l.publish(next, false)
		}
		if l.opts.afterTrimBatch != nil {
			l.opts.afterTrimBatch(next)
		}
		if !more {
			return next
		}
		st = next
	}
}

// removeBatch removes, in one commit, up to opts.trimBatch of the oldest
// events that trimTo removes (fewer if their ids fill maxTrimBatchBytes), and returns the state it leaves (st if it removed
// none, or failed) and whether there may be more to remove.
func (l *Log) removeBatch(st state, through uint64, now time.Time) (next state, more bool) {
	r := l.opts.Retention
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: eventKey(st.first), UpperBound: eventKey(st.last + 1)})
	if err != nil {
		l.opts.Logger.Error("applying the retention", "dir", l.dir, "err", err)
		return st, false
	}
	defer it.Close()
	b := l.db.NewBatch()
	defer b.Close()
	next = st
	removed := 0
	for ok := it.First(); ok; ok = it.Next() {
		if removed == l.opts.trimBatch || b.Len() >= maxTrimBatchBytes {
			more = true
			break
		}
		seq := binary.BigEndian.Uint64(it.Key()[1:])
		forced := seq <= through
		over := overRetention(r, next)
		if !forced && !over && r.MaxAge <= 0 {
			break
		}
		var ev hub.Event
		if err := ev.UnmarshalBinary(it.Value()); err != nil {
			l.opts.Logger.Error("applying the retention", "dir", l.dir, "key", it.Key(), "err", err)
			break
		}
		if !forced && !over && (r.MaxAge <= 0 || now.Sub(ev.Time) <= r.MaxAge) {
			l.oldestSeq, l.oldestTime = seq, ev.Time
			break
		}
		if ev.ID != "" {
			_ = b.Delete(idKey(ev.ID), nil)
		}
		next.bytes -= int64(len(it.Value()) + 9)
		next.first = seq + 1
		removed++
	}
	if removed == 0 {
		return st, false
	}
	_ = b.DeleteRange(eventKey(st.first), eventKey(next.first), nil)
	_ = b.Set(keyState, next.encode(), nil)
	if err := b.Commit(pebble.NoSync); err != nil {
		l.opts.Logger.Error("applying the retention", "dir", l.dir, "err", err)
		return st, false
	}
	return next, more
}

// overRetention reports whether st holds more events or bytes than r keeps.
func overRetention(r hub.Retention, st state) bool {
	return r.MaxEvents > 0 && int64(st.last+1-st.first) > r.MaxEvents || r.MaxBytes > 0 && st.bytes > r.MaxBytes
}

func isNotFound(err error) bool { return errors.Is(err, hub.ErrNotFound) }
