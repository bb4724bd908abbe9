package logtest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// readWaitAsync calls ReadWait in a goroutine.
func readWaitAsync(ctx context.Context, tl hub.Tailer, after uint64, limit int) <-chan readResult {
	done := make(chan readResult, 1)
	go func() {
		evs, err := tl.ReadWait(ctx, after, limit)
		done <- readResult{evs, err}
	}()
	return done
}

type readResult struct {
	evs []*hub.Event
	err error
}

func tailer(t *testing.T, l hub.Log) hub.Tailer {
	t.Helper()
	tl, ok := l.(hub.Tailer)
	if !ok {
		t.Skip("logtest: the log is not a hub.Tailer")
	}
	return tl
}

// readResultOf returns what a readWaitAsync channel delivers, failing
// after bound.
func readResultOf(t *testing.T, done <-chan readResult, what string) readResult {
	t.Helper()
	timer := time.NewTimer(bound)
	defer timer.Stop()
	select {
	case r := <-done:
		return r
	case <-timer.C:
		t.Fatalf("%s: ReadWait has not returned after %v", what, bound)
		return readResult{}
	}
}

func (s *suite) testTailerReadWait(t *testing.T) {
	l, c := s.open(t, hub.Retention{})
	tl := tailer(t, l)
	appendOK(t, l, events(c, "e", 5)...)
	r := readResultOf(t, readWaitAsync(ctx(t), tl, 1, 3), "ReadWait behind the tail")
	if r.err != nil {
		t.Fatalf("ReadWait(1, 3): %v", r.err)
	}
	wantSeqs(t, r.evs, 2, 4)

	waiting := readWaitAsync(ctx(t), tl, 5, 10)
	select {
	case r := <-waiting:
		t.Fatalf("ReadWait at the tail returned %d events, %v before anything was appended", len(r.evs), r.err)
	default:
	}
	appendOK(t, l, events(c, "f", 2)...)
	r = readResultOf(t, waiting, "ReadWait woken by an append")
	if r.err != nil || len(r.evs) == 0 || r.evs[0].Seq != 6 || r.evs[0].Data != "f-0" {
		t.Fatalf("ReadWait woken by an append: %d events, %v", len(r.evs), r.err)
	}

	wctx, cancel := context.WithCancel(ctx(t))
	canceled := readWaitAsync(wctx, tl, 7, 1)
	cancel()
	wantErr(t, "ReadWait after cancel", readResultOf(t, canceled, "after cancel").err, context.Canceled)

	closed := readWaitAsync(ctx(t), tl, 7, 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "ReadWait across Close", readResultOf(t, closed, "after Close").err, hub.ErrClosed)
}

func (s *suite) testTailerReadWaitTrimmed(t *testing.T) {
	l, c := s.open(t, hub.Retention{MaxEvents: 2})
	tl := tailer(t, l)
	appendOK(t, l, events(c, "e", 5)...)
	r := readResultOf(t, readWaitAsync(ctx(t), tl, 1, 10), "ReadWait over trimmed events")
	wantErr(t, "ReadWait over trimmed events", r.err, hub.ErrTrimmed)
	r = readResultOf(t, readWaitAsync(ctx(t), tl, 3, 10), "ReadWait from the oldest retained")
	if r.err != nil {
		t.Fatal(r.err)
	}
	wantSeqs(t, r.evs, 4, 5)
}

func (s *suite) share(t *testing.T, l hub.Log, cfg Config) hub.Log {
	t.Helper()
	if s.f.Share == nil {
		t.Skip("logtest: Factory.Share is nil; not a shared log")
	}
	other, err := s.f.Share(t, l, cfg)
	if err != nil {
		t.Fatalf("Share: %v", err)
	}
	t.Cleanup(func() { _ = other.Close() })
	return other
}

