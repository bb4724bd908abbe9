// Package hub is the core of ssehub: it appends published events to a [Log],
// dispatches the log's tail to subscribers, each event encoded once into SSE
// bytes shared by all of them, and replays the log to subscribers that resume
// after a disconnect, with no gap and no duplicate at the seam.
//
// The package knows nothing of HTTP, Redis or NATS: front doors (package
// httpapi) and log implementations (packages under store/) plug into it.
package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// ErrHubClosed is returned by Publish and Subscribe after Close, and ends
// every subscription when the hub shuts down.
var ErrHubClosed = errors.New("hub closed")

// Options tune a Hub. The zero value of each field selects its default.
type Options struct {
	// QueueSize is how many frames may wait for a live subscriber before it
	// is disconnected as too slow (default 4096). Frames are shared, so a
	// queue costs a few words per waiting event, and nothing when empty.
	QueueSize int
	// QueueBytes bounds the bytes of the frames waiting for a live
	// subscriber: over it, the subscriber is disconnected as too slow, as
	// over QueueSize (default 4 MiB). Frames are shared between
	// subscribers, so this bounds what one slow subscriber keeps alive.
	QueueBytes int
	// Heartbeat is the interval of the comment sent to every subscriber to
	// keep proxies and read timeouts from closing idle streams (default 15s;
	// negative disables).
	Heartbeat time.Duration
	// MaxDataBytes limits an event's data (default 1 MiB).
	MaxDataBytes int
	// ReplayBatch is how many events a replaying subscriber reads from the
	// log at a time (default 512).
	ReplayBatch int
	// RecentBytes bounds the memory of the latest events kept encoded, so
	// that subscribers resuming from one of them are served from memory,
	// the bytes shared with live delivery, instead of reading and encoding
	// the log once each (default 16 MiB; negative keeps none).
	RecentBytes int
	// SelectorCacheSize bounds the cache of compiled topic selectors
	// (default 10,000).
	SelectorCacheSize int
	// Logger receives the hub's logs (default: discarded).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.QueueSize <= 0 {
		o.QueueSize = 4096
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = 4 << 20
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = 15 * time.Second
	}
	if o.MaxDataBytes <= 0 {
		o.MaxDataBytes = DefaultLimit
	}
	if o.ReplayBatch <= 0 {
		o.ReplayBatch = 512
	}
	if o.RecentBytes == 0 {
		o.RecentBytes = 16 << 20
	}
	if o.SelectorCacheSize <= 0 {
		o.SelectorCacheSize = 10_000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Hub publishes events to a Log and delivers the log to subscribers.
type Hub struct {
	log       Log
	opts      Options
	selectors *SelectorCache
	reg       registry
	recent    recent
	stats     counters
	fig       figures
	// toWake lists the subscriptions to wake after a fan-out; only the
	// dispatcher uses it.
	toWake []*Subscription
	frames []queued // fanout's, reused from one run to the next

	ctx    context.Context
	cancel context.CancelFunc
	// tail bounds the dispatcher's wait on the log; recheck cancels it
	// when another caller's Info saw a new epoch (see recheck).
	tailMu     sync.Mutex
	tail       context.Context
	tailCancel context.CancelFunc
	wg         sync.WaitGroup
	closed     atomic.Bool
	beat       atomic.Pointer[chan struct{}] // closed at every heartbeat
	beats      atomic.Uint64                 // heartbeats so far: how idle subscriptions notice time passing
}

// New returns a hub that publishes to and delivers from log, and starts its
// dispatcher at the end of the log. Close stops it; the caller closes log
// afterwards.
func New(log Log, opts Options) (*Hub, error) {
	opts.setDefaults()
	info, err := log.Info(context.Background())
	if err != nil {
		return nil, fmt.Errorf("hub: reading log info: %w", err)
	}
	h := &Hub{
		log:       log,
		opts:      opts,
		selectors: NewSelectorCache(opts.SelectorCacheSize),
	}
	h.reg.init()
	h.reg.epoch.Store(&info.Epoch)
	h.reg.dispatched.Store(info.Last)
	h.recent.init(opts.RecentBytes, info.Last)
	beat := make(chan struct{})
	h.beat.Store(&beat)
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.tail, h.tailCancel = context.WithCancel(h.ctx)
	h.wg.Add(1)
	go h.dispatch(info.Last)
	if opts.Heartbeat > 0 {
		h.wg.Add(1)
		go h.heartbeat()
	}
	return h, nil
}

// Epoch returns the epoch of the hub's log, the first part of the ids it
// assigns.
func (h *Hub) Epoch() string { return *h.reg.epoch.Load() }

// Selector returns the compiled form of a topic selector, from the hub's
// bounded cache, for front doors that match topics themselves (for example
// against a token's rights).
func (h *Hub) Selector(raw string) (*Selector, error) { return h.selectors.Get(raw) }

// Log returns the log the hub publishes to.
func (h *Hub) Log() Log { return h.log }

// Publish validates events, appends them to the log as one batch and returns
// their ids once the log holds them durably. Events without an ID get one
// assigned by the hub. An ID already in the log fails the whole batch with
// ErrDuplicateID; invalid input fails it with ErrInvalidEvent or
// ErrReservedID, and nothing is appended.
func (h *Hub) Publish(ctx context.Context, events ...Event) ([]string, error) {
	if h.closed.Load() {
		return nil, ErrHubClosed
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("%w: no events", ErrInvalidEvent)
	}
	start := time.Now()
	now := h.opts.Now()
	batch := make([]*Event, len(events))
	for i := range events {
		ev := events[i] // the log owns this copy
		if err := h.check(&ev); err != nil {
			if len(events) > 1 {
				return nil, fmt.Errorf("event %d: %w", i, err)
			}
			return nil, err
		}
		ev.Seq = 0
		if ev.Time.IsZero() {
			ev.Time = now
		}
		batch[i] = &ev
	}
	appendStart := time.Now()
	if err := h.log.Append(ctx, batch); err != nil {
		return nil, err
	}
	h.fig.append.Observe(time.Since(appendStart))
	ids := make([]string, len(batch))
	for i, ev := range batch {
		ids[i] = h.idOf(ev)
	}
	h.stats.published.Add(int64(len(batch)))
	h.fig.publish.Observe(time.Since(start))
	return ids, nil
}

func (h *Hub) check(ev *Event) error {
	if err := ev.Validate(h.opts.MaxDataBytes); err != nil {
		return err
	}
	if epoch, _, ok := ParseID(ev.ID); ok && epoch == h.Epoch() {
		return fmt.Errorf("%w: %q", ErrReservedID, ev.ID)
	}
	for _, t := range ev.Topics {
		if t == "*" {
			return fmt.Errorf("%w: \"*\" is a selector, not a topic", ErrInvalidEvent)
		}
	}
	return nil
}

// idOf returns the id subscribers see for ev.
func (h *Hub) idOf(ev *Event) string {
	if ev.ID != "" {
		return ev.ID
	}
	return FormatID(h.Epoch(), ev.Seq)
}

// Close ends every subscription with ErrHubClosed and stops the dispatcher.
// It does not close the log.
func (h *Hub) Close() error {
	if !h.closed.CompareAndSwap(false, true) {
		return nil
	}
	h.cancel()
	h.wg.Wait()
	h.reg.close(ErrHubClosed)
	return nil
}

// heartbeat closes the beat channel at every interval, waking every
// subscriber waiting for frames: one timer for the whole hub instead of one
// per connection.
func (h *Hub) heartbeat() {
	defer h.wg.Done()
	t := time.NewTicker(h.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
			next := make(chan struct{})
			h.beats.Add(1)
			close(*h.beat.Swap(&next))
		}
	}
}

