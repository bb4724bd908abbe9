package pebble

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ssehub/ssehub/hub"
)

// recorder is the real file system, watched: it keeps what the engine wrote
// to each file it created (for a WAL file, what a kill -9 leaves in the
// operating system) and how much of it was synced since (what a power loss
// leaves on the disk). It sits under walFS, so it sees only the syncs walFS
// lets through.
type recorder struct {
	vfs.FS
	mu    sync.Mutex
	files map[string]*recordedFile
	syncs int // of WAL files
}

func (r *recorder) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := r.FS.Create(name, c)
	return r.watch(name, f, err)
}

func (r *recorder) ReuseForWrite(old, name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := r.FS.ReuseForWrite(old, name, c)
	return r.watch(name, f, err)
}

func (r *recorder) watch(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return f, err
	}
	rf := &recordedFile{File: f, r: r, wal: isWAL(filepath.Base(name))}
	r.mu.Lock()
	if r.files == nil {
		r.files = make(map[string]*recordedFile)
	}
	r.files[name] = rf
	r.mu.Unlock()
	return rf, nil
}

// counts returns what was written to the WAL files, and the syncs that
// reached them.
func (r *recorder) counts() (written []byte, syncs int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.files {
		if f.wal {
			written = append(written, f.written.Bytes()...)
		}
	}
	return written, r.syncs
}

// synced returns what reached the disk of every file created: the part of
// what was written that a sync followed.
func (r *recorder) synced() map[string][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]byte)
	for name, f := range r.files {
		out[name] = bytes.Clone(f.written.Bytes()[:f.synced])
	}
	return out
}

type recordedFile struct {
	vfs.File
	r       *recorder
	wal     bool
	written bytes.Buffer // guarded by r.mu
	synced  int
}

func (f *recordedFile) Write(p []byte) (int, error) {
	f.r.mu.Lock()
	f.written.Write(p)
	f.r.mu.Unlock()
	return f.File.Write(p)
}

func (f *recordedFile) Sync() error { f.count(); return f.File.Sync() }

func (f *recordedFile) SyncData() error { f.count(); return f.File.SyncData() }

func (f *recordedFile) count() {
	f.r.mu.Lock()
	f.synced = f.written.Len()
	if f.wal {
		f.r.syncs++
	}
	f.r.mu.Unlock()
}

func openRecorded(t *testing.T, opts Options) (*Log, *recorder) {
	t.Helper()
	r := &recorder{FS: vfs.Default}
	opts.fs = r
	l, err := Open(filepath.Join(t.TempDir(), "events"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l, r
}

func appendData(t *testing.T, l *Log, data string) {
	t.Helper()
	if err := l.Append(context.Background(), []*hub.Event{{Topics: []string{"t"}, Data: data}}); err != nil {
		t.Fatal(err)
	}
}

// TestAppendReturnsAfterTheWrite: under every policy, an event's bytes were
// written to the WAL file before its Append returned, which is what
// survives a crash of the process.
func TestAppendReturnsAfterTheWrite(t *testing.T) {
	for _, p := range []SyncPolicy{SyncAlways, SyncBatch, SyncNone} {
		t.Run(p.String(), func(t *testing.T) {
			l, r := openRecorded(t, Options{Sync: p})
			for i := range 200 {
				data := "event-" + strconv.Itoa(i) + "-end"
				appendData(t, l, data)
				if written, _ := r.counts(); !bytes.Contains(written, []byte(data)) {
					t.Fatalf("Append of %q returned before the event was written to the WAL", data)
				}
			}
		})
	}
}

// TestWALSyncsFollowThePolicy counts the fsyncs that reach the WAL: one per
// commit under always, at most one per BatchDelay under batch (and one
// soon after a commit, with no Close), none under none but when a WAL file
// is switched or closed.
func TestWALSyncsFollowThePolicy(t *testing.T) {
	const appends = 50
	t.Run("always", func(t *testing.T) {
		l, r := openRecorded(t, Options{Sync: SyncAlways})
		_, before := r.counts()
		for i := range appends {
			appendData(t, l, strconv.Itoa(i))
		}
		if _, after := r.counts(); after-before < appends {
			t.Fatalf("%d fsyncs for %d sequential Appends, want one each", after-before, appends)
		}
	})
	t.Run("batch", func(t *testing.T) {
		const delay = 20 * time.Millisecond
		l, r := openRecorded(t, Options{Sync: SyncBatch, BatchDelay: delay})
		_, before := r.counts()
		start := time.Now()
		for i := range appends {
			appendData(t, l, strconv.Itoa(i))
		}
		_, after := r.counts()
		if most := int(time.Since(start)/delay) + 1; after-before > most {
			t.Fatalf("%d fsyncs in %v, want at most one per %v", after-before, time.Since(start), delay)
		}
		// The events are made durable without waiting for Close.
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, n := r.counts(); n > before {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no fsync within 10s of the Appends")
			}
			<-time.After(delay)
		}
	})
	t.Run("none", func(t *testing.T) {
		l, r := openRecorded(t, Options{Sync: SyncNone})
		_, before := r.counts()
		for i := range appends {
			appendData(t, l, strconv.Itoa(i))
		}
		if _, after := r.counts(); after != before {
			t.Fatalf("%d fsyncs under none, want none before Close", after-before)
		}
		// A flush switches the engine to a new WAL file: the old one is
		// synced as it is closed, so the files on disk stay a prefix.
		if err := l.db.Flush(); err != nil {
			t.Fatal(err)
		}
		_, rotated := r.counts()
		if rotated == before {
			t.Fatal("switching WAL files did not fsync the old one")
		}
		appendData(t, l, "last")
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if _, after := r.counts(); after == rotated {
			t.Fatal("Close did not fsync the WAL")
		}
	})
}

// TestRecoveredEventsAreMadeDurable: after a crash of the process under
// batch or none, what it wrote may be in the operating system only. The
// reopened log keeps the epoch, so it vouches for those events: they must be
// on the disk when Open returns, or a power loss soon after could take them
// with no new epoch to tell clients. The test simulates that power loss: it
// keeps of every file only what was synced, and opens the result.
func TestRecoveredEventsAreMadeDurable(t *testing.T) {
	for _, p := range []SyncPolicy{SyncBatch, SyncNone} {
		t.Run(p.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "events")
			// BatchDelay of an hour: nothing appended is fsynced by this run.
			first := &recorder{FS: vfs.Default}
			l, err := Open(dir, Options{Sync: p, BatchDelay: time.Hour, BootID: "boot-1", fs: first})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 20 {
				appendData(t, l, strconv.Itoa(i+1))
			}
			crashed := filepath.Join(t.TempDir(), "crashed")
			copyDir(t, dir, crashed) // the state a kill -9 leaves
			// Control: the same power loss before the reopen takes them,
			// and starts a new epoch.
			lost := powerLoss(t, dir, first)
			_ = l.Close()
			lostLog, err := Open(lost, Options{Sync: p, BootID: "boot-2"})
			if err != nil {
				t.Fatal(err)
			}
			if info, _ := lostLog.Info(context.Background()); info.Last == 20 || info.Epoch == l.epoch {
				t.Fatalf("control: a power loss before any sync kept all 20 events (last %d) or the epoch", info.Last)
			}
			_ = lostLog.Close()

			second := &recorder{FS: vfs.Default}
			l, err = Open(crashed, Options{Sync: p, BatchDelay: time.Hour, BootID: "boot-1", fs: second})
			if err != nil {
				t.Fatal(err)
			}
			disk := powerLoss(t, crashed, first, second)
			_ = l.Close()

			l, err = Open(disk, Options{Sync: p, BootID: "boot-2"})
			if err != nil {
				t.Fatalf("opening what a power loss leaves: %v", err)
			}
			defer l.Close()
			if info, _ := l.Info(context.Background()); info.Last != 20 {
				t.Fatalf("after a power loss right after reopening, the log ends at %d; want the 20 events recovered", info.Last)
			}
		})
	}
}

