// Package tail lets readers of a log wait until its end passes a position.
// Every log implementation needs this for hub.Log's Wait; it lives here so
// that they share one mechanism.
package tail

import (
	"context"
	"sync"

	"github.com/ssehub/ssehub/hub"
)

// Tail tracks a log's last position. The zero value is not usable; use New.
type Tail struct {
	mu     sync.Mutex
	last   uint64
	closed bool
	wake   chan struct{} // closed and replaced whenever last grows, closed for good by Close
}

// New returns a tail whose log ends at last.
func New(last uint64) *Tail { return &Tail{last: last, wake: make(chan struct{})} }

// Advance records that the log now ends at last (once readers can read up
// to it) and wakes every waiter. A smaller or equal last changes nothing.
func (t *Tail) Advance(last uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if last > t.last && !t.closed {
		t.last = last
		close(t.wake)
		t.wake = make(chan struct{})
	}
}

// Close wakes every waiter for good: Wait returns hub.ErrClosed from now on.
func (t *Tail) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		t.closed = true
		close(t.wake)
	}
}

// Wait blocks until the log ends after position after, ctx is done, or the
// tail is closed.
func (t *Tail) Wait(ctx context.Context, after uint64) error {
	for {
		t.mu.Lock()
		last, wake, closed := t.last, t.wake, t.closed
		t.mu.Unlock()
		switch {
		case closed:
			return hub.ErrClosed
		case last > after:
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
	}
}
