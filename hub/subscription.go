package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// Errors that end a subscription.
var (
	// ErrSlowSubscriber: the subscriber's queue overflowed. Its client
	// should reconnect with its last event id and catch up from the log.
	ErrSlowSubscriber = errors.New("subscriber too slow: queue full")
	// ErrLagged: the hub's dispatcher fell behind retention; reconnecting
	// tells the client explicitly what it cannot recover.
	ErrLagged = errors.New("hub fell behind the log's retention")
	// ErrUnsubscribed: Close was called.
	ErrUnsubscribed = errors.New("subscription closed")
)

// ResetType is the SSE event type a subscriber receives when its
// Last-Event-ID cannot be resumed from: the id is unknown (from another hub
// or a wiped store, or never published) or older than the log's retention.
// Its data is a JSON object {"reason", "lastEventId", "resumeFrom"}; its id
// is the position the stream continues from. A client receiving it should
// reload its state (for example from GET /history or its own API) and keep
// listening: the live stream continues after it.
const ResetType = "ssehub-reset"

// Reasons given in a reset event.
const (
	ResetUnknownID = "unknown-id"
	ResetExpired   = "expired"
)

// SubscribeRequest says what a subscriber wants.
type SubscribeRequest struct {
	// Topics are selectors (exact topics, URI templates or "*"); at least one.
	Topics []string
	// Allowed are selectors of the private topics the subscriber may
	// receive (from its credentials); empty means public events only.
	Allowed []string
	// LastEventID resumes the stream after this event; empty: from now on.
	LastEventID string
	// Door names the front door ("native", "mercure"; empty: "direct")
	// and Remote the subscriber's address, for metrics and the admin API.
	Door, Remote string
}

// A Subscription delivers encoded events to one subscriber. Its owner calls
// Next in a loop, writes what it returns, and calls Close when done. Next
// must not be called concurrently.
type Subscription struct {
	h         *Hub
	selectors []*Selector
	allowed   []*Selector
	after     string // see After; set by Subscribe, then read-only
	meta      subMeta

	// lastOffered and wakeDue are touched only by the dispatcher:
	// wakeDue says s is in its list of subscriptions to wake once the
	// events it read are all fanned out.
	lastOffered uint64
	wakeDue     bool

	mu        sync.Mutex
	queue     []queued // live frames waiting, at most h.opts.QueueSize
	queued    int      // bytes of the frames in queue, at most h.opts.QueueBytes
	live      bool     // replay finished: overflow now means too slow
	overflow  bool     // the queue overflowed while replaying
	dropped   uint64   // Seq of the last event dropped by the overflow
	err       error    // why the subscription ended
	signal    chan struct{}
	ready     func() // from OnReady, called after signal
	closeOnce sync.Once

	// The rest is owned by the goroutine calling Next.
	pos       uint64   // Seq of the last event delivered or skipped
	since     uint64   // Seq the replay must reach: later ones are queued
	replaying bool     // events after pos are read from the log
	first     [][]byte // frames to deliver before anything else
	spare     []queued
	idleMark  uint64 // 1 + the heartbeat count when an idle Poll found big buffers; 0: busy
}

type queued struct {
	seq   uint64
	frame []byte
}

