//go:build linux

package evloop_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/httpapi/internal/evloop"
	"github.com/ssehub/ssehub/hub"
)

// TestFiguresCountBlockedSocketsAndWriteTimeouts: a client that stops
// reading shows as a blocked socket while its stream is held, and as one
// write timeout once the loop closes it; a reading client is neither.
func TestFiguresCountBlockedSocketsAndWriteTimeouts(t *testing.T) {
	f := newFixture(t, hub.Options{QueueSize: 1 << 16}, evloop.Options{WriteTimeout: 2 * time.Second})
	stalled := f.open(hub.SubscribeRequest{Topics: []string{"s"}})
	reader := f.open(hub.SubscribeRequest{Topics: []string{"r"}})
	if got := f.loop.Figures(); got.Streams != 2 || got.Blocked != 0 || got.WriteTimeouts != 0 {
		t.Fatalf("figures with two idle streams: %+v", got)
	}
	// 24 MiB, more than loopback's socket buffers hold, for a client
	// that reads nothing.
	data := strings.Repeat("x", 16<<10)
	for range 1500 {
		f.publish(hub.Event{Topics: []string{"s"}, Data: data})
	}
	// Nothing signals the count; check it on a ticker, within a bound.
	bound := time.After(10 * time.Second)
	check := time.NewTicker(5 * time.Millisecond)
	defer check.Stop()
	for f.loop.Figures().Blocked != 1 {
		select {
		case <-bound:
			t.Fatalf("the stalled socket is not counted blocked within 10s: %+v", f.loop.Figures())
		case <-check.C:
		}
	}
	select {
	case <-stalled.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the stalled stream was not closed within 10s")
	}
	ids := f.publish(hub.Event{Topics: []string{"r"}, Data: "still here"})
	if got := reader.frame(t); !strings.HasPrefix(got, "id: "+ids[0]+"\n") {
		t.Fatalf("the reader got %q", got)
	}
	if got := f.loop.Figures(); got.Streams != 1 || got.Blocked != 0 || got.WriteTimeouts != 1 {
		t.Errorf("figures after the write timeout: %+v, want 1 stream, 0 blocked, 1 write timeout", got)
	}
}
