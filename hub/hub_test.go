package hub_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newHub starts a hub on a fresh in-memory log and stops both at the end
// of the test.
func newHub(t *testing.T, opts hub.Options, ret hub.Retention) *hub.Hub {
	t.Helper()
	log := memory.New(memory.Options{Retention: ret})
	h, err := hub.New(log, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close()
		log.Close()
	})
	return h
}

func publish(t *testing.T, h *hub.Hub, evs ...hub.Event) []string {
	t.Helper()
	ids, err := h.Publish(context.Background(), evs...)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	return ids
}

func subscribe(t *testing.T, h *hub.Hub, req hub.SubscribeRequest) *hub.Subscription {
	t.Helper()
	s, err := h.Subscribe(context.Background(), req)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// frame is one SSE frame as a subscriber receives it.
type frame struct{ id, typ, data string }

func parseFrame(t *testing.T, b []byte) frame {
	t.Helper()
	if !bytes.HasSuffix(b, []byte("\n\n")) {
		t.Fatalf("frame %q does not end with a blank line", b)
	}
	return frameOf(b)
}

// next returns the next frames that are events (not heartbeats or the
// position frame), failing the test after a bound.
func next(t *testing.T, s *hub.Subscription, n int) []frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []frame
	var buf [][]byte
	for len(got) < n {
		var err error
		buf, err = s.Next(ctx, buf)
		for _, b := range buf {
			if f := parseFrame(t, b); f.data != "" || f.typ != "" {
				got = append(got, f)
			}
		}
		if err != nil {
			t.Fatalf("after %d of %d frames: %v", len(got), n, err)
		}
	}
	return got
}

func TestPublishReachesMatchingSubscribersOnly(t *testing.T) {
	h := newHub(t, hub.Options{}, hub.Retention{})
	books := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"https://example.com/books/{id}"}})
	chat := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"chat/lobby"}})
	all := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"*"}})

	ids := publish(t, h,
		hub.Event{Topics: []string{"https://example.com/books/1"}, Data: "book"},
		hub.Event{Topics: []string{"chat/lobby"}, Type: "message", Data: "line one\nline two"},
	)
	if got := next(t, books, 1)[0]; got != (frame{ids[0], "", "book"}) {
		t.Errorf("books got %+v", got)
	}
	if got := next(t, chat, 1)[0]; got != (frame{ids[1], "message", "line one\nline two"}) {
		t.Errorf("chat got %+v", got)
	}
	if got := next(t, all, 2); got[0].id != ids[0] || got[1].id != ids[1] {
		t.Errorf("* got %+v, want ids %v", got, ids)
	}
}

func TestResumeReplaysExactlyWhatWasMissed(t *testing.T) {
	h := newHub(t, hub.Options{}, hub.Retention{})
	var ids []string
	for i := range 10 {
		ids = append(ids, publish(t, h, hub.Event{Topics: []string{"t"}, Data: fmt.Sprint(i)})...)
	}
	s := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"t"}, LastEventID: ids[2]})
	got := next(t, s, 7)
	for i, f := range got {
		if f.id != ids[i+3] || f.data != fmt.Sprint(i+3) {
			t.Fatalf("frame %d = %+v, want id %s data %d", i, f, ids[i+3], i+3)
		}
	}
	live := publish(t, h, hub.Event{Topics: []string{"t"}, Data: "live"})
	if f := next(t, s, 1)[0]; f.id != live[0] {
		t.Fatalf("after replay got %+v, want the live event %s", f, live[0])
	}
}

func TestResumeFromPublisherGivenID(t *testing.T) {
	h := newHub(t, hub.Options{}, hub.Retention{})
	publish(t, h, hub.Event{Topics: []string{"t"}, ID: "order-1", Data: "a"},
		hub.Event{Topics: []string{"t"}, ID: "order-2", Data: "b"})
	s := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"t"}, LastEventID: "order-1"})
	if f := next(t, s, 1)[0]; f != (frame{"order-2", "", "b"}) {
		t.Fatalf("got %+v", f)
	}
}

