package hub_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
)

// TestSubscribeRacingCloseIsEnded: a subscription registered while the hub
// closes is either refused with ErrHubClosed or ended with it, never left
// open without heartbeats or an end. Heartbeats are off, so a subscription
// the hub forgot would block in Next until the test's bound.
func TestSubscribeRacingCloseIsEnded(t *testing.T) {
	const rounds, racers = 50, 16
	for range rounds {
		log := memory.New(memory.Options{})
		h, err := hub.New(log, hub.Options{Heartbeat: -1})
		if err != nil {
			t.Fatal(err)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		subs := make(chan *hub.Subscription, racers*8)
		for range racers {
			wg.Go(func() {
				<-start
				for range 8 {
					s, err := h.Subscribe(context.Background(), hub.SubscribeRequest{Topics: []string{"t"}})
					if err != nil {
						if !errors.Is(err, hub.ErrHubClosed) {
							t.Errorf("Subscribe while closing: %v, want ErrHubClosed", err)
						}
						return
					}
					subs <- s
				}
			})
		}
		close(start)
		h.Close()
		wg.Wait()
		close(subs)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		for s := range subs {
			var buf [][]byte
			for err = nil; err == nil; {
				buf, err = s.Next(ctx, buf)
			}
			if !errors.Is(err, hub.ErrHubClosed) {
				t.Fatalf("a subscription registered while the hub closed ended with %v, want ErrHubClosed", err)
			}
			s.Close()
		}
		cancel()
		log.Close()
	}
}
