package hub_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
)

// wipeLog is a memory log whose storage can be wiped under it, as a shared
// engine's can: its Wait, Read and Append then fail with ErrReplaced until
// Info reports the new epoch (the contract in log.go).
type wipeLog struct {
	mu       sync.Mutex
	cur      *memory.Log
	replaced bool
	swap     chan struct{} // closed by a wipe, to wake a Wait
	old      []*memory.Log
	// gate, when set, holds every Info but those whose ctx carries
	// passGate: it keeps the hub's own Info from running.
	gate chan struct{}
}

type passGateKey struct{}

var passGate = context.WithValue(context.Background(), passGateKey{}, true)

func newWipeLog(t *testing.T) *wipeLog {
	l := &wipeLog{cur: memory.New(memory.Options{}), swap: make(chan struct{})}
	t.Cleanup(func() {
		for _, o := range l.old {
			o.Close()
		}
	})
	return l
}

func (l *wipeLog) state() (*memory.Log, bool, chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur, l.replaced, l.swap
}

// wipe replaces the storage. With wake false a waiting tail is not woken:
// the engine's replacement is noticed only at the tail's next call, after
// kick.
func (l *wipeLog) wipe(wake bool) (kick func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.old = append(l.old, l.cur)
	l.cur = memory.New(memory.Options{})
	l.replaced = true
	swap := l.swap
	l.swap = make(chan struct{})
	kick = sync.OnceFunc(func() { close(swap) })
	if wake {
		kick()
	}
	return kick
}

func (l *wipeLog) Append(ctx context.Context, evs []*hub.Event) error {
	cur, rep, _ := l.state()
	if rep {
		return hub.ErrReplaced
	}
	return cur.Append(ctx, evs)
}

func (l *wipeLog) Read(ctx context.Context, after uint64, limit int) ([]*hub.Event, error) {
	cur, rep, _ := l.state()
	if rep {
		return nil, hub.ErrReplaced
	}
	return cur.Read(ctx, after, limit)
}

func (l *wipeLog) Wait(ctx context.Context, after uint64) error {
	for {
		cur, rep, swap := l.state()
		if rep {
			return hub.ErrReplaced
		}
		wctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(wctx, func() {})
		go func() {
			select {
			case <-swap:
				cancel()
			case <-wctx.Done():
			}
		}()
		err := cur.Wait(wctx, after)
		stop()
		cancel()
		select {
		case <-swap:
			if ctx.Err() == nil {
				continue // wiped: the next round answers ErrReplaced
			}
		default:
		}
		return err
	}
}

func (l *wipeLog) Lookup(ctx context.Context, id string) (uint64, error) {
	cur, _, _ := l.state()
	return cur.Lookup(ctx, id)
}

func (l *wipeLog) Info(ctx context.Context) (hub.Info, error) {
	l.mu.Lock()
	gate := l.gate
	l.mu.Unlock()
	if gate != nil && ctx.Value(passGateKey{}) == nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return hub.Info{}, ctx.Err()
		}
	}
	l.mu.Lock()
	l.replaced = false
	cur := l.cur
	l.mu.Unlock()
	return cur.Info(ctx)
}

func (l *wipeLog) Close() error { cur, _, _ := l.state(); return cur.Close() }

func newWipeHub(t *testing.T) (*hub.Hub, *wipeLog) {
	t.Helper()
	log := newWipeLog(t)
	h, err := hub.New(log, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close()
		log.Close()
	})
	return h, log
}

