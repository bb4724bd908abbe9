package pebble_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/pebble"
)

// TestLostTailStartsANewEpoch simulates what a power loss does to a log whose
// process acknowledged events before they were fsynced: the directory is
// copied as "what reached the disk", more events are appended and
// acknowledged (their ids handed out to subscribers), then "lost" by putting
// the copy back, and the log is reopened on a given boot. When events may
// have been lost, the epoch must change and a hub on the log must answer the
// old ids with a reset; when they cannot have been, the epoch must stay.
func TestLostTailStartsANewEpoch(t *testing.T) {
	for _, tc := range []struct {
		name     string
		policy   pebble.SyncPolicy
		lose     int    // events acknowledged after the copy
		boot     string // of the reopen; the first run is on "boot-1"
		newEpoch bool
	}{
		{"batch, power loss", pebble.SyncBatch, 5, "boot-2", true},
		{"none, power loss", pebble.SyncNone, 5, "boot-2", true},
		{"none, reboot after a crash that lost nothing", pebble.SyncNone, 0, "boot-2", true},
		// On the same boot the operating system kept every write, so a
		// crash of the process alone loses nothing: clients keep resuming.
		{"batch, process crash", pebble.SyncBatch, 0, "boot-1", false},
		{"none, process crash", pebble.SyncNone, 0, "boot-1", false},
		// Under always every acknowledged event was on the disk.
		{"always, power loss", pebble.SyncAlways, 0, "boot-2", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "events")
			l := openOn(t, dir, tc.policy, "boot-1")
			old := append10(t, l)
			disk := filepath.Join(t.TempDir(), "disk")
			pebble.CopyDir(t, dir, disk) // the process is still running: no clean close
			for range tc.lose {
				old = append(old, appendOne(t, l))
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			pebble.CopyDir(t, disk, dir)

			l = openOn(t, dir, tc.policy, tc.boot)
			info, err := l.Info(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if info.Last != 10 {
				t.Fatalf("after the loss the log ends at %d, want 10", info.Last)
			}
			if changed := info.Epoch != old[0].epoch; changed != tc.newEpoch {
				t.Fatalf("epoch %q → %q: changed = %v, want %v", old[0].epoch, info.Epoch, changed, tc.newEpoch)
			}
			h, err := hub.New(l, hub.Options{Heartbeat: -1})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { h.Close() })
			// The log goes on after the last event it holds, in the
			// epoch it now has.
			ids, err := h.Publish(context.Background(), hub.Event{Topics: []string{"t"}, Data: "after"})
			if err != nil || ids[0] != hub.FormatID(info.Epoch, 11) {
				t.Fatalf("publish after the loss: %v, %v; want id %s", ids, err, hub.FormatID(info.Epoch, 11))
			}
			for _, ev := range old {
				id := hub.FormatID(ev.epoch, ev.seq)
				got := firstFrame(t, h, id)
				// A reset continues in the log's epoch now, at 10 or 11 (as far
				// as the dispatcher has got with the event just published).
				reset := strings.HasPrefix(got, "id: "+info.Epoch+"-") && strings.Contains(got, "\nevent: "+hub.ResetType+"\n")
				if lost := ev.seq > info.Last; lost && !reset {
					t.Fatalf("Last-Event-ID %s of a lost event answered %q, want a reset", id, got)
				}
				if reset != tc.newEpoch {
					t.Fatalf("Last-Event-ID %s answered %q; want a reset: %v", id, got, tc.newEpoch)
				}
				if want := "data: " + strconv.FormatUint(ev.seq+1, 10) + "\n"; !reset && ev.seq < 10 && !strings.Contains(got, want) {
					t.Fatalf("Last-Event-ID %s resumed with %q, want the next event (%s)", id, got, want)
				}
			}
		})
	}
}

// TestCleanCloseKeepsTheEpoch: a log closed cleanly had everything on the
// disk, so a reboot (any policy) changes nothing.
func TestCleanCloseKeepsTheEpoch(t *testing.T) {
	for _, p := range []pebble.SyncPolicy{pebble.SyncAlways, pebble.SyncBatch, pebble.SyncNone} {
		t.Run(p.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "events")
			l := openOn(t, dir, p, "boot-1")
			old := append10(t, l)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openOn(t, dir, p, "boot-2")
			info, _ := l.Info(context.Background())
			if info.Epoch != old[0].epoch || info.Last != 10 {
				t.Fatalf("after a clean close and a reboot: epoch %q, last %d; want %q, 10", info.Epoch, info.Last, old[0].epoch)
			}
		})
	}
}

type appended struct {
	epoch string
	seq   uint64
}

func openOn(t *testing.T, dir string, p pebble.SyncPolicy, boot string) *pebble.Log {
	t.Helper()
	l, err := pebble.Open(dir, pebble.Options{Sync: p, BootID: boot})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func append10(t *testing.T, l *pebble.Log) []appended {
	var out []appended
	for range 10 {
		out = append(out, appendOne(t, l))
	}
	return out
}

func appendOne(t *testing.T, l *pebble.Log) appended {
	t.Helper()
	info, err := l.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ev := &hub.Event{Topics: []string{"t"}, Data: strconv.FormatUint(info.Last+1, 10)}
	if err := l.Append(context.Background(), []*hub.Event{ev}); err != nil {
		t.Fatal(err)
	}
	return appended{info.Epoch, ev.Seq}
}

// firstFrame subscribes with lastEventID and returns the first frame.
func firstFrame(t *testing.T, h *hub.Hub, lastEventID string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := h.Subscribe(ctx, hub.SubscribeRequest{Topics: []string{"t"}, LastEventID: lastEventID})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	frames, err := s.Next(ctx, nil)
	if err != nil || len(frames) == 0 {
		t.Fatalf("subscribing after %s: %d frames, %v", lastEventID, len(frames), err)
	}
	return string(frames[0])
}
