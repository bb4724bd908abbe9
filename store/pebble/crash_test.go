package pebble_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/pebble"
)

// crashDirEnv and crashSyncEnv make the test binary, run again as a child,
// append to the log in that directory under that sync policy until it is
// killed (see TestCrashChild).
const (
	crashDirEnv  = "SSEHUB_PEBBLE_CRASH_DIR"
	crashSyncEnv = "SSEHUB_PEBBLE_CRASH_SYNC"
)

// TestCrashLosesNothingAcknowledged kills a process appending under each
// sync policy with SIGKILL, then reopens its log: every event whose Append
// had returned is there, the epoch is the same (the machine did not reboot,
// so nothing can have been lost), and Seq continues.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	for _, p := range []pebble.SyncPolicy{pebble.SyncAlways, pebble.SyncBatch, pebble.SyncNone} {
		t.Run(p.String(), func(t *testing.T) { crashAndReopen(t, p) })
	}
}

func crashAndReopen(t *testing.T, policy pebble.SyncPolicy) {
	dir := filepath.Join(t.TempDir(), "events")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashSyncEnv+"="+policy.String())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The child prints its epoch, then each acknowledged Seq.
	lines := bufio.NewScanner(out)
	if !lines.Scan() {
		t.Fatalf("child printed nothing: %v", cmd.Wait())
	}
	epoch := lines.Text()
	var acked uint64
	for acked < 2000 && lines.Scan() {
		if acked, err = strconv.ParseUint(lines.Text(), 10, 64); err != nil {
			t.Fatalf("child printed %q", lines.Text())
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	for lines.Scan() { // acknowledged before the kill landed
		if n, err := strconv.ParseUint(lines.Text(), 10, 64); err == nil {
			acked = max(acked, n)
		}
	}

	l, err := pebble.Open(dir, pebble.Options{Sync: policy})
	if err != nil {
		t.Fatalf("reopening after the crash: %v", err)
	}
	defer l.Close()
	info, err := l.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Epoch != epoch || info.Last < acked {
		t.Fatalf("after the crash: epoch %q, last %d; want epoch %q, last ≥ %d acknowledged", info.Epoch, info.Last, epoch, acked)
	}
	for after := uint64(0); after < info.Last; {
		evs, err := l.Read(context.Background(), after, 512)
		if err != nil || len(evs) == 0 || evs[0].Seq != after+1 || evs[0].Data != strconv.FormatUint(after+1, 10) {
			t.Fatalf("reading after %d: %d events, %v", after, len(evs), err)
		}
		after = evs[len(evs)-1].Seq
	}
	next := &hub.Event{Topics: []string{"t"}}
	if err := l.Append(context.Background(), []*hub.Event{next}); err != nil || next.Seq != info.Last+1 {
		t.Fatalf("append after the crash: Seq %d, %v; want %d", next.Seq, err, info.Last+1)
	}
}

// TestCrashChild is the process TestCrashLosesNothingAcknowledged kills.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestCrashLosesNothingAcknowledged")
	}
	policy, err := pebble.ParseSyncPolicy(os.Getenv(crashSyncEnv))
	if err != nil {
		t.Fatal(err)
	}
	l, err := pebble.Open(dir, pebble.Options{Sync: policy})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := l.Info(context.Background())
	w := bufio.NewWriter(os.Stdout)
	w.WriteString(info.Epoch + "\n")
	for seq := uint64(1); ; seq++ {
		ev := &hub.Event{Topics: []string{"t"}, Data: strconv.FormatUint(seq, 10)}
		if err := l.Append(context.Background(), []*hub.Event{ev}); err != nil {
			t.Fatal(err)
		}
		w.WriteString(strconv.FormatUint(ev.Seq, 10) + "\n")
		w.Flush()
	}
}
