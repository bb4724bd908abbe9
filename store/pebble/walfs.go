package pebble

import (
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// walFS is the file system the engine sees. It is the real one, except that
// under SyncBatch and SyncNone the write-ahead log's files do not reach the
// disk when the engine syncs them after a commit.
//
// Why this shape: every commit is made with pebble.Sync, because only a
// synced commit waits for the engine's log writer to have written the record
// to the operating system (write(2)); a NoSync commit returns while the
// record may still sit in the writer's memory, and a kill -9 then loses it.
// The engine writes, then syncs; the sync it asks for is what the policy
// relaxes here: dropped under SyncNone, and under SyncBatch replaced by at
// most one real fdatasync per BatchDelay, made by Log.syncLoop through
// syncNow. So every policy survives a crash of the process, and they differ
// only on a crash of the machine.
//
// Only the WAL's per-commit sync is relaxed. Closing a WAL file (the engine
// rotates its WAL when a memtable fills, and closes it with the log) still
// syncs it for real, so that every WAL file but the newest is complete on
// the disk: a power loss can only cut into the newest, never leave a hole
// before a later file. The MANIFEST, sstables, OPTIONS and the
// directory are synced as the engine asks.
type walFS struct {
	vfs.FS
	policy SyncPolicy
	dirty  chan struct{} // a sync was elided; buffered (1)

	mu    sync.Mutex
	files map[*walFile]struct{} // the WAL files open for writing
}

func newWALFS(fs vfs.FS, policy SyncPolicy) *walFS {
	return &walFS{FS: fs, policy: policy, dirty: make(chan struct{}, 1), files: make(map[*walFile]struct{})}
}

// isWAL reports whether name is one of the engine's write-ahead log files:
// "000123.log" (or "000123-001.log" with WAL failover), the only files the
// engine names so.
func isWAL(name string) bool { return strings.HasSuffix(name, ".log") }

func (fs *walFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	return fs.wrap(name, f, err)
}

func (fs *walFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	return fs.wrap(newname, f, err)
}

// Unwrap returns the file system underneath, as vfs's wrappers do.
func (fs *walFS) Unwrap() vfs.FS { return fs.FS }

func (fs *walFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || fs.policy == SyncAlways || !isWAL(fs.PathBase(name)) {
		return f, err
	}
	w := &walFile{File: f, fs: fs}
	fs.mu.Lock()
	fs.files[w] = struct{}{}
	fs.mu.Unlock()
	return w, nil
}

// syncNow makes what was written to every open WAL file durable.
func (fs *walFS) syncNow() error {
	fs.mu.Lock()
	files := make([]*walFile, 0, len(fs.files))
	for f := range fs.files {
		files = append(files, f)
	}
	fs.mu.Unlock()
	var first error
	for _, f := range files {
		if err := f.syncNow(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// walFile is a WAL file whose Sync only notes that a sync is owed.
type walFile struct {
	vfs.File
	fs *walFS

	mu     sync.Mutex // serialises real syncs with Close
	closed bool
}

// Sync is called by the engine after it wrote each synced commit.
func (f *walFile) Sync() error {
	select {
	case f.fs.dirty <- struct{}{}:
	default:
	}
	return nil
}

func (f *walFile) SyncData() error { return f.Sync() }

// SyncTo reports that nothing was made durable (fullSync false), which its
// contract allows.
func (f *walFile) SyncTo(int64) (bool, error) { return false, f.Sync() }

// syncNow makes what was written durable, unless the file is closed (and so
// already synced).
func (f *walFile) syncNow() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	return f.File.SyncData()
}

// Close syncs the file for real, then closes it: see walFS.
func (f *walFile) Close() error {
	f.mu.Lock()
	err := f.File.SyncData()
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	f.closed = true
	f.mu.Unlock()
	f.fs.mu.Lock()
	delete(f.fs.files, f)
	f.fs.mu.Unlock()
	return err
}
