package hub_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
)

// failingLog is a memory log whose reads fail while broken is set.
type failingLog struct {
	*memory.Log
	broken atomic.Bool
}

var errBroken = errors.New("the log is unreachable")

func (l *failingLog) Read(ctx context.Context, after uint64, limit int) ([]*hub.Event, error) {
	if l.broken.Load() {
		return nil, errBroken
	}
	return l.Log.Read(ctx, after, limit)
}

// TestResumeFromRecentFramesNeedsNoLog: a subscriber resuming from an event
// the hub dispatched lately is served from the hub's recent frames, the
// bytes made for live delivery, without reading the log: here the log
// fails every read, and the replay is still complete, filtered and in
// order. Without recent frames the same replay fails.
func TestResumeFromRecentFramesNeedsNoLog(t *testing.T) {
	for _, tc := range []struct {
		recent  int
		wantErr bool
	}{{0, false}, {-1, true}} {
		t.Run(fmt.Sprintf("recent=%d", tc.recent), func(t *testing.T) {
			log := &failingLog{Log: memory.New(memory.Options{})}
			defer log.Close()
			h, err := hub.New(log, hub.Options{RecentBytes: tc.recent, ReplayBatch: 16, Heartbeat: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			var evs []hub.Event
			for i := range 100 {
				topic := []string{"a", "b"}[i%2]
				evs = append(evs, hub.Event{Topics: []string{topic}, Data: fmt.Sprint(i), Private: i%10 == 4})
			}
			ids := publish(t, h, evs...)
			eventually(t, func() bool { return h.Stats().Dispatched == 100 })
			log.broken.Store(true)
			s := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"a"}, LastEventID: ids[9]})
			if tc.wantErr {
				ctx, cancel := context.WithTimeout(context.Background(), 10e9)
				defer cancel()
				_, err := s.Next(ctx, nil)
				if !errors.Is(err, errBroken) {
					t.Fatalf("replay without recent frames from a broken log: %v, want its error", err)
				}
				return
			}
			// After event 9: the even ones from 10 on, but not the private
			// ones (14, 24, …), which need rights.
			var want []string
			for i := 10; i < 100; i += 2 {
				if i%10 != 4 {
					want = append(want, fmt.Sprint(i))
				}
			}
			got := next(t, s, len(want))
			for i, f := range got {
				if f.data != want[i] {
					t.Fatalf("frame %d has data %s, want %s", i, f.data, want[i])
				}
			}
			// Then live, through the queue.
			log.broken.Store(false)
			publish(t, h, hub.Event{Topics: []string{"a"}, Data: "live"})
			if f := next(t, s, 1); f[0].data != "live" {
				t.Fatalf("after the replay: %q, want the live event", f[0].data)
			}
		})
	}
}
