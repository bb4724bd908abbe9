package logtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/hub"
)

// bound is how long the suite lets a log take to do what it must do at
// once. It only limits a failing test; passing tests never wait for it.
const bound = 10 * time.Second

// waitAsync calls l.Wait(ctx, after) in a goroutine and returns the channel
// its result arrives on.
func waitAsync(ctx context.Context, l hub.Log, after uint64) <-chan error {
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx, after) }()
	return done
}

// result returns what a waitAsync channel delivers, failing after bound.
func result(t *testing.T, done <-chan error, what string) error {
	t.Helper()
	timer := time.NewTimer(bound)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		t.Fatalf("%s: Wait has not returned after %v", what, bound)
		return nil
	}
}

// notReturned fails if a Wait that should still block has returned.
func notReturned(t *testing.T, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("%s: Wait returned %v before there was anything to wait for", what, err)
	default:
	}
}

func (s *suite) testWaitReturnsAtOnce(t *testing.T) {
	l, c := s.open(t, hub.Retention{})
	appendOK(t, l, events(c, "e", 2)...)
	for _, after := range []uint64{0, 1} {
		if err := result(t, waitAsync(ctx(t), l, after), "Wait behind the tail"); err != nil {
			t.Errorf("Wait(%d) with 2 events: %v", after, err)
		}
	}
}

func (s *suite) testWaitWakesOnAppend(t *testing.T) {
	l, c := s.open(t, hub.Retention{})
	appendOK(t, l, events(c, "e", 1)...)
	var waiters []<-chan error
	for range 8 {
		waiters = append(waiters, waitAsync(ctx(t), l, 1))
	}
	for _, w := range waiters {
		notReturned(t, w, "at the tail")
	}
	appendOK(t, l, events(c, "f", 1)...)
	for _, w := range waiters {
		if err := result(t, w, "after an append"); err != nil {
			t.Errorf("Wait woken by an append returned %v", err)
		}
	}
}

func (s *suite) testWaitReturnsOnCancel(t *testing.T) {
	l, _ := s.open(t, hub.Retention{})
	wctx, cancel := context.WithCancel(ctx(t))
	done := waitAsync(wctx, l, 0)
	notReturned(t, done, "on an empty log")
	cancel()
	if err := result(t, done, "after cancel"); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait after cancel = %v, want context.Canceled", err)
	}
}

func (s *suite) testWaitReturnsErrClosed(t *testing.T) {
	l, _ := s.open(t, hub.Retention{})
	done := waitAsync(ctx(t), l, 0)
	notReturned(t, done, "on an empty log")
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantErr(t, "Wait during Close", result(t, done, "after Close"), hub.ErrClosed)
	wantErr(t, "Wait after Close", result(t, waitAsync(ctx(t), l, 0), "after Close"), hub.ErrClosed)
}

func (s *suite) testClosedLogRefuses(t *testing.T) {
	l, c := s.open(t, hub.Retention{})
	appendOK(t, l, events(c, "e", 1)...)
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantErr(t, "Append after Close", l.Append(ctx(t), events(c, "f", 1)), hub.ErrClosed)
	_, err := l.Read(ctx(t), 0, 10)
	wantErr(t, "Read after Close", err, hub.ErrClosed)
	_ = l.Close() // a second Close must not panic or hang
}

func (s *suite) testNoGoroutineLeft(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	c := newClock()
	l, err := s.f.Open(t, Config{Retention: hub.Retention{MaxEvents: 10}, Now: c.Now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	appendOK(t, l, events(c, "e", 20)...)
	readAll(t, l, 10, 3)
	wctx, cancel := context.WithCancel(ctx(t))
	canceled := waitAsync(wctx, l, 20)
	closed := waitAsync(ctx(t), l, 20)
	cancel()
	result(t, canceled, "after cancel")
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	result(t, closed, "after Close")
	goleak.VerifyNone(t, ignore)
}

func (s *suite) testLargeEvents(t *testing.T) {
	l, c := s.open(t, hub.Retention{})
	topics := make([]string, hub.MaxTopics)
	for i := range topics {
		topics[i] = string(rune('a'+i%26)) + string(make([]byte, hub.MaxTopicLen-1))
	}
	big := make([]*hub.Event, 4)
	for i := range big {
		data := make([]byte, hub.DefaultLimit)
		for j := range data {
			data[j] = byte('a' + (i+j)%26)
		}
		big[i] = &hub.Event{ID: string(rune('A'+i)) + string(make([]byte, hub.MaxIDLen-1)),
			Topics: topics, Data: string(data), Time: c.Now()}
	}
	appendOK(t, l, big...)
	got := readAll(t, l, 0, 2)
	wantSeqs(t, got, 1, 4)
	for i, e := range got {
		if e.ID != big[i].ID || e.Data != big[i].Data || len(e.Topics) != len(topics) || e.Topics[63] != topics[63] {
			t.Errorf("large event %d did not read back intact", i)
		}
	}
}

func (s *suite) testRead50000(t *testing.T) {
	l, c := s.open(t, hub.Retention{})
	const n, batch = 50000, 1000
	for b := 0; b < n; b += batch {
		appendOK(t, l, events(c, "e", batch)...)
	}
	got := readAll(t, l, 0, 512)
	wantSeqs(t, got, 1, n)
	if got[n-1].Data != "e-999" {
		t.Errorf("last event holds %q", got[n-1].Data)
	}
	got = readAll(t, l, n-10, 512)
	wantSeqs(t, got, n-9, n)
}