// powerLoss returns a copy of directory dir holding, of each file that one of
// the recorders saw created, only what was synced (files it did not see, the
// lock and renamed ones, are copied whole).
func powerLoss(t *testing.T, dir string, recs ...*recorder) string {
	t.Helper()
	synced := make(map[string][]byte)
	for _, r := range recs {
		for name, b := range r.synced() {
			synced[filepath.Base(name)] = b
		}
	}
	out := filepath.Join(t.TempDir(), "disk")
	copyDir(t, dir, out)
	for name, b := range synced {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			continue // removed since
		}
		if err := os.WriteFile(filepath.Join(out, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// copyDir copies the files of directory from into a new directory to: with
// the log still open, the copy is what a crash of the process (or, under
// batch and none, a power loss) would leave.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		target := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		dst, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(dst, src); err != nil {
			dst.Close()
			return err
		}
		return dst.Close()
	})
	if err != nil {
		t.Fatalf("copying %s: %v", from, err)
	}
}

// failingFS fails every sync of a WAL file once fail is set, as a dying disk
// would.
type failingFS struct {
	vfs.FS
	fail atomic.Bool
}

func (f *failingFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.Create(name, c)
	if err != nil || !isWAL(filepath.Base(name)) {
		return file, err
	}
	return &failingFile{File: file, fs: f}, nil
}

type failingFile struct {
	vfs.File
	fs *failingFS
}

func (f *failingFile) Sync() error { return f.SyncData() }

func (f *failingFile) SyncData() error {
	if f.fs.fail.Load() {
		return errors.New("injected: input/output error")
	}
	return f.File.SyncData()
}

// TestFailedBackgroundSyncFailsLaterAppends: under batch the WAL is fsynced
// after the Appends returned; once such an fsync failed, later Appends are
// answered with an error and nothing after the failure becomes visible.
// (Under always, the engine itself treats a failed commit sync as fatal.)
func TestFailedBackgroundSyncFailsLaterAppends(t *testing.T) {
	fs := &failingFS{FS: vfs.Default}
	l, err := Open(filepath.Join(t.TempDir(), "events"), Options{Sync: SyncBatch, BatchDelay: time.Millisecond, fs: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendData(t, l, "kept")
	fs.fail.Store(true)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ev := &hub.Event{Topics: []string{"t"}, Data: "x"}
		if err := l.Append(context.Background(), []*hub.Event{ev}); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Appends still succeed 10s after the WAL's fsync began to fail")
		}
	}
	info, _ := l.Info(context.Background())
	for range 3 {
		ev := &hub.Event{Topics: []string{"t"}, Data: "lost"}
		if err := l.Append(context.Background(), []*hub.Event{ev}); err == nil {
			t.Fatal("Append succeeded after a failed one")
		}
	}
	if after, _ := l.Info(context.Background()); after.Last != info.Last {
		t.Fatalf("after the failure the log grew from %d to %d events", info.Last, after.Last)
	}
	if err := l.Close(); err == nil {
		t.Fatal("Close reported no error after a failed fsync")
	}
}