func TestUnresumableIDIsAnsweredWithReset(t *testing.T) {
	h := newHub(t, hub.Options{}, hub.Retention{MaxEvents: 3})
	// Publish one event at a time and see each dispatched, so the
	// dispatcher never falls behind this tiny retention.
	sentinel := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"t"}})
	var ids []string
	for range 6 {
		ids = append(ids, publish(t, h, hub.Event{Topics: []string{"t"}, Data: "x"})...)
		next(t, sentinel, 1)
	}
	for _, tc := range []struct{ name, lastID, reason string }{
		{"unknown id", "no-such-id", hub.ResetUnknownID},
		{"id of another epoch", "zzzzzzzz-3", hub.ResetUnknownID},
		{"id beyond the end", hub.FormatID(h.Epoch(), 99), hub.ResetUnknownID},
		{"id older than retention", ids[0], hub.ResetExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, _ := h.Log().Info(context.Background())
			s := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"t"}, LastEventID: tc.lastID})
			f := next(t, s, 1)[0]
			if f.typ != hub.ResetType || !strings.Contains(f.data, `"reason":"`+tc.reason+`"`) {
				t.Fatalf("got %+v, want a %s event with reason %s", f, hub.ResetType, tc.reason)
			}
			if want := hub.FormatID(h.Epoch(), info.Last); f.id != want {
				t.Errorf("reset id = %q, want the current position %q", f.id, want)
			}
			live := publish(t, h, hub.Event{Topics: []string{"t"}, Data: "after"})
			if g := next(t, s, 1)[0]; g.id != live[0] {
				t.Errorf("after the reset got %+v, want live %s", g, live[0])
			}
			next(t, sentinel, 1)
		})
	}
}

// TestAPrivateEventsIDIsUnknownToThoseItIsNotFor: a publisher's id can be
// guessed (invoice-2026-0042); resuming from the id of a private event the
// reader may not receive, or reading history after it, is answered as an
// unknown id, so the reader learns neither that it exists nor where it
// stands. A reader allowed the event resumes from it. Both with the
// event among the hub's recent frames and read from the log.
func TestAPrivateEventsIDIsUnknownToThoseItIsNotFor(t *testing.T) {
	for _, recent := range []int{0, -1} {
		t.Run(fmt.Sprint("recent bytes ", recent), func(t *testing.T) {
			h := newHub(t, hub.Options{RecentBytes: recent}, hub.Retention{})
			ids := publish(t, h,
				hub.Event{Topics: []string{"users/7"}, Data: "secret", Private: true, ID: "invoice-42"},
				hub.Event{Topics: []string{"users/7", "news"}, Data: "public"},
			)
			eventually(t, func() bool { return h.Stats().LastSeq == 2 })
			for _, tc := range []struct {
				name    string
				allowed []string
				reset   bool
			}{{"anonymous", nil, true}, {"other rights", []string{"users/8"}, true}, {"allowed", []string{"users/{id}"}, false}} {
				s := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"users/7", "news"}, Allowed: tc.allowed, LastEventID: "invoice-42"})
				f := next(t, s, 1)[0]
				if got := f.typ == hub.ResetType; got != tc.reset || (!tc.reset && f.id != ids[1]) {
					t.Errorf("%s: resuming from the private event's id got %+v, want reset %v", tc.name, f, tc.reset)
				}
				_, err := h.History(t.Context(), hub.HistoryRequest{Topics: []string{"news"}, Allowed: tc.allowed, After: "invoice-42"})
				if got := errors.Is(err, hub.ErrNotFound); got != tc.reset {
					t.Errorf("%s: history after the private event's id: %v, want not found %v", tc.name, err, tc.reset)
				}
			}
		})
	}
}

func TestPrivateEventsNeedAllowedTopics(t *testing.T) {
	h := newHub(t, hub.Options{}, hub.Retention{})
	anon := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"*"}})
	allowed := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"*"}, Allowed: []string{"users/{id}"}})
	ids := publish(t, h,
		hub.Event{Topics: []string{"users/7"}, Data: "secret", Private: true},
		hub.Event{Topics: []string{"news"}, Data: "public"},
	)
	if f := next(t, anon, 1)[0]; f.id != ids[1] {
		t.Errorf("anonymous subscriber got %+v, want only the public event", f)
	}
	if got := next(t, allowed, 2); got[0].data != "secret" || got[1].data != "public" {
		t.Errorf("allowed subscriber got %+v", got)
	}
}

