package logtest

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

func (s *suite) testEmptyLog(t *testing.T) {
	l, _ := s.open(t, hub.Retention{})
	i := info(t, l)
	if i.First != 1 || i.Last != 0 || i.Events != 0 {
		t.Errorf("empty log: First %d, Last %d, Events %d; want 1, 0, 0", i.First, i.Last, i.Events)
	}
	if evs, err := l.Read(ctx(t), 0, 10); err != nil || len(evs) != 0 {
		t.Errorf("Read(0) of an empty log = %d events, %v; want none, nil", len(evs), err)
	}
}

func (s *suite) testAppendAssignsSeq(t *testing.T) {
	l, c := s.open(t, hub.Retention{})
	one := events(c, "a", 1)
	appendOK(t, l, one...)
	three := events(c, "b", 3)
	appendOK(t, l, three...)
	for i, e := range append(one, three...) {
		if e.Seq != uint64(i+1) {
			t.Errorf("appended event %d got Seq %d, want %d", i, e.Seq, i+1)
		}
	}
	appendOK(t, l) // an empty batch is no event
	if i := info(t, l); i.Last != 4 || i.Events != 4 {
		t.Errorf("Info after 4 events: Last %d, Events %d", i.Last, i.Events)
	}
}

func (s *suite) testEventsRoundTrip(t *testing.T) {
	l, c := s.open(t, hub.Retention{})
	want := []*hub.Event{
		{ID: "full", Topics: []string{"a", "https://example.com/b/{id}"}, Type: "update",
			Data: "line 1\nline 2\r\n\x00 é", Retry: 2500 * time.Millisecond, Private: true, Time: c.Now()},
		{Topics: []string{"t"}, Time: c.Now().Add(time.Nanosecond)},
	}
	appendOK(t, l, want...)
	got := readAll(t, l, 0, 10)
	wantSeqs(t, got, 1, 2)
	for i := range want {
		g, w := *got[i], *want[i]
		if !g.Time.Equal(w.Time) {
			t.Errorf("event %d: Time %v, want %v", i, g.Time, w.Time)
		}
		g.Time, w.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("event %d read back as\n %+v\nwant %+v", i, g, w)
		}
	}
}

func (s *suite) testAppendCopiesEvents(t *testing.T) {
	l, c := s.open(t, hub.Retention{})
	e := events(c, "x", 1)[0]
	appendOK(t, l, e)
	e.Data, e.Topics[0] = "changed", "changed"
	got := readAll(t, l, 0, 1)
	if got[0].Data != "x-0" || got[0].Topics[0] != "t" {
		t.Errorf("changing an appended event changed the log: %+v", got[0])
	}
}

