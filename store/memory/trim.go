package memory

import (
	"context"

	"github.com/ssehub/ssehub/hub"
)

var _ hub.Trimmer = (*Log)(nil)

// TrimThrough implements [hub.Trimmer]: it removes the events with Seq at
// most seq.
func (l *Log) TrimThrough(ctx context.Context, seq uint64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, hub.ErrClosed
	}
	n := 0
	for n < len(l.events) && l.events[n].Seq <= seq {
		ev := l.events[n]
		l.bytes -= size(ev)
		if ev.ID != "" {
			delete(l.ids, ev.ID)
		}
		l.events[n] = nil
		n++
	}
	l.drop(n)
	return int64(n), nil
}