// TestATokensRightsAreNotHeldToTheRequestsLimits: a token may hold more
// subscribe selectors than a request may send, and one that does not
// compile; it grants what the others allow, in a stream and in history,
// rather than the request being refused for what its token holds.
func TestATokensRightsAreNotHeldToTheRequestsLimits(t *testing.T) {
	h := newHub(t, hub.Options{}, hub.Retention{})
	var rights []string
	for i := range hub.MaxTopics + 36 {
		rights = append(rights, fmt.Sprint("rooms/", i))
	}
	rights = append(rights, "rooms/{bad", "users/{id}")
	s, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"users/7"}, Allowed: rights})
	if err != nil {
		t.Fatalf("Subscribe with a token of %d selectors: %v", len(rights), err)
	}
	t.Cleanup(s.Close)
	publish(t, h, hub.Event{Topics: []string{"users/7"}, Data: "secret", Private: true})
	if f := next(t, s, 1); f[0].data != "secret" {
		t.Errorf("stream: got %+v, want the private event", f)
	}
	page, err := h.History(t.Context(), hub.HistoryRequest{Topics: []string{"users/7"}, Allowed: rights})
	if err != nil || len(page.Events) != 1 || page.Events[0].Data != "secret" {
		t.Errorf("history: %+v, %v; want the private event", page, err)
	}
}

func TestPublishRejectsBadInputAndAppendsNothing(t *testing.T) {
	h := newHub(t, hub.Options{MaxDataBytes: 10}, hub.Retention{})
	publish(t, h, hub.Event{Topics: []string{"t"}, ID: "taken"})
	for _, tc := range []struct {
		name string
		ev   hub.Event
		want error
	}{
		{"no topic", hub.Event{Data: "x"}, hub.ErrInvalidEvent},
		{"CR in id", hub.Event{Topics: []string{"t"}, ID: "a\rb"}, hub.ErrInvalidEvent},
		{"LF in id", hub.Event{Topics: []string{"t"}, ID: "a\nid: evil"}, hub.ErrInvalidEvent},
		{"NUL in id", hub.Event{Topics: []string{"t"}, ID: "a\x00"}, hub.ErrInvalidEvent},
		{"LF in type", hub.Event{Topics: []string{"t"}, Type: "x\ndata: injected"}, hub.ErrInvalidEvent},
		{"data too large", hub.Event{Topics: []string{"t"}, Data: "12345678901"}, hub.ErrInvalidEvent},
		{"negative retry", hub.Event{Topics: []string{"t"}, Retry: -1}, hub.ErrInvalidEvent},
		{"* as topic", hub.Event{Topics: []string{"*"}}, hub.ErrInvalidEvent},
		{"hub id form", hub.Event{Topics: []string{"t"}, ID: hub.FormatID(h.Epoch(), 1000)}, hub.ErrReservedID},
		{"duplicate id", hub.Event{Topics: []string{"t"}, ID: "taken"}, hub.ErrDuplicateID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := h.Log().Info(context.Background())
			// A valid event in the same batch must not be appended either.
			_, err := h.Publish(context.Background(), hub.Event{Topics: []string{"t"}, Data: "ok"}, tc.ev)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			after, _ := h.Log().Info(context.Background())
			if after.Last != before.Last {
				t.Errorf("log grew from %d to %d on a refused batch", before.Last, after.Last)
			}
		})
	}
}