// testSharedHandlesAgree appends through two handles at once, as two hub
// nodes do: the Seqs stay dense and contiguous per batch, both handles read
// the same log, and an id taken through one is refused through the other.
func (s *suite) testSharedHandlesAgree(t *testing.T) {
	c := newClock()
	cfg := Config{Now: c.Now}
	a, _ := s.open(t, hub.Retention{})
	b := s.share(t, a, cfg)
	const perHandle, batches, size = 8, 10, 3
	var wg sync.WaitGroup
	errs := make(chan error, 2*perHandle)
	for h, l := range []hub.Log{a, b} {
		for p := range perHandle {
			wg.Go(func() {
				for n := range batches {
					batch := events(c, fmt.Sprintf("h%dp%db%d", h, p, n), size)
					if err := l.Append(ctx(t), batch); err != nil {
						errs <- err
						return
					}
					for i := 1; i < size; i++ {
						contiguous := batch[i].Seq == batch[i-1].Seq+1
						if !contiguous && (!s.f.BatchesMayInterleave || batch[i].Seq < batch[i-1].Seq) {
							errs <- fmt.Errorf("a batch got Seqs %d and %d at %d", batch[i-1].Seq, batch[i].Seq, i)
							return
						}
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	const total = 2 * perHandle * batches * size
	fromA, fromB := readAll(t, a, 0, 100), readAll(t, b, 0, 100)
	wantSeqs(t, fromA, 1, total)
	wantSeqs(t, fromB, 1, total)
	for i := range fromA {
		if fromA[i].Data != fromB[i].Data {
			t.Fatalf("Seq %d holds %q through one handle, %q through the other", i+1, fromA[i].Data, fromB[i].Data)
		}
	}
	if ia, ib := info(t, a), info(t, b); ia.Epoch != ib.Epoch || ia.Last != ib.Last {
		t.Errorf("handles disagree: %+v and %+v", ia, ib)
	}
	appendOK(t, a, ev("taken", "1"))
	wantErr(t, "Append through the other handle of an id taken", b.Append(ctx(t), []*hub.Event{ev("taken", "2")}), hub.ErrDuplicateID)
	if seq, err := b.Lookup(ctx(t), "taken"); err != nil || seq != total+1 {
		t.Errorf("Lookup through the other handle = %d, %v; want %d", seq, err, total+1)
	}
}

func (s *suite) testSharedWaitWakes(t *testing.T) {
	c := newClock()
	a, _ := s.open(t, hub.Retention{})
	b := s.share(t, a, Config{Now: c.Now})
	waiting := waitAsync(ctx(t), b, 0)
	notReturned(t, waiting, "on an empty log")
	appendOK(t, a, events(c, "e", 1)...)
	if err := result(t, waiting, "after an append through the other handle"); err != nil {
		t.Fatalf("Wait woken through another handle: %v", err)
	}
	if tl, ok := b.(hub.Tailer); ok {
		r := readResultOf(t, readWaitAsync(ctx(t), tl, 0, 10), "ReadWait through the other handle")
		if r.err != nil || len(r.evs) != 1 || r.evs[0].Data != "e-0" {
			t.Fatalf("ReadWait through the other handle: %d events, %v", len(r.evs), r.err)
		}
	}
}

// testWipeMeansNewEpoch removes the storage under an open log: the log must
// refuse to carry on in the old epoch, then serve a new one from Seq 1.
func (s *suite) testWipeMeansNewEpoch(t *testing.T) {
	if s.f.Wipe == nil {
		t.Skip("logtest: Factory.Wipe is nil")
	}
	l, c := s.open(t, hub.Retention{})
	appendOK(t, l, ev("before", "1"))
	appendOK(t, l, events(c, "e", 4)...)
	old := info(t, l).Epoch
	s.f.Wipe(t, l)

	wantErr(t, "Append after the storage was wiped", l.Append(ctx(t), events(c, "lost", 1)), hub.ErrReplaced)
	_, err := l.Read(ctx(t), 2, 10)
	wantErr(t, "Read after the storage was wiped", err, hub.ErrReplaced)
	i := info(t, l)
	if i.Epoch == old || i.Last != 0 || i.Events != 0 {
		t.Fatalf("Info after a wipe = %+v; want a new epoch (not %q), no event", i, old)
	}
	if tl, ok := l.(hub.Tailer); ok {
		r := readResultOf(t, readWaitAsync(ctx(t), tl, 5, 10), "ReadWait after the new epoch")
		wantErr(t, "ReadWait from an old-epoch position", r.err, hub.ErrReplaced)
	}
	next := []*hub.Event{ev("before", "an id of the old epoch is free again")}
	appendOK(t, l, next...)
	if next[0].Seq != 1 {
		t.Errorf("first Append in the new epoch got Seq %d, want 1", next[0].Seq)
	}
	if tl, ok := l.(hub.Tailer); ok {
		r := readResultOf(t, readWaitAsync(ctx(t), tl, 0, 10), "ReadWait in the new epoch")
		if r.err != nil || len(r.evs) != 1 {
			t.Fatalf("ReadWait in the new epoch: %d events, %v", len(r.evs), r.err)
		}
	}
}
