package pebble

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ssehub/ssehub/store/internal/epoch"
)

// run is what the log records, durably, about the process that has it open:
// the sync policy it appends under, the machine's boot, and whether it
// closed cleanly. The next Open reads it to tell whether the end of the log
// may have been lost since.
type run struct {
	policy SyncPolicy
	boot   string // the machine's boot id; "" if unknown
	clean  bool   // written by Close, after the last sync
}

const runVersion = 1

func (r run) encode() []byte {
	b := []byte{runVersion, byte(r.policy), 0}
	if r.clean {
		b[2] = 1
	}
	return append(b, r.boot...)
}

func decodeRun(b []byte) (run, error) {
	if len(b) < 3 || b[0] != runVersion || b[2] > 1 || int(b[1]) >= len(syncNames) {
		return run{}, fmt.Errorf("pebble: run record %x is not version %d", b, runVersion)
	}
	return run{policy: SyncPolicy(b[1]), clean: b[2] == 1, boot: string(b[3:])}, nil
}

// unknownRun stands for a log written before runs were recorded: nothing
// is known, so the worst is assumed.
var unknownRun = run{policy: SyncNone}

// mayHaveLostTail reports whether events that prev acknowledged may be
// missing from the log now. That takes three things: prev did not close
// cleanly (Close syncs everything), it acknowledged events before they were
// fsynced (any policy but SyncAlways), and the machine has restarted since,
// so what prev wrote to the operating system but not yet to the disk may be
// gone. A crash of the process alone loses nothing: the operating system
// still holds every write(2), and Open makes them durable before anything
// else (see recordRun). An unknown boot, on either side, is taken as a
// restart.
func (prev run) mayHaveLostTail(boot string) bool {
	if prev.clean || prev.policy == SyncAlways {
		return false
	}
	return prev.boot == "" || boot == "" || prev.boot != boot
}

// bootIDFile holds Linux's random id of the current boot.
const bootIDFile = "/proc/sys/kernel/random/boot_id"

// systemBootID returns the id of the machine's current boot, or "" where
// the system does not tell it (off Linux): then a log whose process crashed
// under SyncBatch or SyncNone always starts a new epoch.
func systemBootID() string {
	b, err := os.ReadFile(bootIDFile)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// recordRun is called by Open on an existing log: it starts a new epoch if
// the previous run may have lost acknowledged events, and records this run,
// durably, before any Append.
//
// Why a new epoch, and why Seq does not jump: every id the hub hands out for
// an event without a publisher-given id is EPOCH-SEQ, and it resolves an id
// of another epoch as unknown (a reset), never by its Seq alone. With a new
// epoch, no id handed out before the loss can name an event appended after
// it, whatever Seq that event gets. Keeping Seq contiguous keeps what the
// rest of the log relies on: Read finds no hole, and Events is Last+1-First.
// Events that survived keep their data and place; only their ids change, and
// a publisher-given id still resolves to its event, which survived intact
// (the engine recovers a prefix of what was written).
func (l *Log) recordRun() error {
	prev := unknownRun
	v, closer, err := l.db.Get(keyRun)
	switch {
	case err == nil:
		prev, err = decodeRun(v)
		_ = closer.Close()
		if err != nil {
			return err
		}
	case !errors.Is(err, pebble.ErrNotFound):
		return fmt.Errorf("pebble: reading the run record in %s: %w", l.dir, err)
	}
	b := l.db.NewBatch()
	defer b.Close()
	if prev.mayHaveLostTail(l.opts.BootID) {
		old := l.epoch
		l.epoch = epoch.New()
		_ = b.Set(keyEpoch, []byte(l.epoch), nil)
		l.opts.Logger.Warn("the event log's last run ended without closing, acknowledging before fsync, "+
			"and the machine restarted since: its newest events may be lost, so the log starts a new epoch "+
			"and resuming subscribers are told to reload",
			"dir", l.dir, "previous_sync", prev.policy.String(), "old_epoch", old, "epoch", l.epoch, "last", l.st.last)
	}
	if !prev.clean && prev.policy != SyncAlways {
		// What the crashed run wrote may still be in the operating system
		// only, and this run keeps the epoch: it must be on the disk before
		// this run's record vouches for it. The engine's Open already
		// flushes the WALs it replays into synced tables; this Flush keeps
		// that true whatever the engine's recovery does
		// (TestRecoveredEventsAreMadeDurable checks the outcome).
		if err := l.db.Flush(); err != nil {
			return fmt.Errorf("pebble: flushing the recovered log in %s: %w", l.dir, err)
		}
	}
	_ = b.Set(keyRun, run{policy: l.opts.Sync, boot: l.opts.BootID}.encode(), nil)
	if err := l.commitDurably(b); err != nil {
		return fmt.Errorf("pebble: recording the run in %s: %w", l.dir, err)
	}
	return nil
}

// commitDurably commits b and returns once it is on the disk, whatever the
// sync policy.
func (l *Log) commitDurably(b *pebble.Batch) error {
	if err := b.Commit(pebble.Sync); err != nil {
		return err
	}
	return l.wal.syncNow()
}
