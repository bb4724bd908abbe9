package hub

import (
	"context"
	"errors"
	"time"
)

// Log is the ordered, durable record of events at the centre of the hub: the
// one source of truth for live delivery and for replay. The hub appends to
// it, waits on its tail and dispatches what it reads; subscribers resuming
// after a disconnect read from it.
//
// Implementations live in their own packages (store/memory, store/pebble,
// store/redis, …) and must pass the conformance suite in package hub/logtest.
// All methods are safe for concurrent use.
//
// What the hub relies on, beyond each method's own contract:
//   - Seqs are dense: the events of one epoch are numbered 1, 2, 3, … with no
//     hole, so a position is all a resuming subscriber needs (no index), and
//     a batch appended together is contiguous. A shared log (several hubs on
//     one engine) assigns Seqs in the engine, so every node sees the same
//     event at the same Seq.
//   - The epoch names one sequence space. Ids the hub assigns are
//     "EPOCH-SEQ"; an id of another epoch is looked up, and is unknown unless
//     a publisher gave it. A log whose storage is wiped or replaced while it
//     is open (only a shared engine can do this behind its back), or that
//     lost events it had acknowledged or returned (its end fell below a Seq
//     it had reported: an engine's failover or restart that lost its newest
//     writes), must not carry on in the old epoch, which would give the lost
//     Seqs to other events: it fails Append, Read and Wait with an error
//     wrapping ErrReplaced until Info, which reports the new epoch, is
//     called. The hub then ends every subscription, whose clients resume
//     and are told with a ResetType event that their position is gone; it
//     also does so when an Info it made for a subscriber or a history
//     request reports an epoch other than its own, so a log may stop
//     answering ErrReplaced after any call of Info.
//   - Trimming removes the oldest events only, and a Read that would step
//     over removed events reports ErrTrimmed instead.
//   - Calls to a log across a network are bounded in time: while the engine
//     cannot be reached they fail (wrapping ErrUnavailable) instead of
//     hanging, and the log reconnects by itself once it is back.
type Log interface {
	// Append adds events to the end of the log, in order, and returns once
	// they are stored as durably as the log's sync policy promises. It sets
	// each event's Seq. If an event has a non-empty ID that the log already
	// holds (or that appears twice in the batch), nothing is appended and the
	// error wraps ErrDuplicateID.
	Append(ctx context.Context, events []*Event) error

	// Read returns up to limit events with Seq greater than after, oldest
	// first. An empty result means after is at or past the end of the log;
	// a shorter one does not (an engine may cap a reply), and the hub reads
	// on.
	// If retention has removed events that follow after, Read returns an
	// error wrapping ErrTrimmed, so that no gap is ever silently skipped.
	Read(ctx context.Context, after uint64, limit int) ([]*Event, error)

	// Wait blocks until the log holds an event with Seq greater than after,
	// or ctx is done (then it returns ctx's error).
	Wait(ctx context.Context, after uint64) error

	// Lookup returns the Seq of the retained event with the given
	// publisher-supplied id, or an error wrapping ErrNotFound.
	Lookup(ctx context.Context, id string) (uint64, error)

	// Info describes the log's current extent.
	Info(ctx context.Context) (Info, error)

	// Close releases the log's resources after syncing what it holds. Wait
	// calls blocked in it return ErrClosed.
	Close() error
}

// A Tailer is a Log that can wait for the events after a position and read
// them in one call: one round trip to its engine instead of Wait's and
// Read's two, which matters when the log is across a network. The
// dispatcher uses it when the log has it (found by type assertion).
type Tailer interface {
	// ReadWait returns up to limit events with Seq greater than after,
	// oldest first, waiting until there is at least one. It returns ctx's
	// error when ctx is done first, and otherwise fails as Read and Wait do.
	ReadWait(ctx context.Context, after uint64, limit int) ([]*Event, error)
}

// Info describes a log's extent.
type Info struct {
	// Epoch names this log's sequence space. It is created with the log,
	// so an id from another log (another data folder, a wiped store) is
	// recognised as unknown instead of being misread. It never changes
	// while the log is open; a log that reopens after losing events it
	// had acknowledged (a power loss under a relaxed sync policy) starts a
	// new one, so that no id handed out before names a later event.
	Epoch string
	// First is the Seq of the oldest retained event; Last+1 when the log
	// holds none.
	First uint64
	// Last is the Seq of the newest event ever appended; 0 when none.
	Last uint64
	// Events and Bytes count what the log holds now (Bytes approximately).
	Events int64
	Bytes  int64
}

// Retention bounds what a log keeps. A zero field means no bound of that kind.
type Retention struct {
	MaxEvents int64
	MaxAge    time.Duration
	MaxBytes  int64
}

// Errors a Log reports. Implementations wrap them with details.
var (
	ErrTrimmed  = errors.New("events after this position were removed by retention")
	ErrNotFound = errors.New("no such event")
	ErrClosed   = errors.New("log closed")
	// ErrReplaced: the log's storage was wiped or replaced by another
	// epoch while the log was open (see the Log documentation).
	ErrReplaced = errors.New("the log's storage was replaced (new epoch)")
	// ErrUnavailable: the engine holding the log cannot be reached now.
	// Nothing was acknowledged; the caller may try again.
	ErrUnavailable = errors.New("the log's engine is unreachable")
)
