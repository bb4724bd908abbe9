package hub

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// dispatch follows the log's tail from pos and fans every event out to the
// subscriptions that want it. It runs in one goroutine for the life of the
// hub, so events reach every subscriber in log order.
func (h *Hub) dispatch(pos uint64) {
	defer h.wg.Done()
	failures := 0
	for {
		h.tailMu.Lock()
		tail := h.tail
		h.tailMu.Unlock()
		events, err := h.next(tail, pos)
		switch {
		case h.ctx.Err() != nil || errors.Is(err, ErrClosed):
			return
		case tail.Err() != nil:
			h.tailMu.Lock()
			h.tail, h.tailCancel = context.WithCancel(h.ctx)
			h.tailMu.Unlock()
			pos = h.replaced(pos)
			continue
		case errors.Is(err, ErrReplaced):
			pos = h.replaced(pos)
			continue
		case errors.Is(err, ErrTrimmed):
			pos = h.skipTrimmed(pos)
			continue
		case err != nil:
			failures++
			h.opts.Logger.Error("reading the log tail", "after", pos, "err", err, "failures", failures)
			if !h.pause(failures) {
				return
			}
			continue
		}
		failures = 0
		for len(events) > 0 {
			n := sameAudience(events)
			h.fanout(events[:n])
			pos = events[n-1].Seq
			events = events[n:]
		}
		h.wakeQueued()
	}
}

// wakeQueued wakes, once each, the subscriptions the events just fanned
// out were queued for (see enqueue).
func (h *Hub) wakeQueued() {
	for i, s := range h.toWake {
		s.wakeDue = false
		s.wakeNow()
		h.toWake[i] = nil
	}
	h.toWake = h.toWake[:0]
}

// next waits for and reads the events after pos: in one call to a Tailer,
// in two to any other log.
func (h *Hub) next(ctx context.Context, pos uint64) ([]*Event, error) {
	if t, ok := h.log.(Tailer); ok {
		return t.ReadWait(ctx, pos, h.opts.ReplayBatch)
	}
	if err := h.log.Wait(ctx, pos); err != nil {
		return nil, err
	}
	// The append that woke the dispatcher made it the next goroutine to
	// run, ahead of the publishers already runnable with their own
	// events. Letting them go first gathers their events into this read:
	// each subscriber then gets them in one write instead of one write
	// each. With 32 publishers of one event and 10 subscribers (memory
	// log, docs/benchmarks.md "Publishing") this took the hub from 10 to
	// under 2 writes per publish, and halved its CPU per publish.
	runtime.Gosched()
	return h.log.Read(ctx, pos, h.opts.ReplayBatch)
}

// recheck is told the epoch an Info outside the dispatcher reported. A
// log owes ErrReplaced only until Info is called, and that may be a
// subscriber's or a history request's call, not the dispatcher's; so when
// the epoch is not the hub's, the dispatcher's wait is cut short and it
// reads Info itself (replaced).
func (h *Hub) recheck(epoch string) {
	if epoch == h.Epoch() {
		return
	}
	h.tailMu.Lock()
	h.tailCancel()
	h.tailMu.Unlock()
}

// replaced handles a log whose storage was wiped or replaced: positions of
// the old epoch mean nothing in the new one, so the hub takes the new epoch
// and ends every subscription; each client resumes with an id of the old
// epoch and is told with a reset event that it cannot be resumed from. It
// returns the position to follow the new log from.
func (h *Hub) replaced(pos uint64) uint64 {
	info, err := h.log.Info(h.ctx)
	if err != nil {
		h.opts.Logger.Error("reading the log after it was replaced", "err", err)
		h.pause(1)
		return pos
	}
	if info.Epoch == h.Epoch() {
		return pos // already taken (a log may report one replacement twice)
	}
	return h.adopt(info)
}

