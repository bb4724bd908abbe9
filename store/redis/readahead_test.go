package redis

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/logtest"
	"github.com/ssehub/ssehub/internal/testserver"
	"github.com/ssehub/ssehub/store/internal/epoch"
)

// appendData appends the events from to to, whose data is prefix and their
// Seq.
func appendData(t *testing.T, l hub.Log, prefix string, from, to int) {
	t.Helper()
	var evs []*hub.Event
	for seq := from; seq <= to; seq++ {
		evs = append(evs, &hub.Event{Topics: []string{"t"}, Data: fmt.Sprint(prefix, seq)})
	}
	if err := l.Append(t.Context(), evs); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

// aheadHeld waits until the page read ahead for after, if any, has come
// back from Redis, and says whether the log holds it for its Read.
func aheadHeld(t *testing.T, l *Log, after uint64) bool {
	t.Helper()
	l.ahead.mu.Lock()
	p := l.ahead.pages[after]
	l.ahead.mu.Unlock()
	if p == nil {
		return false
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("the page after %d did not come back", after)
	}
	l.ahead.mu.Lock()
	defer l.ahead.mu.Unlock()
	return l.ahead.pages[after] == p
}

// fetchesDone waits for every page being read ahead to come back; nothing
// may start another meanwhile.
func fetchesDone(l *Log) { l.ahead.wg.Wait() }

func taken(l *Log) int64 {
	l.ahead.mu.Lock()
	defer l.ahead.mu.Unlock()
	return l.ahead.taken
}

func wantData(t *testing.T, evs []*hub.Event, from uint64, prefix string, n int) {
	t.Helper()
	if len(evs) != n {
		t.Fatalf("%d events, want %d", len(evs), n)
	}
	for i, ev := range evs {
		seq := from + uint64(i)
		if ev.Seq != seq || ev.Data != fmt.Sprint(prefix, seq) {
			t.Fatalf("event %d: Seq %d, data %q; want Seq %d, data %q", i, ev.Seq, ev.Data, seq, fmt.Sprint(prefix, seq))
		}
	}
}

// readWant reads limit events after after and checks they are n events
// from Seq from on, with the data wantData expects.
func readWant(t *testing.T, l *Log, after uint64, limit int, from uint64, prefix string, n int) {
	t.Helper()
	evs, err := l.Read(t.Context(), after, limit)
	if err != nil {
		t.Fatalf("Read(%d, %d): %v", after, limit, err)
	}
	wantData(t, evs, from, prefix, n)
}

func openLog(t *testing.T, srv *testserver.Server, stream string, cfg logtest.Config) *Log {
	t.Helper()
	l, err := open(t, srv, stream, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestReadAheadServesTheNextPages(t *testing.T) {
	srv := testserver.Redis(t, testserver.RedisOptions{})
	l := openLog(t, srv, "ahead-"+epoch.New(), logtest.Config{})
	appendData(t, l, "e", 1, 50)
	readWant(t, l, 0, 10, 1, "e", 10)
	for after := uint64(10); after < 40; after += 10 {
		if !aheadHeld(t, l, after) {
			t.Fatalf("the full page before %d was not followed by a read-ahead", after)
		}
		readWant(t, l, after, 10, after+1, "e", 10)
	}
	if got := taken(l); got != 3 {
		t.Errorf("%d Reads answered from pages read ahead, want 3", got)
	}
	// A smaller limit takes the front of a page.
	if !aheadHeld(t, l, 40) {
		t.Fatal("no page read ahead after 40")
	}
	readWant(t, l, 40, 3, 41, "e", 3)
	if got := taken(l); got != 4 {
		t.Errorf("%d Reads answered from pages read ahead, want 4", got)
	}
}

// A page read ahead that met the end of the log is used while the log
// still ends there, and not once it has grown.
func TestReadAheadShortPageAtTheEnd(t *testing.T) {
	srv := testserver.Redis(t, testserver.RedisOptions{})
	l := openLog(t, srv, "ahead-"+epoch.New(), logtest.Config{})
	appendData(t, l, "e", 1, 15)
	if _, err := l.Read(t.Context(), 0, 10); err != nil {
		t.Fatal(err)
	}
	if aheadHeld(t, l, 20) {
		t.Error("an empty page read ahead is held")
	}
	if !aheadHeld(t, l, 10) {
		t.Fatal("no page read ahead after 10")
	}
	readWant(t, l, 10, 10, 11, "e", 5)
	if got := taken(l); got != 1 {
		t.Fatalf("%d Reads answered from pages read ahead, want 1", got)
	}

	if _, err := l.Read(t.Context(), 0, 10); err != nil {
		t.Fatal(err)
	}
	if !aheadHeld(t, l, 10) {
		t.Fatal("no page read ahead after 10")
	}
	appendData(t, l, "e", 16, 20)
	readWant(t, l, 10, 10, 11, "e", 10)
	if got := taken(l); got != 1 {
		t.Errorf("%d Reads answered from pages read ahead, want 1", got)
	}
}

// A page read ahead before retention removed its first event must not be
// returned: the Read reports ErrTrimmed, as one from Redis would.
func TestReadAheadTrimmedSinceReportsErrTrimmed(t *testing.T) {
	srv := testserver.Redis(t, testserver.RedisOptions{})
	l := openLog(t, srv, "ahead-"+epoch.New(), logtest.Config{Retention: hub.Retention{MaxEvents: 30}})
	appendData(t, l, "e", 1, 30)
	if _, err := l.Read(t.Context(), 0, 10); err != nil {
		t.Fatal(err)
	}
	if !aheadHeld(t, l, 10) {
		t.Fatal("no page read ahead after 10")
	}
	appendData(t, l, "e", 31, 45) // retention removes 1–15
	evs, err := l.Read(t.Context(), 10, 10)
	if !errors.Is(err, hub.ErrTrimmed) {
		t.Fatalf("Read after 10 once 11–15 were trimmed: %d events, %v; want ErrTrimmed", len(evs), err)
	}
}

// A page read ahead before the stream was replaced must not be returned:
// the Read reports ErrReplaced until Info adopts the new epoch, and then
// answers with the new epoch's events.
func TestReadAheadOfAReplacedStream(t *testing.T) {
	srv := testserver.Redis(t, testserver.RedisOptions{})
	stream := "ahead-" + epoch.New()
	l := openLog(t, srv, stream, logtest.Config{})
	appendData(t, l, "old", 1, 40)
	if _, err := l.Read(t.Context(), 0, 10); err != nil {
		t.Fatal(err)
	}
	if !aheadHeld(t, l, 10) || !aheadHeld(t, l, 20) {
		t.Fatal("no pages read ahead after 10 and 20")
	}
	if err := l.Client().FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	other := openLog(t, srv, stream, logtest.Config{}) // creates the new epoch
	appendData(t, other, "new", 1, 40)

	if evs, err := l.Read(t.Context(), 10, 10); !errors.Is(err, hub.ErrReplaced) {
		t.Fatalf("Read after the stream was replaced: %d events, %v; want ErrReplaced", len(evs), err)
	}
	if _, err := l.Info(t.Context()); err != nil {
		t.Fatal(err)
	}
	evs, err := l.Read(t.Context(), 20, 10)
	if err != nil {
		t.Fatalf("Read in the adopted epoch: %v", err)
	}
	wantData(t, evs, 21, "new", 10)
}

// However many readers replay at once, the log holds a bounded number of
// pages, and bytes, read ahead.
func TestReadAheadIsBounded(t *testing.T) {
	srv := testserver.Redis(t, testserver.RedisOptions{})
	for _, tc := range []struct {
		name         string
		limits       aheadLimits
		pages, bytes int
	}{
		{"pages", aheadLimits{pages: 8}, 8, maxAheadBytes},
		{"bytes", aheadLimits{bytes: 12 << 10}, maxAheadPages, 12 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := openLog(t, srv, "ahead-"+epoch.New(), logtest.Config{})
			l.ahead.limits = tc.limits
			const readers, limit = 100, 10
			data := strings.Repeat("x", 500) // a page is about 6 KiB
			evs := make([]*hub.Event, readers*limit*3)
			for i := range evs {
				evs[i] = &hub.Event{Topics: []string{"t"}, Data: data}
			}
			if err := l.Append(t.Context(), evs); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for r := range readers {
				wg.Go(func() {
					if _, err := l.Read(t.Context(), uint64(r*limit*3), limit); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			l.ahead.mu.Lock()
			var all []*aheadPage
			for _, p := range l.ahead.pages {
				all = append(all, p)
			}
			l.ahead.mu.Unlock()
			if len(all) > tc.pages {
				t.Errorf("%d pages read ahead, want at most %d", len(all), tc.pages)
			}
			for _, p := range all {
				<-p.done
			}
			l.ahead.mu.Lock()
			defer l.ahead.mu.Unlock()
			if n := len(l.ahead.pages); n > tc.pages || l.ahead.bytes > tc.bytes {
				t.Errorf("%d pages of %d bytes held, want at most %d pages and %d bytes", n, l.ahead.bytes, tc.pages, tc.bytes)
			}
		})
	}
}

// eventually waits, a bounded time, for cond to hold.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A page nobody takes is dropped after a while.
func TestReadAheadNotTakenIsDropped(t *testing.T) {
	srv := testserver.Redis(t, testserver.RedisOptions{})
	l := openLog(t, srv, "ahead-"+epoch.New(), logtest.Config{})
	l.ahead.limits.ttl = 50 * time.Millisecond
	appendData(t, l, "e", 1, 30)
	if _, err := l.Read(t.Context(), 0, 10); err != nil {
		t.Fatal(err)
	}
	if !aheadHeld(t, l, 10) || !aheadHeld(t, l, 20) {
		t.Fatal("no pages read ahead")
	}
	eventually(t, "the pages nobody took are still held", func() bool {
		l.ahead.mu.Lock()
		defer l.ahead.mu.Unlock()
		return len(l.ahead.pages) == 0 && l.ahead.bytes == 0
	})
	readWant(t, l, 10, 10, 11, "e", 10)
}

// Close ends the fetches in flight and drops what was read ahead: no
// goroutine is left.
func TestReadAheadLeavesNothingAfterClose(t *testing.T) {
	srv := testserver.Redis(t, testserver.RedisOptions{})
	ignore := goleak.IgnoreCurrent()
	l, err := open(t, srv, "ahead-"+epoch.New(), logtest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	appendData(t, l, "e", 1, 2000)
	for after := uint64(0); after < 2000; after += 500 {
		if _, err := l.Read(t.Context(), after, 100); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l.ahead.mu.Lock()
	n := len(l.ahead.pages)
	l.ahead.mu.Unlock()
	if n != 0 {
		t.Errorf("%d pages held after Close", n)
	}
	goleak.VerifyNone(t, ignore)
	if _, err := l.Read(t.Context(), 100, 100); !errors.Is(err, hub.ErrClosed) {
		t.Errorf("Read after Close: %v, want ErrClosed", err)
	}
}

// A Read with a limit beyond any log reads no page ahead and makes no
// buffer of that size.
func TestReadWithAHugeLimit(t *testing.T) {
	srv := testserver.Redis(t, testserver.RedisOptions{})
	l := openLog(t, srv, "ahead-"+epoch.New(), logtest.Config{})
	appendData(t, l, "e", 1, 20)
	for _, limit := range []int{10, 1 << 62, math.MaxInt} {
		evs, err := l.Read(t.Context(), 0, limit)
		if err != nil {
			t.Fatalf("Read(0, %d): %v", limit, err)
		}
		wantData(t, evs, 1, "e", min(limit, 20))
	}
	for _, tc := range []struct{ limit, entry, want int }{
		{512, 0, 0}, {512, 300, 512 * 300}, {1 << 62, 300, maxPooled}, {math.MaxInt, 1, maxPooled},
	} {
		if got := replySize(tc.limit, tc.entry); got != tc.want {
			t.Errorf("replySize(%d, %d) = %d, want %d", tc.limit, tc.entry, got, tc.want)
		}
	}
}

// TestReadAheadShortPageOfALostAndRefilledTail: a short page read ahead
// (the log's last events) is not served once the log lost those events
// and another node, which saw nothing of them, appended as many others:
// the log ends where it did, but with other events, which the node that
// saw the lost ones notices (sighting.go): a new epoch.
func TestReadAheadShortPageOfALostAndRefilledTail(t *testing.T) {
	srv := testserver.Redis(t, testserver.RedisOptions{})
	stream := "ahead-" + epoch.New()
	l := openLog(t, srv, stream, logtest.Config{})
	appendData(t, l, "old", 1, 8)
	if _, err := l.Read(t.Context(), 0, 5); err != nil {
		t.Fatal(err)
	}
	if !aheadHeld(t, l, 5) {
		t.Fatal("no page read ahead after 5")
	}
	fetchesDone(l)
	loseTail(t, l, 6)
	other := openLog(t, srv, stream, logtest.Config{})
	appendData(t, other, "new", 7, 8)
	if evs, err := l.Read(t.Context(), 5, 5); !errors.Is(err, hub.ErrReplaced) {
		t.Fatalf("Read(5, 5) of a refilled tail: %v, %v; want ErrReplaced", evs, err)
	}
	if got := taken(l); got != 0 {
		t.Errorf("%d Reads answered from pages read ahead, want 0", got)
	}
}

func TestReadAheadOfALostAndRefilledTail(t *testing.T) {
	srv := testserver.Redis(t, testserver.RedisOptions{})
	stream := "ahead-" + epoch.New()
	l := openLog(t, srv, stream, logtest.Config{})
	appendData(t, l, "old", 1, 40)
	if _, err := l.Read(t.Context(), 0, 10); err != nil {
		t.Fatal(err)
	}
	if !aheadHeld(t, l, 10) || !aheadHeld(t, l, 20) {
		t.Fatal("no pages read ahead after 10 and 20")
	}
	fetchesDone(l)
	loseTail(t, l, 15)
	other := openLog(t, srv, stream, logtest.Config{})
	appendData(t, other, "new", 16, 40)
	for _, after := range []uint64{20, 10} {
		if evs, err := l.Read(t.Context(), after, 10); !errors.Is(err, hub.ErrReplaced) {
			t.Fatalf("Read(%d, 10) of a refilled tail: %v, %v; want ErrReplaced", after, evs, err)
		}
	}
	if got := taken(l); got != 0 {
		t.Errorf("%d Reads answered from pages read ahead, want 0", got)
	}
}
