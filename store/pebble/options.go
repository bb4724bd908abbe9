package pebble

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ssehub/ssehub/hub"
)

// SyncPolicy says when appended events reach the disk, and so what an
// acknowledged Append survives. Under every policy Append returns only once
// the events were written to the operating system (write(2)), so an
// acknowledged event survives a crash of the process (kill -9, a panic, the
// OOM killer); the policies differ only on a crash of the machine (power
// loss, kernel panic). Should that cost acknowledged events, the next Open
// starts a new epoch, so that no id handed out before is ever resumed from
// at the wrong place: clients resuming with one are told to reload.
type SyncPolicy int

const (
	// SyncAlways (the default) returns from Append only after the events
	// are fsynced: an acknowledged event survives a crash of the process
	// and of the machine, and the epoch never changes. Concurrent Appends
	// share one fsync.
	SyncAlways SyncPolicy = iota
	// SyncBatch returns from Append once the events are written to the
	// operating system, and fsyncs them about Options.BatchDelay later
	// (at most one fsync per BatchDelay): a crash of the machine may take
	// the last BatchDelay of acknowledged events.
	SyncBatch
	// SyncNone returns from Append once the events are written to the
	// operating system and leaves fsync to it (and to Close, and to the
	// engine when it switches to a new write-ahead log file): a crash of
	// the machine may take every acknowledged event the operating system
	// had not yet written back to the disk on its own.
	SyncNone
)

var syncNames = [...]string{SyncAlways: "always", SyncBatch: "batch", SyncNone: "none"}

// String returns the policy's name, as ParseSyncPolicy accepts it.
func (p SyncPolicy) String() string {
	if p < 0 || int(p) >= len(syncNames) {
		return fmt.Sprintf("SyncPolicy(%d)", int(p))
	}
	return syncNames[p]
}

// ParseSyncPolicy returns the policy named "always", "batch" or "none".
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	for p, name := range syncNames {
		if s == name {
			return SyncPolicy(p), nil
		}
	}
	return 0, fmt.Errorf("unknown sync policy %q: want always, batch or none", s)
}

// DefaultBatchDelay is the longest SyncBatch leaves appended events unsynced
// when Options.BatchDelay is zero.
const DefaultBatchDelay = 10 * time.Millisecond

// Options configure a Log. The zero value is a durable log (SyncAlways)
// that keeps every event.
type Options struct {
	// Retention bounds what the log keeps. It is applied after every
	// group of Appends and, for MaxAge, at least every minute.
	Retention hub.Retention
	// Sync is when appended events are fsynced.
	Sync SyncPolicy
	// BatchDelay is the longest SyncBatch leaves events unsynced;
	// zero means DefaultBatchDelay.
	BatchDelay time.Duration
	// MaxGroup bounds how many events one commit gathers from concurrent
	// Appends; zero means 4096. A single larger Append is never split.
	MaxGroup int
	// Now is the clock for retention by age and for events appended
	// without a Time; nil means time.Now.
	Now func() time.Time
	// Logger receives the engine's messages and the log's own; nil
	// discards them.
	Logger *slog.Logger
	// BootID names the machine's current boot; empty means the system's
	// (Linux's /proc/sys/kernel/random/boot_id; unknown elsewhere). The log
	// records it on Open: if the last run neither closed cleanly nor
	// appended under SyncAlways, and the boot changed (or is unknown), the
	// machine may have lost what that run acknowledged, and Open starts a
	// new epoch. Tests set it to simulate a reboot.
	BootID string

	// fs is the file system under the engine; nil means the real one.
	// Tests in this package set it to watch the engine's writes and syncs.
	fs vfs.FS
	// trimBatch is the most events one trim commit removes; 0 means
	// defaultTrimBatch. afterTrimBatch, if set, is called by the writer
	// after each such commit, with the state it committed (already
	// published unless it is the trim's last). Tests set them.
	trimBatch      int
	afterTrimBatch func(state)
}

func (o *Options) setDefaults() {
	if o.BatchDelay <= 0 {
		o.BatchDelay = DefaultBatchDelay
	}
	if o.MaxGroup <= 0 {
		o.MaxGroup = 4096
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.BootID == "" {
		o.BootID = systemBootID()
	}
	if o.fs == nil {
		o.fs = vfs.Default
	}
	if o.trimBatch <= 0 {
		o.trimBatch = defaultTrimBatch
	}
}

// engineLogger passes the engine's messages to a *slog.Logger: routine ones
// at debug level, errors as errors.
type engineLogger struct{ l *slog.Logger }

func (e engineLogger) Infof(format string, args ...any) {
	e.l.Debug(fmt.Sprintf(format, args...), "source", "pebble")
}

func (e engineLogger) Errorf(format string, args ...any) {
	e.l.Error(fmt.Sprintf(format, args...), "source", "pebble")
}

// Fatalf is called by the engine for damage it cannot go on from (a
// corrupt manifest, say); it must not return.
func (e engineLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	e.l.Error(msg, "source", "pebble", "fatal", true)
	panic("pebble: " + msg)
}
