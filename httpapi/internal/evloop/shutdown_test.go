//go:build linux

package evloop_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/httpapi/internal/evloop"
	"github.com/ssehub/ssehub/hub"
)

// unansweredReplay is a subscription replaying from a store that does not
// answer (Redis or NATS unreachable): its Poll returns only when the
// loop's context ends, or when the test releases it.
type unansweredReplay struct {
	polling chan struct{} // closed when the first Poll starts
	release chan struct{} // closed by the test's cleanup
	closed  chan struct{} // closed when the loop closes the source
	once    sync.Once
}

func newUnansweredReplay(t *testing.T) *unansweredReplay {
	s := &unansweredReplay{polling: make(chan struct{}), release: make(chan struct{}), closed: make(chan struct{})}
	t.Cleanup(func() { close(s.release) })
	return s
}

func (s *unansweredReplay) Poll(ctx context.Context, buf [][]byte) ([][]byte, error) {
	s.once.Do(func() { close(s.polling) })
	select {
	case <-ctx.Done():
		return buf[:0], ctx.Err()
	case <-s.release:
		return buf[:0], errors.New("released by the test")
	}
}

func (s *unansweredReplay) OnReady(func())   {}
func (s *unansweredReplay) Close()           { close(s.closed) }
func (s *unansweredReplay) CatchingUp() bool { return true }

// TestShutdownCancelsAReplayStuckInItsStore: when Shutdown's context ends,
// a worker waiting in a source's read is let go at once (the context
// sources read with is canceled), so Shutdown returns at its deadline,
// not when the store answers.
func TestShutdownCancelsAReplayStuckInItsStore(t *testing.T) {
	f := newFixture(t, hub.Options{}, evloop.Options{Workers: 2})
	src := newUnansweredReplay(t)
	_, server := f.dial()
	if err := f.loop.Add(server, src, false); err != nil {
		t.Fatal(err)
	}
	<-src.polling
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() { done <- f.loop.Shutdown(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Shutdown: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown still waits 10s after its context ended, for a source's read")
	}
	select {
	case <-src.closed:
	default:
		t.Error("Shutdown returned without closing the stuck stream's source")
	}
}
