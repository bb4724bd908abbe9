package hub

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// figures are the hub's operational measurements beyond Stats: what an
// operator alerts on. Everything is an atomic or a Histogram, touched once
// per publish, per dispatched event or per subscription, never per
// delivery, and read when metrics are scraped.
type figures struct {
	publish, append, lag Histogram
	replays, replayed    atomic.Int64
	resets               [2]atomic.Int64 // unknown-id, expired
	ends                 [len(endReasons)]atomic.Int64
	doors                sync.Map // door name → *doorGauge
	lastID               atomic.Uint64
}

// doorGauge counts the subscriptions open through one front door.
type doorGauge struct {
	name string
	n    atomic.Int64
}

// subMeta is what the admin API shows about a subscription.
type subMeta struct {
	id     uint64
	door   *doorGauge
	remote string
	since  int64         // unix nanos
	pos    atomic.Uint64 // Seq of the last event delivered or skipped, for readers other than the owner
}

// endReasons name why subscriptions end, as metrics and the admin API say.
var endReasons = [...]string{"client", "slow", "lagged", "shutdown", "operator", "other"}

func endReason(err error) int {
	switch {
	case errors.Is(err, ErrUnsubscribed):
		return 0 // its owner closed it: the client left, or the stream could not be written
	case errors.Is(err, ErrSlowSubscriber):
		return 1
	case errors.Is(err, ErrLagged):
		return 2
	case errors.Is(err, ErrHubClosed):
		return 3
	case errors.Is(err, ErrDisconnected):
		return 4
	}
	return 5
}

// describe fills in what the admin API shows about s, before s is
// registered and so visible to other goroutines.
func (f *figures) describe(s *Subscription, req SubscribeRequest, now time.Time) {
	door := req.Door
	if door == "" {
		door = "direct"
	}
	g, ok := f.doors.Load(door)
	if !ok {
		g, _ = f.doors.LoadOrStore(door, &doorGauge{name: door})
	}
	s.meta.id = f.lastID.Add(1)
	s.meta.door = g.(*doorGauge)
	s.meta.remote = req.Remote
	s.meta.since = now.UnixNano()
}

// opened counts a subscription that registered.
func (f *figures) opened(s *Subscription, reset string) {
	s.meta.door.n.Add(1)
	s.meta.pos.Store(s.pos)
	switch {
	case reset == ResetUnknownID:
		f.resets[0].Add(1)
	case reset == ResetExpired:
		f.resets[1].Add(1)
	case s.replaying:
		f.replays.Add(1)
	}
}

// closed records a subscription that its owner closed, with why it ended.
func (f *figures) closed(s *Subscription) {
	s.meta.door.n.Add(-1)
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	f.ends[endReason(err)].Add(1)
}

// Figures are the hub's measurements for operators (see docs/operations.md).
type Figures struct {
	// PublishLatency is the time Publish takes, from its call to the
	// acknowledgement; AppendLatency the part spent in Log.Append.
	PublishLatency HistogramSnapshot `json:"publishLatency"`
	AppendLatency  HistogramSnapshot `json:"appendLatency"`
	// DispatchLag is the time from an event's acceptance (its Time) to
	// its fan-out into subscribers' queues.
	DispatchLag HistogramSnapshot `json:"dispatchLag"`
	// SubscribersByDoor counts open subscriptions by front door.
	SubscribersByDoor map[string]int64 `json:"subscribersByDoor"`
	// Disconnects counts ended subscriptions by reason: client, slow,
	// lagged, shutdown, operator, other.
	Disconnects map[string]int64 `json:"disconnects"`
	// Replays counts subscriptions that resumed from the log, and
	// ReplayedEvents the events they were sent from it; Resets those
	// whose id could not be resumed from, by reason.
	Replays        int64            `json:"replays"`
	ReplayedEvents int64            `json:"replayedEvents"`
	Resets         map[string]int64 `json:"resets"`
}

// Figures returns the hub's measurements.
func (h *Hub) Figures() Figures {
	f := &h.fig
	out := Figures{
		PublishLatency:    f.publish.Snapshot(),
		AppendLatency:     f.append.Snapshot(),
		DispatchLag:       f.lag.Snapshot(),
		SubscribersByDoor: map[string]int64{},
		Disconnects:       make(map[string]int64, len(endReasons)),
		Replays:           f.replays.Load(),
		ReplayedEvents:    f.replayed.Load(),
		Resets:            map[string]int64{ResetUnknownID: f.resets[0].Load(), ResetExpired: f.resets[1].Load()},
	}
	f.doors.Range(func(_, v any) bool {
		g := v.(*doorGauge)
		out.SubscribersByDoor[g.name] = g.n.Load()
		return true
	})
	for i, r := range endReasons {
		out.Disconnects[r] = f.ends[i].Load()
	}
	return out
}
