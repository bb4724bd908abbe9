//go:build linux

package evloop_test

import (
	"context"
	"sync"
	"testing"

	"github.com/ssehub/ssehub/httpapi/internal/evloop"
	"github.com/ssehub/ssehub/hub"
)

// stuckBacklog is a source catching up on a backlog whose every Poll
// blocks until released, as a replay waiting on a slow disk or a remote
// log would.
type stuckBacklog struct {
	polling chan struct{} // gets a value when a Poll starts
	release chan struct{}
	once    sync.Once
}

func (s *stuckBacklog) Poll(ctx context.Context, buf [][]byte) ([][]byte, error) {
	select {
	case s.polling <- struct{}{}:
	default:
	}
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	return buf[:0], nil
}

func (s *stuckBacklog) OnReady(func()) {}
func (s *stuckBacklog) Close()         {}
func (s *stuckBacklog) CatchingUp() bool {
	return true
}

// TestLiveStreamsAreServedWhileBacklogsWait: however many streams are
// catching up, and however long each of their reads takes, one worker is
// left for live streams. Here every worker but one would be stuck in a
// backlog read: a live stream still gets its position and its event.
func TestLiveStreamsAreServedWhileBacklogsWait(t *testing.T) {
	f := newFixture(t, hub.Options{}, evloop.Options{Workers: 2})
	stuck := &stuckBacklog{polling: make(chan struct{}, 1), release: make(chan struct{})}
	t.Cleanup(func() { close(stuck.release) })
	for range 4 {
		_, server := f.dial()
		if err := f.loop.Add(server, stuck, false); err != nil {
			t.Fatal(err)
		}
	}
	<-stuck.polling // a worker is stuck in a backlog
	live := f.open(hub.SubscribeRequest{Topics: []string{"a"}})
	ids := f.publish(hub.Event{Topics: []string{"a"}, Data: "live"})
	if got, want := live.frame(t), "id: "+ids[0]+"\ndata: live\n\n"; got != want {
		t.Fatalf("live stream got %q, want %q", got, want)
	}
}
