package logtest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/ssehub/ssehub/hub"
)

// SharedLog is a log that several nodes open at once, each through its
// own handle, and that follows its tail itself (a shared engine's).
type SharedLog interface {
	hub.Log
	hub.Tailer
}

// BusyTogether checks that handles on one shared log, appending, reading
// from the start, following the tail and asking for Info all at once,
// never take each other's progress for a lost tail: every call succeeds,
// and the log ends in the epoch it began in, holding every event.
func BusyTogether(t *testing.T, logs ...SharedLog) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	before, err := logs[0].Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const appenders, each = 4, 100
	total := before.Last + uint64(len(logs)*appenders*each)
	var mu sync.Mutex
	var failures []error
	fail := func(err error) {
		mu.Lock()
		failures = append(failures, err)
		mu.Unlock()
		cancel() // the others stop too
	}
	var busy, tails sync.WaitGroup
	for _, l := range logs {
		for range appenders {
			busy.Go(func() {
				for i := range each {
					if err := l.Append(ctx, []*hub.Event{{Topics: []string{"t"}, Data: fmt.Sprint(i)}}); err != nil {
						fail(fmt.Errorf("append: %w", err))
						return
					}
				}
			})
		}
		tails.Go(func() { // follows the tail to the last event
			for pos := before.Last; pos < total; {
				evs, err := l.ReadWait(ctx, pos, 64)
				if err != nil {
					fail(fmt.Errorf("tail after %d: %w", pos, err))
					return
				}
				pos = evs[len(evs)-1].Seq
			}
		})
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for _, l := range logs {
		readers.Go(func() { // reads from the start until the tails are done
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := l.Read(ctx, 0, 16); err != nil {
					fail(fmt.Errorf("read: %w", err))
					return
				}
				if _, err := l.Info(ctx); err != nil {
					fail(fmt.Errorf("info: %w", err))
					return
				}
			}
		})
	}
	busy.Wait()
	tails.Wait()
	close(stop)
	readers.Wait()
	for _, err := range failures {
		t.Error(err)
	}
	after, err := logs[len(logs)-1].Info(t.Context())
	if err != nil || after.Epoch != before.Epoch || after.Last != total {
		t.Fatalf("Info after the busy spell: %+v, %v; want epoch %q ending at %d", after, err, before.Epoch, total)
	}
}
