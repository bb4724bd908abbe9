package httpapi

import (
	"context"
	"testing"
	"time"

	"github.com/ssehub/ssehub/httpapi/internal/evloop"
	"github.com/ssehub/ssehub/httpapi/internal/stream"
	"github.com/ssehub/ssehub/hub"
)

// TestMercureSourcesSayWhetherTheyAreCatchingUp: the wrappers a Mercure
// stream's subscription goes through (presence, a token's expiry) let the
// event loop ask whether it is still replaying, so a Mercure replay is
// served after live streams like any other, and a stream that caught up
// is served as live.
func TestMercureSourcesSayWhetherTheyAreCatchingUp(t *testing.T) {
	h := newHub(t)
	if _, err := h.Publish(context.Background(), hub.Event{Topics: []string{"a"}, Data: "1"}, hub.Event{Topics: []string{"a"}, Data: "2"}); err != nil {
		t.Fatal(err)
	}
	sub, err := h.Subscribe(context.Background(), hub.SubscribeRequest{Topics: []string{"a"}, LastEventID: hub.FormatID(h.Epoch(), 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	wrapped := map[string]stream.Source{
		"expiring":         &expiringSource{Source: sub, lapsed: func() bool { return false }},
		"leaving":          &leavingSource{Subscription: sub, leave: func() {}},
		"expiring leaving": &expiringSource{Source: &leavingSource{Subscription: sub, leave: func() {}}, lapsed: func() bool { return false }},
	}
	catchingUp := func(want bool) {
		t.Helper()
		for name, src := range wrapped {
			cu, ok := src.(evloop.CatchingUp)
			if !ok {
				t.Errorf("%s: the event loop cannot ask whether it is catching up", name)
				continue
			}
			if got := cu.CatchingUp(); got != want {
				t.Errorf("%s: CatchingUp() = %v, the subscription's is %v", name, got, want)
			}
		}
	}
	if !sub.CatchingUp() {
		t.Fatal("a subscription resuming before two events is not catching up")
	}
	catchingUp(true)
	deadline := time.Now().Add(10 * time.Second)
	var buf [][]byte
	for sub.CatchingUp() {
		if time.Now().After(deadline) {
			t.Fatal("the replay of two events did not end within 10s")
		}
		if buf, err = sub.Poll(context.Background(), buf); err != nil {
			t.Fatal(err)
		}
	}
	catchingUp(false)
}

// TestAnExpiringSourceOverOneThatCannotSayIsLive: a wrapped source that
// does not say whether it is catching up is served as live.
func TestAnExpiringSourceOverOneThatCannotSayIsLive(t *testing.T) {
	var src any = &expiringSource{Source: silentSource{}, lapsed: func() bool { return false }}
	if cu, ok := src.(evloop.CatchingUp); ok && cu.CatchingUp() {
		t.Error("an expiring source over one that cannot say reports catching up")
	}
}

// silentSource is a source that does not say whether it is catching up.
type silentSource struct{}

func (silentSource) Poll(_ context.Context, buf [][]byte) ([][]byte, error) { return buf[:0], nil }
func (silentSource) Next(_ context.Context, buf [][]byte) ([][]byte, error) { return buf[:0], nil }
func (silentSource) OnReady(func())                                         {}
func (silentSource) Close()                                                 {}