// Stats are the hub's counters since it started.
type Stats struct {
	Subscribers     int64  `json:"subscribers"`
	Topics          int64  `json:"topics"` // distinct exact topics subscribed to
	Published       int64  `json:"published"`
	Dispatched      int64  `json:"dispatched"`
	Delivered       int64  `json:"delivered"`
	SlowDisconnects int64  `json:"slowDisconnects"`
	LastSeq         uint64 `json:"lastSeq"`
}

type counters struct {
	published, dispatched, delivered, slow atomic.Int64
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	subs, topics, last := h.reg.size()
	return Stats{
		Subscribers:     subs,
		Topics:          topics,
		Published:       h.stats.published.Load(),
		Dispatched:      h.stats.dispatched.Load(),
		Delivered:       h.stats.delivered.Load(),
		SlowDisconnects: h.stats.slow.Load(),
		LastSeq:         last,
	}
}

// Heartbeat returns a channel that is closed at the hub's next heartbeat
// (never, when heartbeats are off). An owner serving subscriptions through
// Poll sends each idle one a comment (":\n\n") then, and asks again.
func (h *Hub) Heartbeat() <-chan struct{} { return *h.beat.Load() }

// Closed reports whether Close was called.
func (h *Hub) Closed() bool { return h.closed.Load() }

// Done is closed when the hub starts closing.
func (h *Hub) Done() <-chan struct{} { return h.ctx.Done() }
