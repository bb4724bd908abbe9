package pebble

import (
	"bytes"
	"context"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ssehub/ssehub/hub"
)

// recorder is the real file system, watched: it keeps what the engine wrote
// to its WAL files (what a kill -9 leaves in the operating system) and counts
// the syncs that reached them (what a power loss leaves on the disk). It
// sits under walFS, so it sees only the syncs walFS lets through.
type recorder struct {
	vfs.FS
	mu      sync.Mutex
	written bytes.Buffer
	syncs   int
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
	if err != nil || !isWAL(filepath.Base(name)) {
		return f, err
	}
	return &recordedFile{File: f, r: r}, nil
}

func (r *recorder) counts() (written []byte, syncs int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.written.Bytes()), r.syncs
}

type recordedFile struct {
	vfs.File
	r *recorder
}

func (f *recordedFile) Write(p []byte) (int, error) {
	f.r.mu.Lock()
	f.r.written.Write(p)
	f.r.mu.Unlock()
	return f.File.Write(p)
}

func (f *recordedFile) Sync() error { f.count(); return f.File.Sync() }

func (f *recordedFile) SyncData() error { f.count(); return f.File.SyncData() }

func (f *recordedFile) count() {
	f.r.mu.Lock()
	f.r.syncs++
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
