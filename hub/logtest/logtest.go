// Package logtest is the conformance suite every [hub.Log] implementation
// must pass, in the spirit of testing/fstest:
//
//	func TestConformance(t *testing.T) {
//		logtest.Run(t, logtest.Factory{
//			Open: func(t *testing.T, cfg logtest.Config) (hub.Log, error) {
//				return memory.New(memory.Options{Retention: cfg.Retention, Now: cfg.Now}), nil
//			},
//		})
//	}
//
// What the suite expects beyond the interface's documentation: retention is
// applied at least on every Append (so after the clock moves, the next Append
// removes what has aged out), judged by each event's Time against Config.Now;
// operations on a closed log fail with [hub.ErrClosed]; Append keeps no
// reference to the caller's events. Subtests do not run in parallel, because
// one of them checks that no goroutine outlives its log.
package logtest

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/testclock"
)

// Config is what the suite asks of each log it opens.
type Config struct {
	// Retention is the retention the log must apply.
	Retention hub.Retention
	// Now is the clock the log must use for retention by age. The suite
	// moves it forward by hand.
	Now func() time.Time
}

// Factory opens the logs under test.
type Factory struct {
	// Open returns a new, empty log configured by cfg. Each call must get
	// its own storage (a directory under t.TempDir(), a fresh key prefix, …).
	// The suite closes every log it opens.
	Open func(t *testing.T, cfg Config) (hub.Log, error)

	// Reopen, when set, opens again the storage of a log that Open (or
	// Reopen) returned and that the suite has closed, configured by cfg.
	// Durable logs set it; without it the durability tests are skipped.
	Reopen func(t *testing.T, closed hub.Log, cfg Config) (hub.Log, error)

	// Share, when set, opens a second handle on the storage of a log that
	// is still open, as another hub node on the same engine would. Shared
	// logs set it; the suite then checks that handles agree on Seqs and
	// wake each other's waiters.
	Share func(t *testing.T, open hub.Log, cfg Config) (hub.Log, error)

	// Wipe, when set, removes the storage of an open log behind its back,
	// as an operator flushing the engine would. The suite then checks
	// that the log notices (ErrReplaced) and carries on in a new epoch.
	Wipe func(t *testing.T, open hub.Log)

	// RetentionByEngineClock says the log's engine applies retention by
	// age with its own clock (NATS JetStream's MaxAge), not Config.Now: the
	// suite's test of it, which moves Config.Now by hand, is skipped.
	RetentionByEngineClock bool

	// CrashMayCutBatches records a weaker Append contract: a batch is
	// contiguous and all-or-nothing while the appending process lives, but
	// a process that dies in the middle of one may leave its first events
	// stored (NATS JetStream has no atomic multi-message publish). The
	// suite cannot crash a process, so it tests nothing more for it; the
	// flag tells the log's users which contract they get.
	CrashMayCutBatches bool

	// BatchesMayInterleave records that batches appended through two
	// handles of a shared log at once may interleave (each keeps its own
	// order); batches through one handle stay contiguous. The suite's
	// shared-handle test then checks order instead of contiguity.
	BatchesMayInterleave bool
}