func TestSlowSubscriberIsDisconnectedAlone(t *testing.T) {
	h := newHub(t, hub.Options{QueueSize: 4}, hub.Retention{})
	slow := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"t"}})
	fast := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"t"}})
	var ids []string
	for i := range 50 {
		// Publish never waits for a subscriber, even one that never reads.
		ids = append(ids, publish(t, h, hub.Event{Topics: []string{"t"}, Data: fmt.Sprint(i)})...)
		if got := next(t, fast, 1)[0]; got.id != ids[i] {
			t.Fatalf("fast subscriber got %+v, want %s", got, ids[i])
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var buf [][]byte
	var err error
	delivered := 0
	for err == nil {
		buf, err = slow.Next(ctx, buf)
		for _, b := range buf {
			if parseFrame(t, b).data != "" {
				delivered++
			}
		}
	}
	if !errors.Is(err, hub.ErrSlowSubscriber) {
		t.Fatalf("slow subscriber ended with %v, want ErrSlowSubscriber", err)
	}
	if delivered != 4 {
		t.Errorf("slow subscriber got %d queued events before the end, want the 4 its queue held", delivered)
	}
	if n := h.Stats().SlowDisconnects; n != 1 {
		t.Errorf("SlowDisconnects = %d, want 1", n)
	}
}

// TestHandoffHasNoGapAndNoDuplicate resumes subscribers at every point of a
// log that grows while they replay, with a queue small enough to overflow
// during replay, and checks each sees every later event exactly once, in order.
func TestHandoffHasNoGapAndNoDuplicate(t *testing.T) {
	// Replays read the log only, the hub's recent frames only, or both
	// (a budget of about 40 frames, so most replays start in the log).
	for _, recent := range []int{-1, 40 * 120, 0} {
		t.Run(fmt.Sprintf("recent=%d", recent), func(t *testing.T) {
			testHandoff(t, hub.Options{QueueSize: 8, ReplayBatch: 7, RecentBytes: recent})
		})
	}
}

func testHandoff(t *testing.T, opts hub.Options) {
	h := newHub(t, opts, hub.Retention{})
	const total = 3000
	ids := make(chan string, total) // the publisher's progress
	go func() {
		defer close(ids)
		for i := range total {
			got, err := h.Publish(context.Background(), hub.Event{Topics: []string{"t"}, Data: fmt.Sprint(i)})
			if err != nil {
				t.Error(err)
				return
			}
			ids <- got[0]
		}
	}()
	var wg sync.WaitGroup
	published := 0
	for start := 0; start < total; start += 250 {
		// Wait until the event to resume from exists.
		var from string
		for ; published <= start; published++ {
			from = <-ids
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, f := range follow(t, h, from, total-start-1) {
				if want := fmt.Sprint(start + 1 + i); f.data != want {
					t.Errorf("resumed after %d: frame %d has data %s, want %s", start, i, f.data, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// follow reads n events after lastID the way a client does: when the hub
// disconnects it as too slow, it resubscribes from the last id it received.
// It runs in goroutines other than the test's, so it reports with t.Error.
func follow(t *testing.T, h *hub.Hub, lastID string, n int) []frame {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []frame
	for len(got) < n {
		s, err := h.Subscribe(ctx, hub.SubscribeRequest{Topics: []string{"t"}, LastEventID: lastID})
		if err != nil {
			t.Error(err)
			return got
		}
		var buf [][]byte
		for len(got) < n && err == nil {
			buf, err = s.Next(ctx, buf)
			for _, b := range buf {
				if f := frameOf(b); f.data != "" {
					got = append(got, f)
					lastID = f.id
				}
			}
		}
		s.Close()
		if err != nil && !errors.Is(err, hub.ErrSlowSubscriber) {
			t.Errorf("after %d of %d frames: %v", len(got), n, err)
			return got
		}
	}
	return got
}

// frameOf parses the fields of one frame.
func frameOf(b []byte) frame {
	var f frame
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n\n"), "\n") {
		name, value, _ := strings.Cut(line, ": ")
		switch name {
		case "id":
			f.id = value
		case "event":
			f.typ = value
		case "data":
			if f.data != "" {
				f.data += "\n"
			}
			f.data += value
		}
	}
	return f
}

func TestCloseEndsSubscriptions(t *testing.T) {
	log := memory.New(memory.Options{})
	defer log.Close()
	h, err := hub.New(log, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := h.Subscribe(context.Background(), hub.SubscribeRequest{Topics: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var buf [][]byte
	for err == nil {
		buf, err = s.Next(ctx, buf)
	}
	if !errors.Is(err, hub.ErrHubClosed) {
		t.Fatalf("Next after Close = %v, want ErrHubClosed", err)
	}
	if _, err := h.Publish(context.Background(), hub.Event{Topics: []string{"t"}}); !errors.Is(err, hub.ErrHubClosed) {
		t.Fatalf("Publish after Close = %v, want ErrHubClosed", err)
	}
}

// TestPollAndOnReady drives a subscription the way an event loop does:
// OnReady says when to Poll, and Poll never waits.
func TestPollAndOnReady(t *testing.T) {
	h := newHub(t, hub.Options{}, hub.Retention{})
	ids := publish(t, h, hub.Event{Topics: []string{"a"}, Data: "before"})
	s, err := h.Subscribe(context.Background(), hub.SubscribeRequest{Topics: []string{"a"}, LastEventID: ids[0]})
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{}, 1)
	s.OnReady(func() {
		select {
		case ready <- struct{}{}:
		default:
		}
	})
	ctx := context.Background()
	// Resuming after the last event: nothing to replay, nothing queued.
	if got, err := s.Poll(ctx, nil); len(got) != 0 || err != nil {
		t.Fatalf("Poll on an empty subscription: %q, %v", got, err)
	}
	publish(t, h, hub.Event{Topics: []string{"b"}, Data: "other topic"}, hub.Event{Topics: []string{"a"}, Data: "one"})
	// A wake-up may be stale (the first event reached the subscription's
	// queue after it registered, and Poll skipped it as already replayed),
	// so poll at each one until something comes.
	var got [][]byte
	for len(got) == 0 && err == nil {
		<-ready
		got, err = s.Poll(ctx, got)
	}
	if err != nil || len(got) != 1 || frameOf(got[0]).data != "one" {
		t.Fatalf("Poll after OnReady: %q, %v", got, err)
	}
	if got, err := s.Poll(ctx, got); len(got) != 0 || err != nil {
		t.Fatalf("Poll again: %q, %v", got, err)
	}
	// Closing is news too: Poll reports the end.
	s.Close()
	<-ready
	if _, err := s.Poll(ctx, nil); !errors.Is(err, hub.ErrUnsubscribed) {
		t.Fatalf("Poll after Close: %v, want ErrUnsubscribed", err)
	}
}

// TestOneWakePerDispatchedRead: the events of one read of the log are all
// queued before their subscribers are woken, once each, so an event loop
// writes each subscriber one batch, not one event at a time.
func TestOneWakePerDispatchedRead(t *testing.T) {
	h := newHub(t, hub.Options{}, hub.Retention{})
	s, err := h.Subscribe(context.Background(), hub.SubscribeRequest{Topics: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if got, err := s.Poll(ctx, nil); err != nil {
		t.Fatalf("first Poll: %q, %v", got, err)
	}
	var wakes atomic.Int64
	ready := make(chan struct{}, 1)
	s.OnReady(func() {
		wakes.Add(1)
		select {
		case ready <- struct{}{}:
		default:
		}
	})
	batch := make([]hub.Event, 20)
	for i := range batch {
		batch[i] = hub.Event{Topics: []string{"a"}, Data: strconv.Itoa(i)}
	}
	publish(t, h, batch...) // one append: the memory log returns it in one read
	var got [][]byte
	for len(got) < len(batch) && err == nil {
		<-ready
		got, err = s.Poll(ctx, got)
	}
	if err != nil || len(got) != len(batch) {
		t.Fatalf("Poll: %d frames, %v", len(got), err)
	}
	if n := wakes.Load(); n != 1 {
		t.Fatalf("%d wakes for one batch of %d events, want 1", n, len(batch))
	}
}

// TestHeartbeatChannel: Hub.Heartbeat is closed at the next beat and a new
// one is handed out after it.
func TestHeartbeatChannel(t *testing.T) {
	h := newHub(t, hub.Options{Heartbeat: time.Millisecond}, hub.Retention{})
	first := h.Heartbeat()
	<-first
	if h.Heartbeat() == first {
		t.Fatal("Heartbeat returned the channel of a past beat")
	}
}

// TestPollReadsOneReplayBatchPerCall: a replay with nothing for the
// subscriber does not read the whole log in one call; each call reads a
// batch and asks its owner, through OnReady, to come back. The same holds
// when the replay reads the hub's recent frames instead of the log.
func TestPollReadsOneReplayBatchPerCall(t *testing.T) {
	for _, tc := range []struct {
		name   string
		recent int
	}{{"from the log", -1}, {"from recent frames", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t, hub.Options{ReplayBatch: 10, RecentBytes: tc.recent}, hub.Retention{})
			// No event is for the subscriber, so the dispatcher never wakes it:
			// every wake-up below comes from Poll.
			first := publish(t, h, hub.Event{Topics: []string{"other"}, Data: "first"})
			var others []hub.Event
			for range 95 {
				others = append(others, hub.Event{Topics: []string{"other"}, Data: "x"})
			}
			publish(t, h, others...)
			// Recent frames are those dispatched: wait until all were.
			eventually(t, func() bool { return h.Stats().Dispatched == 96 })
			s := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"mine"}, LastEventID: first[0]})
			wakes := 0
			s.OnReady(func() { wakes++ })
			ctx := context.Background()
			polls := 0
			for {
				got, err := s.Poll(ctx, nil)
				if err != nil || len(got) != 0 {
					t.Fatalf("Poll: %q, %v; nothing was published for this subscriber", got, err)
				}
				polls++
				if wakes < polls {
					break // live: no more wake-ups
				}
			}
			// 95 events in batches of 10: nine full batches, each a call of its
			// own, then the partial batch that ends the replay.
			if polls != 10 || wakes != 9 {
				t.Fatalf("%d calls and %d wake-ups, want 10 and 9", polls, wakes)
			}
		})
	}
}

// eventually fails the test unless cond becomes true within a bound,
// checking it on a ticker.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("condition not met within 10s")
		}
	}
}

// shortPages is a log whose Read returns at most three events, as an
// engine that caps its replies may.
type shortPages struct{ hub.Log }

func (l shortPages) Read(ctx context.Context, after uint64, limit int) ([]*hub.Event, error) {
	return l.Log.Read(ctx, after, min(limit, 3))
}

// TestReplayReadsOnAfterAShortPage: a replay that gets a short page before
// it reached the events dispatched since it registered reads on, instead of
// going live and skipping the ones in between.
func TestReplayReadsOnAfterAShortPage(t *testing.T) {
	log := memory.New(memory.Options{})
	h, err := hub.New(shortPages{log}, hub.Options{ReplayBatch: 8, RecentBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close()
		log.Close()
	})
	var ids []string
	for i := range 20 {
		ids = append(ids, publish(t, h, hub.Event{Topics: []string{"t"}, Data: fmt.Sprint(i)})...)
	}
	// Registered once all 20 are dispatched, it finds only the 21st queued.
	eventually(t, func() bool { return h.Stats().LastSeq == 20 })
	s := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"t"}, LastEventID: ids[0]})
	publish(t, h, hub.Event{Topics: []string{"t"}, Data: "20"})
	for i, f := range next(t, s, 20) {
		if want := fmt.Sprint(i + 1); f.data != want {
			t.Fatalf("frame %d has data %q, want %q", i, f.data, want)
		}
	}
}