// adopt takes the new epoch of a replaced log, as replaced says.
func (h *Hub) adopt(info Info) uint64 {
	h.opts.Logger.Error("the log was replaced; ending every subscription so clients reset",
		"old", h.Epoch(), "new", info.Epoch, "last", info.Last)
	// All under the write lock: a subscription registers either before,
	// and is ended, or after, with the new epoch and its position. The
	// recent frames are of the old epoch: resumers of the new one must
	// not be served them (their Seqs start again).
	h.reg.mu.Lock()
	h.recent.reset(info.Last)
	h.reg.epoch.Store(&info.Epoch)
	h.reg.dispatched.Store(info.Last)
	h.reg.endLocked(ErrReplaced)
	h.reg.mu.Unlock()
	return info.Last
}

// skipTrimmed handles the dispatcher falling so far behind that retention
// removed events it had not dispatched. Live subscribers would silently miss
// them, so every one is ended: its client reconnects and is told explicitly
// what it cannot recover.
func (h *Hub) skipTrimmed(pos uint64) uint64 {
	info, err := h.log.Info(h.ctx)
	if err != nil {
		h.opts.Logger.Error("reading the log after events were trimmed", "err", err)
		h.pause(1)
		return pos
	}
	if info.Epoch != h.Epoch() {
		return h.adopt(info) // this Info may be the one the replacement waited for
	}
	h.opts.Logger.Error("dispatcher fell behind retention; ending every subscription so clients resume",
		"after", pos, "first", info.First)
	h.recent.reset(info.First - 1)
	h.reg.endAll(ErrLagged)
	return info.First - 1
}

// pause waits before retrying a failed log read, longer after each failure,
// and reports false when the hub is closing.
func (h *Hub) pause(failures int) bool {
	d := min(time.Duration(failures)*50*time.Millisecond, 2*time.Second)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-h.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// sameAudience returns how many events from the first have its topics and
// privacy, and so go to the same subscriptions: a batch published to one
// topic is one such run.
func sameAudience(events []*Event) int {
	n := 1
	for n < len(events) && events[n].Private == events[0].Private && slices.Equal(events[n].Topics, events[0].Topics) {
		n++
	}
	return n
}

// fanout encodes each event of run once and queues the bytes to every
// subscription that wants them. The events of run go to the same
// subscriptions (sameAudience), so each is found, checked and locked once
// for the whole run: a batch of ten to 6,000 streams costs 6,000 of
// those, not 60,000. It never blocks on a subscriber.
func (h *Hub) fanout(run []*Event) {
	frames := h.frames[:0]
	for _, ev := range run {
		frame := h.encode(ev)
		h.stats.dispatched.Add(1)
		// Before the event counts as dispatched (reg.each), so a
		// subscriber registering after it finds it here.
		h.recent.add(ev, frame)
		h.fig.lag.Observe(h.opts.Now().Sub(ev.Time))
		if frame != nil {
			frames = append(frames, queued{ev.Seq, frame})
		}
	}
	defer func() {
		// Kept for the next run, without holding on to these frames:
		// the recent ring decides how long they live.
		clear(frames)
		h.frames = frames[:0]
	}()
	if len(frames) == 0 {
		return
	}
	first, last := run[0], run[len(run)-1].Seq
	h.reg.each(first.Topics, last, func(s *Subscription, matched bool) {
		if s.lastOffered == last {
			return // reached through two of its topics
		}
		s.lastOffered = last
		if (matched || matchAny(s.selectors, first.Topics)) && s.allows(first) {
			slow, wake := s.enqueue(frames)
			if slow {
				h.stats.slow.Add(1)
				h.opts.Logger.Info("disconnecting a slow subscriber", "seq", last,
					"maxQueued", h.opts.QueueSize, "maxQueuedBytes", h.opts.QueueBytes)
			}
			if wake && !s.wakeDue {
				s.wakeDue = true
				h.toWake = append(h.toWake, s)
			}
		}
	})
}

// encode returns ev's SSE encoding, or nil for an event that cannot be sent
// (only an event written to the log behind the hub's back can be invalid).
func (h *Hub) encode(ev *Event) []byte {
	e := sse.Event{ID: h.idOf(ev), Type: ev.Type, Data: ev.Data, Retry: ev.Retry}
	b, err := e.AppendTo(make([]byte, 0, e.EncodedLen()))
	if err != nil {
		h.opts.Logger.Error("skipping an event that cannot be encoded", "seq", ev.Seq, "err", err)
		return nil
	}
	return b
}