// Run runs the conformance suite against the logs f opens.
func Run(t *testing.T, f Factory) {
	if f.Open == nil {
		t.Fatal("logtest: Factory.Open is nil")
	}
	s := &suite{f: f}
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"EmptyLog", s.testEmptyLog},
		{"AppendAssignsSeq", s.testAppendAssignsSeq},
		{"EventsRoundTrip", s.testEventsRoundTrip},
		{"AppendCopiesEvents", s.testAppendCopiesEvents},
		{"ConcurrentAppend", s.testConcurrentAppend},
		{"DuplicateIDAcrossBatches", s.testDuplicateIDAcrossBatches},
		{"DuplicateIDWithinBatch", s.testDuplicateIDWithinBatch},
		{"EmptyIDsAreNotIndexed", s.testEmptyIDsAreNotIndexed},
		{"ReadAfterAndLimit", s.testReadAfterAndLimit},
		{"ReadWithAHugeLimit", s.testReadWithAHugeLimit},
		{"RetentionByCount", s.testRetentionByCount},
		{"RetentionByAge", s.testRetentionByAge},
		{"RetentionByBytes", s.testRetentionByBytes},
		{"TrimThrough", s.testTrimThrough},
		{"Lookup", s.testLookup},
		{"Info", s.testInfo},
		{"WaitReturnsAtOnceWhenBehind", s.testWaitReturnsAtOnce},
		{"WaitWakesOnAppend", s.testWaitWakesOnAppend},
		{"WaitReturnsOnCancel", s.testWaitReturnsOnCancel},
		{"WaitReturnsErrClosedOnClose", s.testWaitReturnsErrClosed},
		{"ClosedLogRefuses", s.testClosedLogRefuses},
		{"NoGoroutineLeft", s.testNoGoroutineLeft},
		{"LargeEvents", s.testLargeEvents},
		{"Read50000", s.testRead50000},
		{"ReopenKeepsEventsAndEpoch", s.testReopenKeepsEvents},
		{"ReopenContinuesSeqAfterTrim", s.testReopenContinuesSeqAfterTrim},
		{"TailerReadWait", s.testTailerReadWait},
		{"TailerReadWaitTrimmed", s.testTailerReadWaitTrimmed},
		{"SharedHandlesAgree", s.testSharedHandlesAgree},
		{"SharedWaitWakes", s.testSharedWaitWakes},
		{"WipeMeansNewEpoch", s.testWipeMeansNewEpoch},
	} {
		t.Run(tc.name, tc.fn)
	}
}

type suite struct{ f Factory }

// newClock returns the hand-moved clock the suite gives logs for
// retention by age.
func newClock() *testclock.Clock { return testclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) }

// open opens a log with the given retention and a clock, and closes it when
// the test ends.
func (s *suite) open(t *testing.T, r hub.Retention) (hub.Log, *testclock.Clock) {
	t.Helper()
	c := newClock()
	l, err := s.f.Open(t, Config{Retention: r, Now: c.Now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l, c
}

// reopen closes l and opens its storage again; it skips the test when the
// factory cannot reopen.
func (s *suite) reopen(t *testing.T, l hub.Log, cfg Config) hub.Log {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	l, err := s.f.Reopen(t, l, cfg)
	if err != nil {
		t.Fatalf("Reopen: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func (s *suite) needReopen(t *testing.T) {
	if s.f.Reopen == nil {
		t.Skip("logtest: Factory.Reopen is nil; durability not tested")
	}
}

func ctx(t *testing.T) context.Context { return t.Context() }

// ev returns an event with the given id and data on topic "t".
func ev(id, data string) *hub.Event {
	return &hub.Event{ID: id, Topics: []string{"t"}, Data: data}
}

// events returns n events without ids, stamped at the clock's time, with
// Data naming their place: prefix-0, prefix-1, …
func events(c *testclock.Clock, prefix string, n int) []*hub.Event {
	out := make([]*hub.Event, n)
	for i := range out {
		out[i] = &hub.Event{Topics: []string{"t"}, Data: prefix + "-" + strconv.Itoa(i), Time: c.Now()}
	}
	return out
}

func appendOK(t *testing.T, l hub.Log, evs ...*hub.Event) {
	t.Helper()
	if err := l.Append(ctx(t), evs); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

func info(t *testing.T, l hub.Log) hub.Info {
	t.Helper()
	i, err := l.Info(ctx(t))
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	return i
}

// readAll reads every event after `after` in pages of limit.
func readAll(t *testing.T, l hub.Log, after uint64, limit int) []*hub.Event {
	t.Helper()
	var out []*hub.Event
	for {
		page, err := l.Read(ctx(t), after, limit)
		if err != nil {
			t.Fatalf("Read(%d, %d): %v", after, limit, err)
		}
		if len(page) == 0 {
			return out
		}
		if len(page) > limit {
			t.Fatalf("Read(%d, %d) returned %d events", after, limit, len(page))
		}
		out = append(out, page...)
		after = page[len(page)-1].Seq
	}
}

// wantSeqs fails unless evs have exactly the Seqs from..to, in order.
func wantSeqs(t *testing.T, evs []*hub.Event, from, to uint64) {
	t.Helper()
	if want := int(to - from + 1); from > to && len(evs) != 0 || from <= to && len(evs) != want {
		t.Fatalf("got %d events, want Seqs %d..%d", len(evs), from, to)
	}
	for i, e := range evs {
		if e.Seq != from+uint64(i) {
			t.Fatalf("event %d has Seq %d, want %d", i, e.Seq, from+uint64(i))
		}
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}
