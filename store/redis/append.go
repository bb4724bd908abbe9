package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/internal/batch"
	"github.com/ssehub/ssehub/store/internal/epoch"
)

// Concurrent Appends are committed in groups: one committer goroutine
// takes every Append waiting at that moment and sends them in one script
// call, so that they share one round trip, one run of the script's
// bookkeeping (epoch, end, trim) and, under appendfsync always, one fsync
// of the AOF. Redis fsyncs once per turn of its event loop whatever a turn
// executes, so the cost of a durable append is mostly paid per call, not
// per event.
//
// One committer, one call in flight: measured with 32 publishers, two or
// four committers (the next group travelling while Redis fsyncs the
// previous one) were no faster, their groups being smaller. Nor was a
// group that waits for the publishers the last call answered, as the file
// store's does under --sync always: its groups were larger, but the node
// spent more CPU per publish and took fewer (docs/cluster.md).
const (
	// maxGroupEvents and maxGroupBytes bound one group, so that one call
	// holds Redis (single-threaded) only briefly.
	maxGroupEvents = 1024
	maxGroupBytes  = 4 << 20
)

// appendReq is one Append on its way to the committer.
type appendReq struct {
	n     int   // events
	size  int   // bytes of their encodings
	args  []any // per event: id, timeMs, size, encoding
	reply chan appendReply
}

type appendReply struct {
	last uint64 // Seq of the request's last event
	err  error
}

// Append implements [hub.Log]. The events are encoded by the calling
// goroutine and committed with the Appends of other goroutines waiting at
// the same time; each gets its own answer, and one refused for a duplicate
// id leaves the others of its group unaffected. An Append whose ctx ends
// while its group is in flight returns ctx's error, and its events may or
// may not have been appended (as with any call that timed out).
func (l *Log) Append(ctx context.Context, events []*hub.Event) error {
	if l.closed.Load() {
		return hub.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(events) == 0 {
		return nil
	}
	if err := batch.CheckIDs(events); err != nil {
		return err
	}
	r := newAppendReq(events, l.opts.Now())
	select {
	case l.reqs <- r:
	case <-l.quit:
		return hub.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	var rep appendReply
	select {
	case rep = <-r.reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	if rep.err != nil {
		return rep.err
	}
	// The events are set here, by their owner, not by the committer: an
	// Append that gave up on ctx leaves its events untouched.
	for i, ev := range events {
		ev.Seq = rep.last - uint64(len(events)-1-i)
	}
	return nil
}

// newAppendReq encodes events for the script; those without a Time get now.
func newAppendReq(events []*hub.Event, now time.Time) *appendReq {
	r := &appendReq{n: len(events), args: make([]any, 0, 4*len(events)), reply: make(chan appendReply, 1)}
	for _, ev := range events {
		if ev.Time.IsZero() {
			ev.Time = now
		}
		c := *ev
		c.Seq = 0 // the entry id holds it
		b, _ := c.MarshalBinary()
		r.size += len(b)
		// The script reads the time back as digits: an event from before
		// 1970 counts as from 1970, old enough for any age bound.
		r.args = append(r.args, ev.ID, max(ev.Time.UnixMilli(), 0), len(b), b)
	}
	return r
}

// commit is the committer: it runs until Close.
func (l *Log) commit() {
	defer l.committing.Done()
	var group []*appendReq
	for {
		select {
		case r := <-l.reqs:
			group = l.gather(append(group[:0], r))
			l.commitGroup(group)
			clear(group)
		case <-l.quit:
			return
		}
	}
}

// gather adds the Appends already waiting to group, within the bounds.
func (l *Log) gather(group []*appendReq) []*appendReq {
	n, size := group[0].n, group[0].size
	for n < maxGroupEvents && size < maxGroupBytes {
		select {
		case r := <-l.reqs:
			group = append(group, r)
			n += r.n
			size += r.size
		default:
			return group
		}
	}
	return group
}

// commitGroup appends the group in one script call and answers each
// request: its last Seq, its duplicate id, or the call's failure.
func (l *Log) commitGroup(group []*appendReq) {
	rt := l.opts.Retention
	cutoff := int64(0)
	if rt.MaxAge > 0 {
		cutoff = l.opts.Now().Add(-rt.MaxAge).UnixMilli()
	}
	words := 8
	for _, r := range group {
		words += 1 + len(r.args)
	}
	args := make([]any, 0, words)
	m := l.mark.Load()
	sight := l.sighted(m.Epoch)
	args = append(args, m.Epoch, rt.MaxEvents, rt.MaxBytes, cutoff, m.Seq(), epoch.New(), sight.seq, sight.sum)
	for _, r := range group {
		args = append(args, r.n)
		args = append(args, r.args...)
	}
	ctx, cancel := context.WithTimeout(l.ctx, l.opts.Timeout)
	defer cancel()
	res, err := appendScript.Run(ctx, l.rdb, l.keys, args...).Slice()
	if err == nil && len(res) != len(group) {
		err = fmt.Errorf("redis: append answered %d results for %d appends", len(res), len(group))
	}
	for i, r := range group {
		if err != nil {
			r.reply <- appendReply{err: l.fail(l.ctx, "append", err)}
			continue
		}
		rep := answer(res[i])
		if rep.err == nil {
			m.Saw(rep.last)
			if enc, ok := r.args[len(r.args)-1].([]byte); ok {
				l.saw(m.Epoch, rep.last, enc)
			}
		}
		r.reply <- rep
	}
}

// answer reads the script's result for one request: the Seq of its last
// event, or "SEQ ID" for an id the log already holds.
func answer(v any) appendReply {
	switch v := v.(type) {
	case int64:
		return appendReply{last: uint64(v)}
	case string:
		seq, id, _ := strings.Cut(v, " ")
		if _, err := strconv.ParseUint(seq, 10, 64); err == nil {
			return appendReply{err: fmt.Errorf("%w: %q is event %s", hub.ErrDuplicateID, id, seq)}
		}
	}
	return appendReply{err: fmt.Errorf("redis: append answered %v", v)}
}