// TestBatchReachesEachSubscriberOnceInOrder publishes one batch of runs of
// events with the same and with other audiences (the dispatcher fans a run
// out in one pass) and checks that every subscriber gets exactly its
// events, each once, in log order.
func TestBatchReachesEachSubscriberOnceInOrder(t *testing.T) {
	h := newHub(t, hub.Options{}, hub.Retention{})
	a, b, ab := []string{"a"}, []string{"b"}, []string{"a", "b"}
	subs := map[string]*hub.Subscription{
		"a":                  subscribe(t, h, hub.SubscribeRequest{Topics: a}),
		"b":                  subscribe(t, h, hub.SubscribeRequest{Topics: b}),
		"a and b":            subscribe(t, h, hub.SubscribeRequest{Topics: ab}),
		"a, private allowed": subscribe(t, h, hub.SubscribeRequest{Topics: a, Allowed: a}),
		"*":                  subscribe(t, h, hub.SubscribeRequest{Topics: []string{"*"}}),
	}
	batch := []hub.Event{
		{Topics: a, Data: "0"}, {Topics: a, Data: "1"}, {Topics: b, Data: "2"},
		{Topics: a, Data: "3", Private: true}, {Topics: a, Data: "4"},
		{Topics: ab, Data: "5"}, {Topics: ab, Data: "6"}, {Topics: a, Data: "7"},
	}
	want := map[string]string{
		"a":                  "0 1 4 5 6 7",
		"b":                  "2 5 6",
		"a and b":            "0 1 2 4 5 6 7",
		"a, private allowed": "0 1 3 4 5 6 7",
		"*":                  "0 1 2 4 5 6 7",
	}
	publish(t, h, batch...)
	publish(t, h, hub.Event{Topics: ab, Data: "8"}) // a run of one, after a run with its audience
	publish(t, h, hub.Event{Topics: ab, Data: "end"})
	for name, s := range subs {
		n := len(strings.Fields(want[name])) + 2
		var got []string
		for _, f := range next(t, s, n) {
			got = append(got, f.data)
		}
		if w := want[name] + " 8 end"; strings.Join(got, " ") != w {
			t.Errorf("%s got %v, want %s", name, got, w)
		}
	}
}