// testConcurrentAppend appends from many goroutines at once: every event
// gets a distinct Seq, the log has no hole, and each batch is contiguous.
func (s *suite) testConcurrentAppend(t *testing.T) {
	l, c := s.open(t, hub.Retention{})
	const publishers, batches, size = 32, 20, 3
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p := range publishers {
		wg.Go(func() {
			for b := range batches {
				batch := events(c, "p"+strconv.Itoa(p)+"b"+strconv.Itoa(b), size)
				if err := l.Append(ctx(t), batch); err != nil {
					errs <- err
					return
				}
				for i := 1; i < size; i++ {
					if batch[i].Seq != batch[0].Seq+uint64(i) {
						errs <- fmt.Errorf("batch got Seqs %d and %d at %d", batch[0].Seq, batch[i].Seq, i)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	const total = publishers * batches * size
	got := readAll(t, l, 0, 100)
	wantSeqs(t, got, 1, total)
	for i := 0; i < total; i += size {
		head := strings.TrimSuffix(got[i].Data, "-0")
		for j := 1; j < size; j++ {
			if got[i+j].Data != head+"-"+strconv.Itoa(j) {
				t.Fatalf("batch %q interleaved with %q at Seq %d", head, got[i+j].Data, got[i+j].Seq)
			}
		}
	}
}

func (s *suite) testDuplicateIDAcrossBatches(t *testing.T) {
	l, _ := s.open(t, hub.Retention{})
	appendOK(t, l, ev("a", "first"))
	err := l.Append(ctx(t), []*hub.Event{ev("b", "new"), ev("a", "again")})
	wantErr(t, "Append of a held id", err, hub.ErrDuplicateID)
	if i := info(t, l); i.Last != 1 || i.Events != 1 {
		t.Errorf("after a refused batch: Last %d, Events %d; want 1, 1", i.Last, i.Events)
	}
	_, err = l.Lookup(ctx(t), "b")
	wantErr(t, "Lookup of an id from a refused batch", err, hub.ErrNotFound)
	appendOK(t, l, ev("b", "now alone"))
	got := readAll(t, l, 0, 10)
	wantSeqs(t, got, 1, 2)
	if got[0].Data != "first" || got[1].Data != "now alone" {
		t.Errorf("log holds %q, %q", got[0].Data, got[1].Data)
	}
}

func (s *suite) testDuplicateIDWithinBatch(t *testing.T) {
	l, _ := s.open(t, hub.Retention{})
	err := l.Append(ctx(t), []*hub.Event{ev("x", "1"), ev("y", "2"), ev("x", "3")})
	wantErr(t, "Append of a batch repeating an id", err, hub.ErrDuplicateID)
	if i := info(t, l); i.Last != 0 || i.Events != 0 {
		t.Errorf("after a refused batch: Last %d, Events %d; want 0, 0", i.Last, i.Events)
	}
	for _, id := range []string{"x", "y"} {
		_, err := l.Lookup(ctx(t), id)
		wantErr(t, "Lookup "+id, err, hub.ErrNotFound)
	}
	appendOK(t, l, ev("x", "1"), ev("y", "2"))
}

func (s *suite) testEmptyIDsAreNotIndexed(t *testing.T) {
	l, _ := s.open(t, hub.Retention{})
	appendOK(t, l, ev("", "1"), ev("", "2"))
	appendOK(t, l, ev("", "3"))
	if i := info(t, l); i.Last != 3 {
		t.Errorf("Last = %d after three events without id", i.Last)
	}
	_, err := l.Lookup(ctx(t), "")
	wantErr(t, `Lookup("")`, err, hub.ErrNotFound)
}

func (s *suite) testReadAfterAndLimit(t *testing.T) {
	l, c := s.open(t, hub.Retention{})
	appendOK(t, l, events(c, "e", 10)...)
	for _, tc := range []struct {
		after    uint64
		limit    int
		from, to uint64 // to < from: none
	}{
		{0, 3, 1, 3},
		{0, 100, 1, 10},
		{3, 4, 4, 7},
		{9, 5, 10, 10},
		{10, 5, 1, 0},
		{15, 5, 1, 0},
	} {
		got, err := l.Read(ctx(t), tc.after, tc.limit)
		if err != nil {
			t.Fatalf("Read(%d, %d): %v", tc.after, tc.limit, err)
		}
		wantSeqs(t, got, tc.from, tc.to)
		for _, e := range got {
			if e.Data != "e-"+strconv.Itoa(int(e.Seq-1)) {
				t.Fatalf("Seq %d holds %q", e.Seq, e.Data)
			}
		}
	}
}

// testReadWithAHugeLimit: a limit beyond any log, up to math.MaxInt, reads
// what there is, as a limit just large enough would; an implementation that
// adds the limit to a position must not overflow.
func (s *suite) testReadWithAHugeLimit(t *testing.T) {
	l, c := s.open(t, hub.Retention{})
	appendOK(t, l, events(c, "e", 10)...)
	for _, limit := range []int{1 << 62, math.MaxInt - 1, math.MaxInt} {
		for _, after := range []uint64{0, 1, 9, 10} {
			got, err := l.Read(ctx(t), after, limit)
			if err != nil {
				t.Fatalf("Read(%d, %d): %v", after, limit, err)
			}
			wantSeqs(t, got, after+1, 10)
		}
	}
}

func (s *suite) testRetentionByCount(t *testing.T) {
	l, c := s.open(t, hub.Retention{MaxEvents: 5})
	appendOK(t, l, events(c, "a", 8)...)
	appendOK(t, l, events(c, "b", 4)...)
	wantRetained(t, l, 8, 12)
	if i := info(t, l); i.Events != 5 {
		t.Errorf("Events = %d, want 5", i.Events)
	}
}

func (s *suite) testRetentionByAge(t *testing.T) {
	if s.f.RetentionByEngineClock {
		t.Skip("logtest: the engine applies retention by age with its own clock")
	}
	l, c := s.open(t, hub.Retention{MaxAge: time.Minute})
	appendOK(t, l, events(c, "old", 3)...)
	c.Advance(30 * time.Second)
	appendOK(t, l, events(c, "mid", 2)...)
	wantRetained(t, l, 1, 5)
	c.Advance(45 * time.Second) // "old" is 75 s old, "mid" 45 s
	appendOK(t, l, events(c, "new", 1)...)
	wantRetained(t, l, 4, 6)
}

func (s *suite) testRetentionByBytes(t *testing.T) {
	const max = 16 << 10
	l, c := s.open(t, hub.Retention{MaxBytes: max})
	for range 10 {
		batch := events(c, "big", 5)
		for _, e := range batch {
			e.Data += strings.Repeat("x", 1000)
		}
		appendOK(t, l, batch...)
	}
	i := info(t, l)
	if i.Bytes > max || i.Bytes < max/2 {
		t.Errorf("Info.Bytes = %d, want within (%d, %d]", i.Bytes, max/2, max)
	}
	if i.Events < 8 || i.Events > 16 {
		t.Errorf("kept %d events of 1 KB under a %d-byte bound", i.Events, max)
	}
	wantRetained(t, l, i.First, 50)
}

// wantRetained checks that the log holds exactly first..last and that a Read
// from before first reports ErrTrimmed rather than skipping the gap.
func wantRetained(t *testing.T, l hub.Log, first, last uint64) {
	t.Helper()
	i := info(t, l)
	if i.First != first || i.Last != last || i.Events != int64(last-first+1) {
		t.Fatalf("Info: First %d, Last %d, Events %d; want %d, %d, %d",
			i.First, i.Last, i.Events, first, last, last-first+1)
	}
	wantSeqs(t, readAll(t, l, first-1, 3), first, last)
	if first > 1 {
		_, err := l.Read(ctx(t), first-2, 10)
		wantErr(t, "Read from before the oldest retained event", err, hub.ErrTrimmed)
		_, err = l.Read(ctx(t), 0, 10)
		wantErr(t, "Read(0) after trimming", err, hub.ErrTrimmed)
	}
}

func (s *suite) testLookup(t *testing.T) {
	l, c := s.open(t, hub.Retention{MaxEvents: 3})
	appendOK(t, l, ev("gone", "1"), ev("", "2"))
	appendOK(t, l, ev("kept", "3"), ev("also", "4"))
	appendOK(t, l, events(c, "x", 1)...)
	for id, want := range map[string]uint64{"kept": 3, "also": 4} {
		if seq, err := l.Lookup(ctx(t), id); err != nil || seq != want {
			t.Errorf("Lookup(%q) = %d, %v; want %d", id, seq, err, want)
		}
	}
	for _, id := range []string{"gone", "never", "KEPT"} {
		_, err := l.Lookup(ctx(t), id)
		wantErr(t, "Lookup("+id+")", err, hub.ErrNotFound)
	}
	appendOK(t, l, ev("gone", "an id trimmed away may be used again"))
}

func (s *suite) testInfo(t *testing.T) {
	l, c := s.open(t, hub.Retention{MaxEvents: 2})
	before := info(t, l)
	if before.Epoch == "" || strings.Contains(before.Epoch, "-") {
		t.Errorf("Epoch %q: want a non-empty name without '-'", before.Epoch)
	}
	small := events(c, "s", 3)
	appendOK(t, l, small...)
	i := info(t, l)
	if i.Epoch != before.Epoch {
		t.Errorf("Epoch changed from %q to %q", before.Epoch, i.Epoch)
	}
	if i.First != 2 || i.Last != 3 || i.Events != 2 || i.Bytes < int64(len("s-1s-2")) {
		t.Errorf("Info = %+v, want First 2, Last 3, Events 2, Bytes > 0", i)
	}
	other, _ := s.open(t, hub.Retention{})
	if e := info(t, other).Epoch; e == i.Epoch {
		t.Errorf("two new logs share the epoch %q", e)
	}
}
