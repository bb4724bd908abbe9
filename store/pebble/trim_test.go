package pebble

import (
	"context"
	"errors"
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
