package pebble

import (
	"context"
	"fmt"

	"github.com/ssehub/ssehub/hub"
)

var _ hub.Trimmer = (*Log)(nil)

// trimRequest is one TrimThrough on its way to the writer, the only
// goroutine that changes the log.
type trimRequest struct {
	through uint64
	done    chan trimResult
}

type trimResult struct {
	removed int64
	err     error
}

// TrimThrough implements [hub.Trimmer]: it removes the events with Seq at
// most seq, and the retention's too, and returns once that is on the disk,
// whatever the sync policy: an operator's trim on a quiet log must not be
// undone by a power loss (TestTrimThroughSurvivesAPowerLoss). The
// retention's own trims are committed without fsync (see trim).
func (l *Log) TrimThrough(ctx context.Context, seq uint64) (int64, error) {
	t := trimRequest{through: seq, done: make(chan trimResult, 1)}
	select {
	case l.trims <- t:
	case <-l.quit:
		return 0, hub.ErrClosed
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	r := <-t.done
	return r.removed, r.err
}

func (l *Log) serveTrim(t trimRequest) {
	before := l.st.first
	st := l.trimTo(l.st, min(t.through, l.st.last))
	l.publish(st, false)
	// The removal was committed without fsync, as the retention's is; a
	// durable commit of the state after it makes it durable too, since the
	// engine's WAL only ever reaches the disk as a prefix. It is made even
	// when nothing was removed now, for an earlier trim of the retention
	// may still be in the operating system only.
	b := l.db.NewBatch()
	defer b.Close()
	_ = b.Set(keyState, st.encode(), nil)
	var err error
	if cerr := l.commitDurably(b); cerr != nil {
		// As in syncLoop: what was acknowledged may never reach the disk.
		l.opts.Logger.Error("syncing the event log after a trim", "dir", l.dir, "err", cerr)
		err = fmt.Errorf("pebble: syncing the trim: %w", cerr)
		l.failed.CompareAndSwap(nil, &err)
	}
	t.done <- trimResult{removed: int64(st.first - before), err: err}
}