// Subscribe registers a subscription. With a LastEventID it first replays
// everything the log holds after that event, then continues live, with no
// gap and no duplicate between the two. An id that cannot be resumed from is
// answered with a ResetType event, then the stream continues live.
func (h *Hub) Subscribe(ctx context.Context, req SubscribeRequest) (*Subscription, error) {
	if h.closed.Load() {
		return nil, ErrHubClosed
	}
	s := &Subscription{h: h, signal: make(chan struct{}, 1)}
	var err error
	if s.selectors, err = h.parseSelectors(req.Topics, true); err != nil {
		return nil, err
	}
	s.allowed = h.parseAllowed(req.Allowed)
	reset, resolved := "", ""
	if req.LastEventID != "" {
		s.pos, resolved, err = h.resolveFor(ctx, req.LastEventID, s.allowed)
		switch {
		case err == nil:
			s.replaying = true
		case errors.Is(err, ErrNotFound):
			reset = ResetUnknownID
		case errors.Is(err, ErrTrimmed):
			reset = ResetExpired
		default:
			return nil, err
		}
	}
	s.live = !s.replaying
	h.fig.describe(s, req, h.opts.Now())
	dispatched, epoch, ok := h.reg.add(s)
	if !ok {
		return nil, ErrHubClosed // Close ran while this was being set up
	}
	s.after = req.LastEventID
	s.since = dispatched
	switch {
	case resolved != "" && resolved != epoch:
		// The id was resolved in another epoch than the hub serves: the
		// log was replaced in between, and the hub has taken the new
		// epoch or is about to. The position means nothing here; the
		// client reconnects and is answered in the new epoch.
		s.replaying = false
		s.end(ErrReplaced)
	case !s.replaying:
		s.pos = dispatched
		s.first = [][]byte{h.positionFrame(epoch, dispatched, reset, req.LastEventID)}
		s.after = FormatID(epoch, dispatched)
	}
	h.fig.opened(s, reset)
	return s, nil
}

// After returns the id of the event the subscription starts after: the
// LastEventID it resumes from, or, for one that starts live (no id, or one
// that could not be resumed from), the position where it joined the log.
// Mercure's Last-Event-ID response header carries it, so a client can
// tell whether it missed anything.
func (s *Subscription) After() string { return s.after }

// parseAllowed compiles the selectors of a token's rights. They are the
// issuer's, not the request's: none of the request's limits applies, and
// one that does not compile grants nothing (as on the publish side)
// rather than refusing the request for what the token holds.
func (h *Hub) parseAllowed(raw []string) []*Selector {
	sels := make([]*Selector, 0, len(raw))
	for _, r := range raw {
		if s, err := h.selectors.Get(r); err == nil {
			sels = append(sels, s)
		}
	}
	return sels
}

func (h *Hub) parseSelectors(raw []string, required bool) ([]*Selector, error) {
	if required && len(raw) == 0 {
		return nil, fmt.Errorf("%w: at least one topic selector is required", ErrInvalidSelector)
	}
	if len(raw) > MaxTopics {
		return nil, fmt.Errorf("%w: %d selectors, at most %d allowed", ErrInvalidSelector, len(raw), MaxTopics)
	}
	sels := make([]*Selector, len(raw))
	for i, r := range raw {
		s, err := h.selectors.Get(r)
		if err != nil {
			return nil, err
		}
		sels[i] = s
	}
	return sels, nil
}

// resolve returns the Seq of the event with the given id, and the epoch of
// the log it was resolved in: a hub-assigned id of this log's epoch is
// parsed, any other id is looked up.
func (h *Hub) resolve(ctx context.Context, id string) (uint64, string, error) {
	info, err := h.log.Info(ctx)
	if err != nil {
		return 0, "", err
	}
	h.recheck(info.Epoch)
	seq, err := uint64(0), error(nil)
	if epoch, n, ok := ParseID(id); ok && epoch == info.Epoch {
		if n > info.Last {
			return 0, info.Epoch, fmt.Errorf("%w: %q is beyond the end of the log", ErrNotFound, id)
		}
		seq = n
	} else if seq, err = h.log.Lookup(ctx, id); err != nil {
		return 0, info.Epoch, err
	}
	if seq+1 < info.First {
		return 0, info.Epoch, fmt.Errorf("%w: %q is older than the log's retention", ErrTrimmed, id)
	}
	return seq, info.Epoch, nil
}