// TestAResumeInANewEpochIsNotServedTheOldOnesFrames: after the log was
// replaced, the recent frames the hub kept are of the old epoch, with
// Seqs the new one hands out again. A client resuming in the new epoch
// gets the new epoch's events, never the old ones, and none is skipped.
func TestAResumeInANewEpochIsNotServedTheOldOnesFrames(t *testing.T) {
	for _, from := range []uint64{0, 1} {
		t.Run(fmt.Sprint("from ", from), func(t *testing.T) {
			h, log := newWipeHub(t)
			old := h.Epoch()
			for i := range 10 {
				publish(t, h, hub.Event{Topics: []string{"t"}, Data: fmt.Sprint("old", i)})
			}
			eventually(t, func() bool { return h.Stats().LastSeq == 10 })
			log.wipe(true)
			eventually(t, func() bool { return h.Epoch() != old })
			for i := range 3 {
				publish(t, h, hub.Event{Topics: []string{"t"}, Data: fmt.Sprint("new", i)})
			}
			eventually(t, func() bool { return h.Stats().LastSeq == 3 })
			s := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"t"}, LastEventID: hub.FormatID(h.Epoch(), from)})
			publish(t, h, hub.Event{Topics: []string{"t"}, Data: "new3"})
			for i, f := range next(t, s, 4-int(from)) {
				want := fmt.Sprint("new", int(from)+i)
				if f.data != want || f.id != hub.FormatID(h.Epoch(), from+uint64(i)+1) {
					t.Fatalf("frame %d: %q with id %s, want %q of the new epoch", i, f.data, f.id, want)
				}
			}
		})
	}
}

// TestASubscriptionResolvedInAnotherEpochIsEnded: a Last-Event-ID resolved
// against the replaced log, while the hub still serves the old epoch, is a
// position the hub cannot follow; the subscription is ended at once so the
// client asks again, rather than replaying the new log from there or
// starting live at an old epoch's position.
func TestASubscriptionResolvedInAnotherEpochIsEnded(t *testing.T) {
	h, log := newWipeHub(t)
	old := h.Epoch()
	ids := publish(t, h, hub.Event{Topics: []string{"t"}, Data: "a"}, hub.Event{Topics: []string{"t"}, Data: "b"})
	eventually(t, func() bool { return h.Stats().LastSeq == 2 })
	log.mu.Lock()
	log.gate = make(chan struct{}) // the hub cannot take the new epoch yet
	log.mu.Unlock()
	log.wipe(true)
	// The new log holds an event with the id the client resumes from.
	if err := log.cur.Append(t.Context(), []*hub.Event{{Topics: []string{"t"}, Data: "n", ID: "n1"}}); err != nil {
		t.Fatal(err)
	}
	for _, last := range []string{ids[0], "n1"} {
		s, err := h.Subscribe(passGate, hub.SubscribeRequest{Topics: []string{"t"}, LastEventID: last})
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Next(t.Context(), nil)
		if !errors.Is(err, hub.ErrReplaced) || len(out) != 0 {
			t.Errorf("resuming from %s resolved in the new epoch while the hub serves %s: %d frames, %v; want none and ErrReplaced", last, old, len(out), err)
		}
		s.Close()
	}
	close(log.gate)
	eventually(t, func() bool { return h.Epoch() != old })
}

// TestAReplacementSeenByASubscribersInfoReachesTheHub: a log owes
// ErrReplaced only until Info is called, and a subscriber's resume may be
// what calls it; the hub must still take the new epoch, or it would hand
// out ids of the lost epoch and wait at a position of the old one.
func TestAReplacementSeenByASubscribersInfoReachesTheHub(t *testing.T) {
	h, log := newWipeHub(t)
	old := h.Epoch()
	ids := publish(t, h, hub.Event{Topics: []string{"t"}, Data: "a"})
	eventually(t, func() bool { return h.Stats().LastSeq == 1 })
	for _, call := range []string{"subscribe", "history"} {
		t.Run(call, func(t *testing.T) {
			from := h.Epoch()
			log.wipe(false) // the waiting tail is never woken
			switch call {
			case "subscribe":
				s, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"t"}, LastEventID: ids[0]})
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
			case "history":
				if _, err := h.History(t.Context(), hub.HistoryRequest{Topics: []string{"t"}}); err != nil {
					t.Fatal(err)
				}
			}
			eventually(t, func() bool { return h.Epoch() != from })
			got := publish(t, h, hub.Event{Topics: []string{"t"}, Data: "new"})
			if e, seq, _ := hub.ParseID(got[0]); e != h.Epoch() || seq != 1 || e == old {
				t.Errorf("the first event after the replacement got id %s, want %s-1", got[0], h.Epoch())
			}
		})
	}
}
