package hub_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
)

// TestFiguresCountDoorsReasonsAndReplays: subscriptions count by door
// while open; each way a subscription ends is counted under its reason;
// replays, replayed events and resets are counted; the histograms hold one
// observation per publish and per dispatched event.
func TestFiguresCountDoorsReasonsAndReplays(t *testing.T) {
	h := newHub(t, hub.Options{QueueSize: 1}, hub.Retention{})
	ctx := context.Background()
	native := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"t"}, Door: "native"})
	direct := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"t"}})
	slow := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"s"}, Door: "native"})
	if f := h.Figures(); f.SubscribersByDoor["native"] != 2 || f.SubscribersByDoor["direct"] != 1 {
		t.Fatalf("by door: %v, want native 2, direct 1", f.SubscribersByDoor)
	}
	ids := publish(t, h, hub.Event{Topics: []string{"s"}, Data: "1"}, hub.Event{Topics: []string{"s"}, Data: "2"})
	// The slow one reads nothing: with a queue of 1 the second event
	// ends it. Reading before both are offered could take the first and
	// leave room for the second, so read it to its end only once it ended.
	eventually(t, func() bool { return h.Stats().SlowDisconnects == 1 })
	for {
		if _, err := slow.Next(ctx, nil); err != nil {
			if !errors.Is(err, hub.ErrSlowSubscriber) {
				t.Fatalf("slow subscriber ended with %v", err)
			}
			break
		}
	}
	slow.Close()
	direct.Close()
	if !h.Disconnect(subscriberID(t, h, "native")) {
		t.Fatal("Disconnect found no subscription")
	}
	for {
		if _, err := native.Next(ctx, nil); err != nil {
			if !errors.Is(err, hub.ErrDisconnected) {
				t.Fatalf("disconnected subscriber ended with %v", err)
			}
			break
		}
	}
	native.Close()
	resumed := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"s"}, LastEventID: ids[0]})
	if out, err := resumed.Next(ctx, nil); err != nil || len(out) != 1 {
		t.Fatalf("resumed: %d frames, %v; want the second event", len(out), err)
	}
	subscribe(t, h, hub.SubscribeRequest{Topics: []string{"t"}, LastEventID: "from-elsewhere"})

	f := h.Figures()
	for reason, want := range map[string]int64{"slow": 1, "client": 1, "operator": 1, "lagged": 0, "shutdown": 0} {
		if f.Disconnects[reason] != want {
			t.Errorf("disconnects %s = %d, want %d (all: %v)", reason, f.Disconnects[reason], want, f.Disconnects)
		}
	}
	if f.SubscribersByDoor["native"] != 0 || f.SubscribersByDoor["direct"] != 2 {
		t.Errorf("by door after closing: %v, want native 0, direct 2", f.SubscribersByDoor)
	}
	if f.Replays != 1 || f.ReplayedEvents != 1 || f.Resets[hub.ResetUnknownID] != 1 || f.Resets[hub.ResetExpired] != 0 {
		t.Errorf("replays %d, replayed %d, resets %v; want 1, 1, unknown-id 1", f.Replays, f.ReplayedEvents, f.Resets)
	}
	if f.PublishLatency.Count != 1 || f.AppendLatency.Count != 1 {
		t.Errorf("publish/append latency counts %d/%d, want 1 each (one Publish call)", f.PublishLatency.Count, f.AppendLatency.Count)
	}
	if c := f.PublishLatency.Cumulative; c[len(c)-1] > f.PublishLatency.Count || f.PublishLatency.Sum <= 0 {
		t.Errorf("publish latency snapshot inconsistent: %+v", f.PublishLatency)
	}
}

func subscriberID(t *testing.T, h *hub.Hub, door string) uint64 {
	t.Helper()
	for _, s := range h.Subscribers() {
		if s.Door == door {
			return s.ID
		}
	}
	t.Fatalf("no %s subscriber in %+v", door, h.Subscribers())
	return 0
}

// TestTopicsAreMostSubscribedFirst: Topics counts each selector once per
// subscription that uses it, patterns included, most used first, then by
// name.
func TestTopicsAreMostSubscribedFirst(t *testing.T) {
	h := newHub(t, hub.Options{}, hub.Retention{})
	subscribe(t, h, hub.SubscribeRequest{Topics: []string{"b", "a"}})
	subscribe(t, h, hub.SubscribeRequest{Topics: []string{"b", "/books/{id}"}})
	got := h.Topics()
	want := []hub.TopicInfo{{Topic: "b", Exact: true, Subscribers: 2}, {Topic: "/books/{id}", Subscribers: 1}, {Topic: "a", Exact: true, Subscribers: 1}}
	if len(got) != len(want) {
		t.Fatalf("Topics() = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Topics()[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// hiddenLog is a Log that is not a Trimmer.
type hiddenLog struct{ hub.Log }

func TestTrimNeedsATrimmer(t *testing.T) {
	log := memory.New(memory.Options{})
	defer log.Close()
	h, err := hub.New(hiddenLog{log}, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.TrimKeep(context.Background(), 0); !errors.Is(err, hub.ErrTrimUnsupported) {
		t.Errorf("TrimKeep on a log that cannot trim: %v, want ErrTrimUnsupported", err)
	}
	if _, err := h.TrimThrough(context.Background(), "x"); !errors.Is(err, hub.ErrTrimUnsupported) {
		t.Errorf("TrimThrough on a log that cannot trim: %v, want ErrTrimUnsupported", err)
	}
}