// resolveFor is resolve for a reader with the given rights. A publisher's
// id of a private event the reader may not receive is answered as
// unknown: its existence, and its place in the log, are not the reader's
// to learn (an id such as invoice-2026-0042 could be guessed). The hub's
// own ids of this epoch tell nothing of the sort, and are not looked at.
func (h *Hub) resolveFor(ctx context.Context, id string, allowed []*Selector) (uint64, string, error) {
	seq, epoch, err := h.resolve(ctx, id)
	if e, _, ok := ParseID(id); err != nil || (ok && e == epoch) || seq == 0 {
		return seq, epoch, err
	}
	topics, private, ok := h.recent.lookup(seq)
	if !ok {
		evs, rerr := h.log.Read(ctx, seq-1, 1)
		switch {
		case rerr != nil && !errors.Is(rerr, ErrTrimmed):
			return 0, epoch, rerr
		case len(evs) == 1 && evs[0].Seq == seq:
			topics, private = evs[0].Topics, evs[0].Private
		}
	}
	if private && !matchAny(allowed, topics) {
		return 0, epoch, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return seq, epoch, nil
}

// positionFrame tells a subscriber that starts live where it stands: an "id"
// field without data sets the client's last event id without dispatching an
// event, so even a client that drops before its first event resumes without
// a gap. With a reset reason it is a ResetType event instead.
func (h *Hub) positionFrame(epoch string, pos uint64, reason, lastEventID string) []byte {
	id := FormatID(epoch, pos)
	if reason == "" {
		return []byte("id: " + id + "\n\n")
	}
	data, _ := json.Marshal(struct {
		Reason      string `json:"reason"`
		LastEventID string `json:"lastEventId"`
		ResumeFrom  string `json:"resumeFrom"`
	}{reason, lastEventID, id})
	return []byte("id: " + id + "\nevent: " + ResetType + "\ndata: " + string(data) + "\n\n")
}

func (s *Subscription) exactOnly() bool {
	for _, sel := range s.selectors {
		if !sel.IsExact() {
			return false
		}
	}
	return true
}

// wants reports whether ev is for this subscriber: one of its selectors
// matches one of the event's topics and, for a private event, one of its
// allowed selectors does too.
func (s *Subscription) wants(ev *Event) bool {
	return s.wantsTopics(ev.Topics, ev.Private)
}

// wantsTopics is wants for an event known by its topics and private flag.
func (s *Subscription) wantsTopics(topics []string, private bool) bool {
	return matchAny(s.selectors, topics) && (!private || matchAny(s.allowed, topics))
}

// allows reports whether the subscriber may receive ev: any public event, a
// private one only through its allowed selectors.
func (s *Subscription) allows(ev *Event) bool {
	return !ev.Private || matchAny(s.allowed, ev.Topics)
}

func matchAny(sels []*Selector, topics []string) bool {
	for _, sel := range sels {
		if sel.MatchAny(topics) {
			return true
		}
	}
	return false
}

// enqueue queues frames, events of one run (see Hub.fanout) in log order,
// under one lock. It reports slow when this made a live subscriber too
// slow.
//
// It does not wake the owner: wake reports that it should be woken, which
// the dispatcher does once it has fanned out every event of what it read
// (wakeQueued), so a subscriber is served once per read of the log, not
// once per event. With the hub's goroutines on more Ps than cores, an
// event loop worker woken per event wrote to a stream between two events
// of one publish: in a reconnect storm (docs/benchmarks.md) the loop made
// 60,000-80,000 writes a second to about 4,000 live streams at 10 batches
// a second each, and the resumers' backlogs waited behind them.
func (s *Subscription) enqueue(frames []queued) (slow, wake bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range frames {
		// A frame larger than the whole budget still goes into an empty
		// queue: it could never be queued otherwise, and every live
		// subscriber of its topics would be cut off for one valid event
		// (data of line ends grows about sixfold when framed).
		full := len(s.queue) >= s.h.opts.QueueSize ||
			(s.queued+len(f.frame) > s.h.opts.QueueBytes && len(s.queue) > 0)
		switch {
		case s.err != nil:
			return slow, wake
		case s.overflow:
			s.dropped = frames[len(frames)-1].seq
			return slow, wake
		case full && !s.live:
			// Replay is still running: drop the queue and let the replay
			// read these events from the log instead.
			s.overflow = true
			s.dropped = frames[len(frames)-1].seq
			return slow, wake
		case full:
			s.err = ErrSlowSubscriber
			return true, true
		default:
			s.queue = append(s.queue, f)
			s.queued += len(f.frame)
			// While a replay runs its owner polls again until the replay
			// ends, and then drains the queue, so waking it for each
			// event would only cost (thousands of times over in a
			// reconnect storm).
			wake = s.live
		}
	}
	return slow, wake
}

// wakeNow wakes the owner with what is queued now.
func (s *Subscription) wakeNow() {
	s.mu.Lock()
	ready := s.ready
	s.mu.Unlock()
	s.wake(ready)
}

// end ends the subscription with err, unless it already ended.
func (s *Subscription) end(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	ready := s.ready
	s.mu.Unlock()
	s.wake(ready)
}

// wake tells the owner there is something new for Next or Poll.
func (s *Subscription) wake(ready func()) {
	select {
	case s.signal <- struct{}{}:
	default:
	}
	if ready != nil {
		ready()
	}
}

// OnReady registers f to be called whenever Poll has something new to
// return: a queued event or the subscription's end. It is how an event loop
// serves many subscriptions without a goroutine each. f is called from the
// hub's dispatcher (or from whoever ends the subscription) and must return
// at once, without calling back into the subscription. Call Poll after
// OnReady for what was queued before it.
func (s *Subscription) OnReady(f func()) {
	s.mu.Lock()
	s.ready = f
	s.mu.Unlock()
}

// Close unregisters the subscription. Next returns ErrUnsubscribed after it.
func (s *Subscription) Close() {
	s.closeOnce.Do(func() {
		s.h.reg.remove(s)
		s.end(ErrUnsubscribed)
		s.h.fig.closed(s)
	})
}

// heartbeatFrame is the comment sent on idle streams.
var heartbeatFrame = []byte(":\n\n")

// Next blocks until there is something to send and returns it, appended to
// buf[:0]: encoded events in log order (replayed or live), the reset or
// position frame at the start, or a heartbeat comment. The frames are shared
// with other subscribers and must not be modified. When the subscription
// ends, Next returns whatever was still queued, then the reason: ctx's
// error, ErrSlowSubscriber, ErrHubClosed, ErrLagged or ErrUnsubscribed.
func (s *Subscription) Next(ctx context.Context, buf [][]byte) ([][]byte, error) {
	for {
		out, err := s.Poll(ctx, buf)
		if len(out) > 0 || err != nil {
			return out, err
		}
		select {
		case <-s.signal:
		case <-s.h.Heartbeat():
			return append(out, heartbeatFrame), nil
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
}

// Poll is Next without the waiting: it returns what can be sent now, or
// nothing. It never returns a heartbeat: its owner sends a comment itself
// when Hub.Heartbeat fires. A replay reads the log one batch per call, so
// one call never reads more than a batch. When a batch holds nothing for
// this subscriber, Poll returns nothing and wakes the owner (OnReady, and
// Next's wait) to come back for the next one. Poll and Next must not be
// called concurrently.
func (s *Subscription) Poll(ctx context.Context, buf [][]byte) ([][]byte, error) {
	out := buf[:0]
	defer func() { s.meta.pos.Store(s.pos) }()
	if len(s.first) > 0 {
		out = append(out, s.first...)
		s.first = nil
		return out, nil
	}
	if s.replaying {
		var err error
		out, err = s.replay(ctx, out)
		s.h.fig.replayed.Add(int64(len(out)))
		if err != nil || len(out) > 0 {
			return out, err
		}
		if s.replaying {
			s.mu.Lock()
			ready := s.ready
			s.mu.Unlock()
			s.wake(ready)
			return out, nil
		}
	}
	out, err := s.drain(out)
	s.h.stats.delivered.Add(int64(len(out)))
	return out, err
}

// CatchingUp reports whether the subscription is still replaying a
// backlog, so an event loop may serve live subscriptions before it. Only
// the owner calling Poll may call it.
func (s *Subscription) CatchingUp() bool { return s.replaying }

// drain takes the queued frames that follow pos.
func (s *Subscription) drain(out [][]byte) ([][]byte, error) {
	s.mu.Lock()
	q := s.queue
	s.queue = s.spare
	s.queued = 0
	err := s.err
	s.mu.Unlock()
	for _, f := range q {
		if f.seq > s.pos {
			out = append(out, f.frame)
			s.pos = f.seq
		}
	}
	clear(q)
	big := cap(q) > smallQueue || cap(s.spare) > smallQueue
	s.spare = q[:0]
	switch {
	case len(q) > 0:
		s.idleMark = 0
	case big:
		s.shrinkIfIdle()
	}
	if len(out) > 0 {
		return out, nil // deliver what is queued before reporting the end
	}
	return out, err
}

// smallQueue is the capacity of queue buffers an idle subscription keeps.
const smallQueue = 16

// shrinkIfIdle lets go of the queue buffers a burst grew, once the
// subscription has found nothing new across a heartbeat, so an idle
// subscriber costs what it cost before the burst. Busy subscriptions keep
// theirs and allocate nothing per event.
func (s *Subscription) shrinkIfIdle() {
	beat := s.h.beats.Load() + 1
	if s.idleMark == 0 {
		s.idleMark = beat
		return
	}
	if s.idleMark == beat {
		return // no heartbeat since the mark
	}
	s.idleMark = 0
	s.spare = nil
	s.mu.Lock()
	if len(s.queue) == 0 {
		s.queue = nil
	}
	s.mu.Unlock()
}

// replayBytes bounds the frames one replay call returns, so a replay of
// large events is written in pieces a healthy client takes, and the event
// loop's unsent buffer stays small.
const replayBytes = 512 << 10

// replay appends the next events after pos: from the hub's recent frames
// when they reach back that far, else from the log. When there are no more,
// the subscription goes live: the queue then holds every event dispatched
// since it registered, and drain skips those replay already gave.
func (s *Subscription) replay(ctx context.Context, out [][]byte) ([][]byte, error) {
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err != nil {
		return out, err
	}
	start := len(out)
	out, more, ok := s.h.recent.read(s, out, s.h.opts.ReplayBatch, replayBytes)
	if !ok {
		if out, more, err = s.replayLog(ctx, out); err != nil {
			return out, err
		}
	}
	s.h.stats.delivered.Add(int64(len(out) - start))
	if more {
		return out, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.overflow {
		// Events were dropped while the queue was full; the log has them,
		// and the replay must reach the last of them before a short page
		// may end it (replayLog).
		s.overflow = false
		s.since = max(s.since, s.dropped)
		clear(s.queue)
		s.queue = s.queue[:0]
		s.queued = 0
		return out, nil
	}
	s.live = true
	s.replaying = false
	return out, nil
}

// replayLog appends the frames s wants among the next batch of the log.
// more is true unless the batch reached the end of the log. A log may
// return a short page before its end (an engine's reply cap, a pull that
// expired), so a short page ends the replay only once it has reached the
// events dispatched since s registered, which its queue holds, and any
// its queue dropped while full (since); stopping earlier would skip the
// events in between.
func (s *Subscription) replayLog(ctx context.Context, out [][]byte) (_ [][]byte, more bool, err error) {
	events, err := s.h.log.Read(ctx, s.pos, s.h.opts.ReplayBatch)
	if err != nil {
		return out, false, fmt.Errorf("replaying after seq %d: %w", s.pos, err)
	}
	bytes := 0
	for _, ev := range events {
		if bytes >= replayBytes {
			return out, true, nil // the rest is read again next time
		}
		s.pos = ev.Seq
		if s.wants(ev) {
			if frame := s.h.encode(ev); frame != nil {
				out = append(out, frame)
				bytes += len(frame)
			}
		}
	}
	more = len(events) == s.h.opts.ReplayBatch || (len(events) > 0 && s.pos < s.since)
	return out, more, nil
}
