package tail

import (
	"context"
	"errors"
	"testing"

	"github.com/ssehub/ssehub/hub"
)

func TestWait(t *testing.T) {
	tl := New(5)
	if err := tl.Wait(context.Background(), 4); err != nil {
		t.Fatalf("Wait before the end: %v", err)
	}
	woke := make(chan error)
	go func() { woke <- tl.Wait(context.Background(), 5) }()
	tl.Advance(5) // not past 5: the waiter stays
	tl.Advance(6)
	if err := <-woke; err != nil {
		t.Fatalf("Wait after Advance: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tl.Wait(ctx, 6); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a cancelled context: %v", err)
	}
	go func() { woke <- tl.Wait(context.Background(), 6) }()
	tl.Close()
	if err := <-woke; !errors.Is(err, hub.ErrClosed) {
		t.Fatalf("Wait across Close: %v", err)
	}
	tl.Close() // twice is fine
	tl.Advance(7)
	if err := tl.Wait(context.Background(), 0); !errors.Is(err, hub.ErrClosed) {
		t.Fatalf("Wait after Close: %v", err)
	}
}