// TestASubscriberOfTwoTopicsIsQueuedOnce: a subscription that an event
// reaches through two of its topics gets one frame of it, so its queue's
// limit counts each event once; were it queued twice (the reader drops
// the second copy), such a subscriber would be cut off as slow at half
// the limit.
func TestASubscriberOfTwoTopicsIsQueuedOnce(t *testing.T) {
	h := newHub(t, hub.Options{QueueSize: 10}, hub.Retention{})
	both := []string{"a", "b"}
	s := subscribe(t, h, hub.SubscribeRequest{Topics: both})
	batch := make([]hub.Event, 8)
	for i := range batch {
		batch[i] = hub.Event{Topics: both, Data: fmt.Sprint(i)}
	}
	publish(t, h, batch...)
	var got []string
	for _, f := range next(t, s, len(batch)) {
		got = append(got, f.data)
	}
	if w := "0 1 2 3 4 5 6 7"; strings.Join(got, " ") != w {
		t.Fatalf("got %v, want %s", got, w)
	}
	if slow := h.Stats().SlowDisconnects; slow != 0 {
		t.Fatalf("%d subscribers cut off as slow, want none", slow)
	}
}

// TestAnOverflowDuringReplayThenAShortPageLosesNothing: a resuming
// subscriber's queue overflows while it replays, so the events dispatched
// meanwhile are dropped for the replay to read from the log; a short page
// before the last of them must not end the replay, or the ones between
// would never come.
func TestAnOverflowDuringReplayThenAShortPageLosesNothing(t *testing.T) {
	log := memory.New(memory.Options{})
	h, err := hub.New(shortPages{log}, hub.Options{ReplayBatch: 8, RecentBytes: -1, QueueSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close()
		log.Close()
	})
	var ids []string
	for i := range 5 {
		ids = append(ids, publish(t, h, hub.Event{Topics: []string{"t"}, Data: fmt.Sprint(i + 1)})...)
	}
	eventually(t, func() bool { return h.Stats().LastSeq == 5 })
	s := subscribe(t, h, hub.SubscribeRequest{Topics: []string{"t"}, LastEventID: ids[0]})
	// 6 to 9 fill the queue of 4; 10 to 15 overflow it.
	for i := 6; i <= 15; i++ {
		publish(t, h, hub.Event{Topics: []string{"t"}, Data: fmt.Sprint(i)})
	}
	eventually(t, func() bool { return h.Stats().LastSeq == 15 })
	var got []string
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var buf [][]byte
	for published := false; len(got) == 0 || got[len(got)-1] != "16"; {
		if !published && !s.CatchingUp() {
			publish(t, h, hub.Event{Topics: []string{"t"}, Data: "16"})
			published = true
		}
		buf, err = s.Next(ctx, buf)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		for _, b := range buf {
			if f := frameOf(b); f.data != "" {
				got = append(got, f.data)
			}
		}
	}
	for i, d := range got {
		if want := fmt.Sprint(i + 2); d != want {
			t.Fatalf("got %v, want 2 to 16 in order", got)
		}
	}
}
