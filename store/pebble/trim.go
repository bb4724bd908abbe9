package pebble

import (
	"context"

	"github.com/ssehub/ssehub/hub"
)

var _ hub.Trimmer = (*Log)(nil)

// trimRequest is one TrimThrough on its way to the writer, the only
// goroutine that changes the log.
type trimRequest struct {
	through uint64
	removed chan int64
}

// TrimThrough implements [hub.Trimmer]: it removes the events with Seq at
// most seq, and the retention's too, in one batch committed like the
// retention's (without fsync: a crash that loses it leaves the events, not
// a gap).
func (l *Log) TrimThrough(ctx context.Context, seq uint64) (int64, error) {
	t := trimRequest{through: seq, removed: make(chan int64, 1)}
	select {
	case l.trims <- t:
	case <-l.quit:
		return 0, hub.ErrClosed
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return <-t.removed, nil
}

func (l *Log) serveTrim(t trimRequest) {
	before := l.st.first
	st := l.trimTo(l.st, min(t.through, l.st.last))
	l.publish(st, false)
	t.removed <- int64(st.first - before)
}
