package hub_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// TestQueueBytesBoundASlowSubscriber: a subscriber that does not read is
// disconnected as too slow once the frames waiting for it exceed the byte
// budget, long before the frame count would stop it; it gets what was
// queued, then ErrSlowSubscriber, and others are not affected.
func TestQueueBytesBoundASlowSubscriber(t *testing.T) {
	h := newHub(t, hub.Options{QueueSize: 1 << 16, QueueBytes: 10_000, Heartbeat: -1}, hub.Retention{})
	slow := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"t"}})
	other := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"t"}})
	data := strings.Repeat("x", 1000)
	// About 20,000 bytes of frames, twice the budget, one at a time: the
	// other subscriber takes each before the next.
	for range 20 {
		publish(t, h, hub.Event{Topics: []string{"t"}, Data: data})
		next(t, other, 1)
	}
	eventually(t, func() bool { return h.Stats().SlowDisconnects == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	var buf [][]byte
	events, bytes := 0, 0
	for err == nil {
		buf, err = slow.Next(ctx, buf)
		for _, f := range buf {
			if frameOf(f).data != "" {
				events++
				bytes += len(f)
			}
		}
	}
	if !errors.Is(err, hub.ErrSlowSubscriber) {
		t.Fatalf("the slow subscriber ended with %v, want ErrSlowSubscriber", err)
	}
	if events == 0 || events >= 20 || bytes > 10_000 {
		t.Fatalf("the slow subscriber got %d events (%d bytes) before its end, want some within the 10,000-byte budget", events, bytes)
	}
}

// TestIdleSubscriptionShrinksAfterABurst: the queue buffers a burst grew
// are let go once the subscription has been idle across heartbeats, so an
// idle subscriber costs after a burst what it cost before.
func TestIdleSubscriptionShrinksAfterABurst(t *testing.T) {
	h := newHub(t, hub.Options{Heartbeat: 5 * time.Millisecond}, hub.Retention{})
	s := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"t"}})
	var evs []hub.Event
	for range 2000 {
		evs = append(evs, hub.Event{Topics: []string{"t"}, Data: "burst"})
	}
	// Not read while the burst is dispatched: the queue grows to hold it.
	publish(t, h, evs...)
	eventually(t, func() bool { return h.Stats().Dispatched == 2000 })
	if q, _ := hub.QueueCaps(s); q < 2000 {
		t.Fatalf("queue capacity %d after a burst of 2000, want it grown", q)
	}
	next(t, s, 2000)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var buf [][]byte
	for {
		q, spare := hub.QueueCaps(s)
		if q <= 16 && spare <= 16 {
			return
		}
		var err error
		if buf, err = s.Next(ctx, buf); err != nil { // heartbeats, idle
			t.Fatalf("idle after the burst: queue capacity %d, spare %d, not shrunk: %v", q, spare, err)
		}
	}
}

// TestAFrameLargerThanTheQueueBudgetStillReachesAnIdleSubscriber: a valid
// event whose frame exceeds QueueBytes (data of line ends grows about
// sixfold when framed) goes into an empty queue; only a subscriber that
// has not taken what came before is cut off.
func TestAFrameLargerThanTheQueueBudgetStillReachesAnIdleSubscriber(t *testing.T) {
	h := newHub(t, hub.Options{QueueBytes: 10_000, Heartbeat: -1}, hub.Retention{})
	idle := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"t"}})
	if _, err := idle.Next(t.Context(), nil); err != nil { // the position frame
		t.Fatal(err)
	}
	behind := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"t"}})
	publish(t, h, hub.Event{Topics: []string{"t"}, Data: "first"})
	next(t, idle, 1)
	big := strings.Repeat("x\n", 2_500) + "x" // 5,001 bytes of data, a frame of about 20,000
	publish(t, h, hub.Event{Topics: []string{"t"}, Data: big})
	if f := next(t, idle, 1); len(f) != 1 || f[0].data != big {
		t.Fatalf("the idle subscriber got %d frames, want the big event", len(f))
	}
	eventually(t, func() bool { return h.Stats().SlowDisconnects == 1 })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var err error
	for err == nil {
		_, err = behind.Next(ctx, nil)
	}
	if !errors.Is(err, hub.ErrSlowSubscriber) {
		t.Fatalf("the subscriber that had not taken the first event ended with %v, want ErrSlowSubscriber", err)
	}
}

// TestZeroQueueBoundsSelectTheDefaults: a QueueSize or QueueBytes of 0,
// what --queue-size 0 and --queue-bytes 0 give the hub, means the default
// bound (4096 frames, 4 MiB), not a queue that holds nothing and would cut
// off every subscriber at its first event. A subscriber that does not read
// gets exactly what the default bound let wait for it, then
// ErrSlowSubscriber.
func TestZeroQueueBoundsSelectTheDefaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string // of each event
		fit  int    // events within the default bound; one more overflows it
	}{
		{"QueueSize", "x", 4096},
		// 40 frames of 100 KiB and some bytes of id and field names are
		// under 4 MiB, 41 are over.
		{"QueueBytes", strings.Repeat("x", 100<<10), 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t, hub.Options{QueueSize: 0, QueueBytes: 0, Heartbeat: -1}, hub.Retention{})
			slow := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"t"}})
			evs := make([]hub.Event, tc.fit+1)
			for i := range evs {
				evs[i] = hub.Event{Topics: []string{"t"}, Data: tc.data}
			}
			publish(t, h, evs...)
			// Read only once the overflow is seen: reading before would
			// make room while the events are dispatched.
			eventually(t, func() bool { return h.Stats().SlowDisconnects == 1 })
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			var err error
			var buf [][]byte
			events := 0
			for err == nil {
				buf, err = slow.Next(ctx, buf)
				for _, f := range buf {
					if frameOf(f).data != "" {
						events++
					}
				}
			}
			if !errors.Is(err, hub.ErrSlowSubscriber) || events != tc.fit {
				t.Fatalf("the subscriber that does not read got %d events, then %v; want %d, then ErrSlowSubscriber", events, err, tc.fit)
			}
		})
	}
}
