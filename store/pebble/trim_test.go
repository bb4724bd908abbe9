package pebble

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// TestTrimThroughSurvivesAPowerLoss: an operator's TrimThrough on a quiet
// log, nothing appended after it, is on the disk when it returns, under
// every sync policy: a power loss right after it (simulated by keeping of
// every file only what was synced) does not bring the trimmed events, or
// their ids, back.
func TestTrimThroughSurvivesAPowerLoss(t *testing.T) {
	for _, p := range []SyncPolicy{SyncAlways, SyncBatch, SyncNone} {
		t.Run(p.String(), func(t *testing.T) {
			// BatchDelay of an hour: no background sync covers for the trim.
			l, rec := openRecorded(t, Options{Sync: p, BatchDelay: time.Hour, BootID: "boot-1"})
			for i := range 10 {
				ev := &hub.Event{ID: "id-" + strconv.Itoa(i+1), Topics: []string{"t"}, Data: strconv.Itoa(i + 1)}
				if err := l.Append(context.Background(), []*hub.Event{ev}); err != nil {
					t.Fatal(err)
				}
			}
			if n, err := l.TrimThrough(context.Background(), 7); err != nil || n != 7 {
				t.Fatalf("TrimThrough(7) = %d, %v; want 7", n, err)
			}
			disk := powerLoss(t, l.Dir(), rec)
			after, err := Open(disk, Options{Sync: p, BootID: "boot-2"})
			if err != nil {
				t.Fatalf("opening what the power loss left: %v", err)
			}
			defer after.Close()
			info, err := after.Info(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if info.First != 8 || info.Last != 10 {
				t.Fatalf("after the power loss the log holds %d..%d; want 8..10, the trim kept", info.First, info.Last)
			}
			if _, err := after.Read(context.Background(), 0, 10); !errors.Is(err, hub.ErrTrimmed) {
				t.Errorf("Read(0) after the power loss: %v, want ErrTrimmed", err)
			}
			if seq, err := after.Lookup(context.Background(), "id-3"); !errors.Is(err, hub.ErrNotFound) {
				t.Errorf("Lookup of a trimmed id after the power loss = %d, %v; want ErrNotFound", seq, err)
			}
		})
	}
}

// TestALargeTrimIsCommittedInBatches: a trim of many events (an operator's
// TrimThrough, the retention after a reopen with a smaller bound or after a
// long downtime under an age bound) is committed trimBatch events at a time,
// each commit but the last publishing the state it leaves; afterwards, after
// a reopen, and after a crash between two commits, the log is dense, its
// extent and bytes agree with what it holds, and the removed events' ids are
// gone from the index.
func TestALargeTrimIsCommittedInBatches(t *testing.T) {
	const total, batch = 2050, 100
	dir := filepath.Join(t.TempDir(), "events")
	var (
		l         *Log
		commits   []state // what each trim commit left
		published []uint64
		crashed   string
	)
	opts := Options{Sync: SyncNone, trimBatch: batch, afterTrimBatch: func(st state) {
		commits = append(commits, st)
		info, _ := l.Info(context.Background())
		published = append(published, info.First)
		if len(commits) == 3 && crashed == "" {
			// Between two commits of the trim: what a kill -9 leaves.
			crashed = filepath.Join(t.TempDir(), "crashed")
			copyDir(t, dir, crashed)
		}
	}}
	// wantCommits checks the commits of the latest trim: n of them, the
	// first n-1 removing batch events each and seen by readers at once.
	wantCommits := func(what string, from uint64, n int) {
		t.Helper()
		if len(commits) != n {
			t.Fatalf("%s: %d commits, want %d", what, len(commits), n)
		}
		for i, st := range commits[:n-1] {
			if want := from + uint64(i+1)*batch; st.first != want || published[i] != want {
				t.Fatalf("%s: commit %d left first %d, readers saw %d; want %d", what, i, st.first, published[i], want)
			}
		}
		commits, published = nil, nil
	}
	l = mustOpen(t, dir, opts)
	for i := 0; i < total; i += 50 {
		evs := make([]*hub.Event, 50)
		for j := range evs {
			evs[j] = numbered(uint64(i + j + 1))
		}
		if err := l.Append(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
	}
	full, _ := l.Info(context.Background())
	size := full.Bytes / total // every event encodes to the same size

	if n, err := l.TrimThrough(context.Background(), 1000); err != nil || n != 1000 {
		t.Fatalf("TrimThrough(1000) = %d, %v; want 1000", n, err)
	}
	wantCommits("TrimThrough(1000)", 1, 10)
	wantLog(t, l, 1001, total, size)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, Options{Sync: SyncNone})
	wantLog(t, l, 1001, total, size)
	_ = l.Close()

	// The crash on the third commit left a prefix of the commits, and a log
	// that agrees with itself.
	l = mustOpen(t, crashed, Options{Sync: SyncNone})
	info, _ := l.Info(context.Background())
	if info.First > 3*batch+1 {
		t.Errorf("after a crash on the third commit the log starts at %d, want at most %d", info.First, 3*batch+1)
	}
	wantLog(t, l, info.First, total, size)
	_ = l.Close()

	// A reopen with a smaller retention: the first Append removes 1041
	// events.
	opts.Retention = hub.Retention{MaxEvents: 10}
	l = mustOpen(t, dir, opts)
	if err := l.Append(context.Background(), []*hub.Event{numbered(total + 1)}); err != nil {
		t.Fatal(err)
	}
	wantCommits("retention of 10 events", 1001, 11)
	wantLog(t, l, total-8, total+1, size)
	_ = l.Close()

	// A reopen two hours later under a retention of an hour, in batches of
	// 4: the first Append removes the 10 events.
	opts.Retention, opts.trimBatch = hub.Retention{MaxAge: time.Hour}, 4
	opts.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	l = mustOpen(t, dir, opts)
	if err := l.Append(context.Background(), []*hub.Event{numbered(total + 2)}); err != nil {
		t.Fatal(err)
	}
	if len(commits) != 3 || commits[2].first != total+2 {
		t.Fatalf("the age retention removed 10 events in %d commits, leaving %v; want 3, leaving %d", len(commits), commits, total+2)
	}
	commits, published = nil, nil
	wantLog(t, l, total+2, total+2, size)
	_ = l.Close()
}

// numbered is the event TestALargeTrimIsCommittedInBatches appends as seq.
func numbered(seq uint64) *hub.Event {
	return &hub.Event{ID: fmt.Sprintf("id-%05d", seq), Topics: []string{"t"}, Data: fmt.Sprintf("d-%05d", seq)}
}

func mustOpen(t *testing.T, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// wantLog checks that l holds exactly the events first..last appended by
// TestALargeTrimIsCommittedInBatches, each of size bytes, and indexes the
// ids of those only.
func wantLog(t *testing.T, l *Log, first, last uint64, size int64) {
	t.Helper()
	info, err := l.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := int64(last + 1 - first)
	if info.First != first || info.Last != last || info.Events != n || info.Bytes != n*size {
		t.Fatalf("Info = %d..%d, %d events, %d bytes; want %d..%d, %d, %d", info.First, info.Last, info.Events, info.Bytes, first, last, n, n*size)
	}
	if first > 1 {
		if _, err := l.Read(context.Background(), first-2, 1); !errors.Is(err, hub.ErrTrimmed) {
			t.Errorf("Read(%d): %v, want ErrTrimmed", first-2, err)
		}
	}
	for after := first - 1; after < last; {
		evs, err := l.Read(context.Background(), after, 500)
		if err != nil || len(evs) == 0 {
			t.Fatalf("Read(%d) = %d events, %v", after, len(evs), err)
		}
		for _, ev := range evs {
			after++
			if ev.Seq != after || ev.Data != numbered(after).Data {
				t.Fatalf("event %d is Seq %d, %q", after, ev.Seq, ev.Data)
			}
		}
	}
	// The index itself, not Lookup, which hides what is out of the extent.
	for _, seq := range []uint64{1, first - 1, first, last} {
		if seq == 0 {
			continue
		}
		got, err := l.lookup(fmt.Sprintf("id-%05d", seq))
		switch {
		case seq < first && !isNotFound(err):
			t.Errorf("the index still holds the removed event %d's id: %d, %v", seq, got, err)
		case seq >= first && (err != nil || got != seq):
			t.Errorf("the index gives %d, %v for event %d", got, err, seq)
		}
	}
}
