package hub_test

import (
	"bytes"
	"context"
	"fmt"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
)

// A Go program can run the hub in-process: publish and subscribe with Go
// calls, no HTTP needed.
func Example() {
	ctx := context.Background()
	log := memory.New(memory.Options{})
	defer log.Close()
	h, err := hub.New(log, hub.Options{})
	if err != nil {
		panic(err)
	}
	defer h.Close()

	sub, err := h.Subscribe(ctx, hub.SubscribeRequest{Topics: []string{"tasks/{id}"}})
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	_, err = h.Publish(ctx, hub.Event{
		Topics: []string{"tasks/42"},
		ID:     "claim-42",
		Type:   "claimed",
		Data:   `{"task":42,"by":"Ada"}`,
	})
	if err != nil {
		panic(err)
	}

	// Next returns ready-to-write SSE bytes. The first frame tells the
	// client where the stream stands; then come the events.
	var frames [][]byte
	for {
		frames, err = sub.Next(ctx, frames)
		if err != nil {
			panic(err)
		}
		if len(frames) > 0 && bytes.Contains(frames[0], []byte("data:")) {
			break
		}
	}
	fmt.Print(string(frames[0]))
	// Output:
	// id: claim-42
	// event: claimed
	// data: {"task":42,"by":"Ada"}
}

// An event loop serves many subscriptions without a goroutine each:
// OnReady says when a subscription has news, and Poll takes it without
// waiting. (OnReady's function runs on the hub's dispatcher, so it only
// queues the work.)
func ExampleSubscription_Poll() {
	ctx := context.Background()
	log := memory.New(memory.Options{})
	defer log.Close()
	h, err := hub.New(log, hub.Options{})
	if err != nil {
		panic(err)
	}
	defer h.Close()

	ready := make(chan *hub.Subscription, 16)
	var subs []*hub.Subscription
	for _, topic := range []string{"prices/ACME", "prices/KITE"} {
		sub, err := h.Subscribe(ctx, hub.SubscribeRequest{Topics: []string{topic}})
		if err != nil {
			panic(err)
		}
		defer sub.Close()
		sub.OnReady(func() { ready <- sub })
		subs = append(subs, sub)
	}
	// What was there before OnReady: each stream's position frame.
	for _, sub := range subs {
		if _, err := sub.Poll(ctx, nil); err != nil {
			panic(err)
		}
	}

	if _, err := h.Publish(ctx, hub.Event{Topics: []string{"prices/KITE"}, ID: "k1", Data: "155.30"}); err != nil {
		panic(err)
	}
	// One loop, however many subscriptions: serve the one that has news.
	sub := <-ready
	frames, err := sub.Poll(ctx, nil)
	if err != nil {
		panic(err)
	}
	fmt.Print(string(bytes.Join(frames, nil)))
	fmt.Println(sub == subs[1])
	// Output:
	// id: k1
	// data: 155.30
	//
	// true
}
