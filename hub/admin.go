package hub

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrDisconnected ends a subscription that an operator disconnected. Its
// client reconnects with its last event id and resumes, as after any drop.
var ErrDisconnected = errors.New("disconnected by an operator")

// ErrTrimUnsupported is returned by TrimThrough and TrimKeep when the
// hub's log cannot be trimmed on demand (it is not a Trimmer).
var ErrTrimUnsupported = errors.New("this log cannot be trimmed on demand")

// Trimmer is a Log that removes its oldest events on demand, as its
// retention does on its own. Logs that can implement it.
type Trimmer interface {
	// TrimThrough removes every event with Seq at most seq (never past
	// the newest) and returns how many it removed. Readers after a
	// removed position then get ErrTrimmed, as after retention.
	TrimThrough(ctx context.Context, seq uint64) (removed int64, err error)
}

// SubscriberInfo describes one open subscription.
type SubscriberInfo struct {
	ID          uint64    `json:"id"`
	Door        string    `json:"door"`
	Remote      string    `json:"remote,omitempty"`
	Topics      []string  `json:"topics"`
	Private     int       `json:"privateSelectors"` // how many private-topic selectors its credentials allow
	Since       time.Time `json:"since"`
	LastEventID string    `json:"lastEventId"` // the position it has been sent up to
	Queued      int       `json:"queued"`      // frames waiting for its connection
	Replaying   bool      `json:"replaying"`
}

// TopicInfo counts the subscriptions of one selector.
type TopicInfo struct {
	Topic       string `json:"topic"`
	Exact       bool   `json:"exact"`
	Subscribers int    `json:"subscribers"`
}

// all returns the registered subscriptions.
func (r *registry) all() []*Subscription {
	r.mu.RLock()
	defer r.mu.RUnlock()
	seen := make(map[*Subscription]struct{}, r.count)
	out := make([]*Subscription, 0, r.count)
	add := func(s *Subscription) {
		if _, ok := seen[s]; !ok {
			seen[s] = struct{}{}
			out = append(out, s)
		}
	}
	for _, set := range r.exact {
		for s := range set {
			add(s)
		}
	}
	for s := range r.patterns {
		add(s)
	}
	return out
}

// Subscribers describes the open subscriptions, oldest first. It takes
// the registry's read lock once, like one dispatched event does.
func (h *Hub) Subscribers() []SubscriberInfo {
	subs := h.reg.all()
	out := make([]SubscriberInfo, 0, len(subs))
	for _, s := range subs {
		info := SubscriberInfo{
			ID:          s.meta.id,
			Remote:      s.meta.remote,
			Topics:      make([]string, len(s.selectors)),
			Private:     len(s.allowed),
			Since:       time.Unix(0, s.meta.since),
			LastEventID: FormatID(h.Epoch(), s.meta.pos.Load()),
		}
		if s.meta.door != nil {
			info.Door = s.meta.door.name
		}
		for i, sel := range s.selectors {
			info.Topics[i] = sel.raw
		}
		s.mu.Lock()
		info.Queued = len(s.queue)
		info.Replaying = !s.live
		s.mu.Unlock()
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b SubscriberInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Topics counts the open subscriptions by selector, most subscribed first.
func (h *Hub) Topics() []TopicInfo {
	counts := map[string]*TopicInfo{}
	for _, s := range h.reg.all() {
		for _, sel := range s.selectors {
			t := counts[sel.raw]
			if t == nil {
				t = &TopicInfo{Topic: sel.raw, Exact: sel.IsExact()}
				counts[sel.raw] = t
			}
			t.Subscribers++
		}
	}
	out := make([]TopicInfo, 0, len(counts))
	for _, t := range counts {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b TopicInfo) int {
		if a.Subscribers != b.Subscribers {
			return b.Subscribers - a.Subscribers
		}
		return strings.Compare(a.Topic, b.Topic)
	})
	return out
}

// Disconnect ends the subscription with the given id with
// ErrDisconnected, and reports whether one was open.
func (h *Hub) Disconnect(id uint64) bool {
	for _, s := range h.reg.all() {
		if s.meta.id == id {
			s.end(ErrDisconnected)
			return true
		}
	}
	return false
}

// TrimThrough removes the events up to and including the one with the
// given id from the log. Subscribers resuming from an id before it are then
// told so with a ResetType event. An id already removed removes nothing.
func (h *Hub) TrimThrough(ctx context.Context, id string) (int64, error) {
	t, ok := h.log.(Trimmer)
	if !ok {
		return 0, ErrTrimUnsupported
	}
	seq, _, err := h.resolve(ctx, id)
	switch {
	case errors.Is(err, ErrTrimmed):
		return 0, nil
	case err != nil:
		return 0, err
	}
	return t.TrimThrough(ctx, seq)
}

// TrimKeep removes the oldest events from the log until it holds at most
// keep.
func (h *Hub) TrimKeep(ctx context.Context, keep int64) (int64, error) {
	t, ok := h.log.(Trimmer)
	if !ok {
		return 0, ErrTrimUnsupported
	}
	if keep < 0 {
		return 0, fmt.Errorf("%w: keep %d, want at least 0", ErrInvalidEvent, keep)
	}
	info, err := h.log.Info(ctx)
	if err != nil {
		return 0, err
	}
	h.recheck(info.Epoch)
	if info.Events <= keep {
		return 0, nil
	}
	return t.TrimThrough(ctx, info.Last-uint64(keep))
}
