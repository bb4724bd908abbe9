package pebble

import (
	"encoding/binary"
	"errors"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ssehub/ssehub/hub"
)

// trim removes the oldest events while the retention is exceeded and
// returns the new state. It works from the front of the log and stops at the
// first event it keeps, so its cost follows what it removes, not what the log
// holds. The deletions are committed without fsync: should a crash lose
// them, the next trim removes those events again (TrimThrough, which no
// retention would repeat, makes its own durable afterwards).
func (l *Log) trim(st state) state { return l.trimTo(st, 0) }

// trimTo is trim that also removes every event with Seq at most through,
// whatever the retention says (0: none).
func (l *Log) trimTo(st state, through uint64) state {
	r := l.opts.Retention
	if r == (hub.Retention{}) && through < st.first || st.first > st.last {
		return st
	}
	now := l.opts.Now()
	if through < st.first && r.MaxAge > 0 && !overRetention(r, st) && l.oldestSeq == st.first && now.Sub(l.oldestTime) <= r.MaxAge {
		return st // the oldest event is young enough, as last time
	}
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: eventKey(st.first), UpperBound: eventKey(st.last + 1)})
	if err != nil {
		l.opts.Logger.Error("applying the retention", "dir", l.dir, "err", err)
		return st
	}
	defer it.Close()
	b := l.db.NewBatch()
	defer b.Close()
	next := st
	for ok := it.First(); ok; ok = it.Next() {
		forced := binary.BigEndian.Uint64(it.Key()[1:]) <= through
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
			l.oldestSeq, l.oldestTime = binary.BigEndian.Uint64(it.Key()[1:]), ev.Time
			break
		}
		if ev.ID != "" {
			_ = b.Delete(idKey(ev.ID), nil)
		}
		next.bytes -= int64(len(it.Value()) + 9)
		next.first = binary.BigEndian.Uint64(it.Key()[1:]) + 1
	}
	if next.first == st.first {
		return st
	}
	_ = b.DeleteRange(eventKey(st.first), eventKey(next.first), nil)
	_ = b.Set(keyState, next.encode(), nil)
	if err := b.Commit(pebble.NoSync); err != nil {
		l.opts.Logger.Error("applying the retention", "dir", l.dir, "err", err)
		return st
	}
	return next
}

// overRetention reports whether st holds more events or bytes than r keeps.
func overRetention(r hub.Retention, st state) bool {
	return r.MaxEvents > 0 && int64(st.last+1-st.first) > r.MaxEvents || r.MaxBytes > 0 && st.bytes > r.MaxBytes
}

func isNotFound(err error) bool { return errors.Is(err, hub.ErrNotFound) }
