package hub_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
)

// TestHeartbeatOnIdleStreams runs on a fake clock: an idle subscriber gets
// a comment exactly every heartbeat interval.
func TestHeartbeatOnIdleStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := memory.New(memory.Options{})
		defer log.Close()
		h, err := hub.New(log, hub.Options{Heartbeat: 15 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		s, err := h.Subscribe(context.Background(), hub.SubscribeRequest{Topics: []string{"quiet"}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Next(context.Background(), nil); err != nil { // the position frame
			t.Fatal(err)
		}
		for i := range 3 {
			start := time.Now()
			frames, err := s.Next(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(frames) != 1 || string(frames[0]) != ":\n\n" {
				t.Fatalf("beat %d: got %q, want one heartbeat comment", i, frames)
			}
			if d := time.Since(start); d != 15*time.Second {
				t.Errorf("beat %d came after %v, want 15s", i, d)
			}
		}
	})
}
