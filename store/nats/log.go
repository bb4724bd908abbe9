// Package nats is a [hub.Log] on a NATS JetStream stream, shared by every
// ssehub node pointed at it. JetStream numbers the stream's messages itself,
// densely, so a message's stream sequence is the event's Seq; publisher ids
// are kept in a key-value bucket beside the stream.
//
// JetStream's own de-duplication (Nats-Msg-Id) holds only within a time
// window, and a batch of messages is not atomic, so the log meets a weaker
// Append contract, which hub/logtest states with two flags: ids are claimed
// in the bucket before the publish (unique for as long as their event is
// retained, as the contract asks), but a batch is contiguous only among
// the batches of one node (two nodes' batches may interleave, each in its
// own order: BatchesMayInterleave), and a node that fails in the middle of
// a batch may leave its first events stored (CrashMayCutBatches). The hub
// needs neither: it numbers nothing itself and returns each event's own id.
//
// An append is acknowledged once JetStream acknowledged every message of it:
// stored in the stream's file storage (written to the file; nats-server 2.9
// leaves the fsync to the operating system). Concurrent appends of one node
// are committed together by one goroutine (append.go); readers keep a pull
// consumer from one page to the next (read.go).
package nats

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/internal/epoch"
)

// Options configure a Log.
type Options struct {
	// Stream names the log (default "ssehub"): the JetStream stream
	// SSEHUB_<Stream> on subject ssehub.<Stream>.<TOKEN> (see Log.base),
	// and the bucket SSEHUB_<Stream>_IDS (and SSEHUB_<Stream>_NODES for
	// the cluster's figures).
	Stream string
	// Retention bounds what the log keeps, as the stream's limits:
	// JetStream applies them itself, by its own clock.
	Retention hub.Retention
	// Timeout bounds every call to NATS but the tail's wait (default 3s).
	Timeout time.Duration
	// Block is how long one wait of the tail lasts before it is issued
	// again (default 500ms).
	Block time.Duration
	// Now stamps events appended without a Time; nil means time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.Stream == "" {
		o.Stream = "ssehub"
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.Block <= 0 {
		o.Block = 500 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Log is a [hub.Log] on JetStream. It also implements [hub.Tailer].
type Log struct {
	nc   *natsgo.Conn
	js   jetstream.JetStream
	opts Options
	name string // stream name
	// base is the stream's subject without its token: ssehub.<Stream>.
	// A stream made by this version listens on base.TOKEN, a token drawn
	// by the node that made it, so a message published on it can only be
	// stored by that stream: once it is deleted and made again (another
	// epoch), the old subject has no stream, and a publish on it fails.
	// That is what ties an acknowledgement to the epoch, with no look at
	// the stream after each append. A stream made by an older version
	// listens on base alone, and its appends are checked with a look.
	base    string
	subject atomic.Pointer[string] // the stream's subject, set with the epoch by Info
	bucket  string

	epoch     atomic.Pointer[string]
	mark      atomic.Pointer[epoch.Mark]         // what this handle has seen of the epoch it serves
	seen      atomic.Pointer[sighting]           // the newest message it saw the data of (sighting.go)
	ids       atomic.Pointer[jetstream.KeyValue] // the ids bucket, set by Info
	tailMu    sync.Mutex
	tailEpoch string

	idsSubject string // the subject prefix of the bucket's keys

	nodesBucket string                             // the cluster's figures (nodes.go)
	nodesKV     atomic.Pointer[jetstream.KeyValue] // that bucket, once made

	// The committer (append.go): Appends queue on reqs; Close closes quit
	// and cancels ctx, which bounds every call the committer makes.
	reqs       chan *appendReq
	quit       chan struct{}
	commitDone chan struct{}
	ctx        context.Context
	cancel     context.CancelFunc

	cursors cursors // read.go
	// grace is followGrace and twice the round trip to the server.
	grace  time.Duration
	closed atomic.Bool

	// settling is the looks that settle lapsed claims beside the
	// committer (append.go), one per key at a time; Close waits for them.
	settling struct {
		mu   sync.Mutex
		keys map[string]bool
		wg   sync.WaitGroup
	}

	// hooks let the package's tests act between the committer's steps
	// (a server paused after the claims, say); nil outside tests.
	hooks struct{ afterClaim, afterPublish, afterTailTold, beforeSettle func() }
}

var (
	_ hub.Log    = (*Log)(nil)
	_ hub.Tailer = (*Log)(nil)
)

// Open connects to url (nats://host:port) and opens or creates the log.
func Open(ctx context.Context, url string, opts Options) (*Log, error) {
	opts.setDefaults()
	nc, err := natsgo.Connect(url,
		natsgo.Timeout(opts.Timeout),
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(250*time.Millisecond),
		natsgo.ReconnectBufSize(-1), // fail publishes while disconnected, never queue them
	)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w: %v", url, hub.ErrUnavailable, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	tag := strings.ToUpper(opts.Stream)
	l := &Log{nc: nc, js: js, opts: opts, name: "SSEHUB_" + tag, base: "ssehub." + opts.Stream, bucket: "SSEHUB_" + tag + "_IDS",
		reqs: make(chan *appendReq, 256), quit: make(chan struct{}), commitDone: make(chan struct{})}
	l.idsSubject = "$KV." + l.bucket + "."
	l.nodesBucket = "SSEHUB_" + tag + "_NODES"
	l.cursors.idle = make(map[uint64][]*cursor)
	l.grace = followGrace
	if start := time.Now(); nc.FlushTimeout(opts.Timeout) == nil {
		l.grace += 2 * time.Since(start)
	}
	info, err := l.Info(ctx)
	if err != nil {
		nc.Close()
		return nil, err
	}
	l.tailEpoch = info.Epoch
	l.ctx, l.cancel = context.WithCancel(context.Background())
	go l.commitLoop()
	return l, nil
}

// Stream returns the log's name (Options.Stream).
func (l *Log) Stream() string { return l.opts.Stream }

// JetStream returns the log's JetStream handle, for tests and tools.
func (l *Log) JetStream() jetstream.JetStream { return l.js }

func (l *Log) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, l.opts.Timeout, errNoAnswer)
}

// errNoAnswer is the cause of a context the log bounds by its Timeout: an
// engine that did not answer within it is unavailable, where a caller's
// own deadline or cancellation is the caller's.
var errNoAnswer = errors.New("NATS did not answer within the log's Timeout")

// fail turns an error from NATS into one the hub understands.
func (l *Log) fail(ctx context.Context, what string, err error) error {
	switch {
	case l.closed.Load():
		return hub.ErrClosed
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		if cause := context.Cause(ctx); errors.Is(cause, errNoAnswer) {
			return fmt.Errorf("nats: %s: %w: %v", what, hub.ErrUnavailable, cause)
		}
		return err
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return fmt.Errorf("nats: %s: %w", what, hub.ErrReplaced)
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.Code != 503 && apiErr.Code != 408 {
		return fmt.Errorf("nats: %s: %w", what, err) // the server answered: not an outage
	}
	return fmt.Errorf("nats: %s: %w: %v", what, hub.ErrUnavailable, err)
}

// epochOf names a stream's sequence space after its creation time: every
// node computes the same, and a stream deleted and made again gets another.
func epochOf(created time.Time) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(created.UnixNano()))
	sum := sha256.Sum256(b[:])
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:5]))
}

func (l *Log) streamConfig(subject string) jetstream.StreamConfig {
	r := l.opts.Retention
	cfg := jetstream.StreamConfig{
		Name:       l.name,
		Subjects:   []string{subject},
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		Discard:    jetstream.DiscardOld,
		MaxMsgs:    -1,
		MaxBytes:   -1,
		MaxAge:     r.MaxAge,
		Duplicates: time.Second, // unused: ids are kept in the bucket
	}
	if r.MaxAge > 0 && r.MaxAge < cfg.Duplicates {
		cfg.Duplicates = r.MaxAge // JetStream wants the window within the age
	}
	if r.MaxEvents > 0 {
		cfg.MaxMsgs = r.MaxEvents
	}
	if r.MaxBytes > 0 {
		cfg.MaxBytes = r.MaxBytes
	}
	return cfg
}

// Info implements [hub.Log]. It creates the stream and the bucket when
// they are missing, and adopts the epoch it finds.
func (l *Log) Info(ctx context.Context) (hub.Info, error) {
	if l.closed.Load() {
		return hub.Info{}, hub.ErrClosed
	}
	cctx, cancel := l.bound(ctx)
	defer cancel()
	// What the handle had seen before the call: what it sees while the
	// call is in flight may be past what the answer says.
	m := l.mark.Load()
	var floor uint64
	if m != nil {
		floor = m.Seq()
	}
	sighted, differs := l.lookAtSighting(cctx)
	s, subject, err := l.openStream(cctx)
	refilled, serr := differs()
	if errors.Is(err, errForeignStream) {
		return hub.Info{}, err // not an outage: waiting will not mend it
	}
	if err != nil {
		return hub.Info{}, l.fail(ctx, "info", err)
	}
	kv, err := l.js.CreateOrUpdateKeyValue(cctx, jetstream.KeyValueConfig{Bucket: l.bucket, Storage: jetstream.FileStorage})
	if err != nil {
		return hub.Info{}, l.fail(ctx, "ids bucket", err)
	}
	l.ids.Store(&kv)
	si := s.CachedInfo()
	e := epochOf(si.Created)
	if m != nil && m.Epoch == e {
		if err := l.keepsMark(cctx, m, e, si.State.LastSeq, floor); err != nil {
			return hub.Info{}, err
		}
		if err := l.keepsSighting(cctx, sighted, e, refilled, serr); err != nil {
			return hub.Info{}, err
		}
	} else {
		l.mark.Store(epoch.NewMark(e, si.State.LastSeq))
	}
	l.subject.Store(&subject)
	l.epoch.Store(&e)
	return hub.Info{
		Epoch:  e,
		First:  max(si.State.FirstSeq, 1),
		Last:   si.State.LastSeq,
		Events: int64(si.State.Msgs),
		Bytes:  int64(si.State.Bytes),
	}, nil
}

// errForeignStream: a stream of the log's name is there, and it is not
// one a node of this log made.
var errForeignStream = errors.New("nats: not a stream of this log")

// openStream makes the stream, or updates the one there to this log's
// limits, keeping its subject. Nodes starting at once may both try to
// make it: the one refused takes the other's.
func (l *Log) openStream(ctx context.Context) (jetstream.Stream, string, error) {
	for attempt := 0; ; attempt++ {
		s, err := l.js.Stream(ctx, l.name)
		if err == nil {
			subjects := s.CachedInfo().Config.Subjects
			if len(subjects) != 1 || subjects[0] != l.base && !strings.HasPrefix(subjects[0], l.base+".") {
				return nil, "", fmt.Errorf("%w: stream %s listens on %q, not on %s", errForeignStream, l.name, subjects, l.base)
			}
			want := l.streamConfig(subjects[0])
			if have := s.CachedInfo().Config; have.MaxMsgs == want.MaxMsgs && have.MaxBytes == want.MaxBytes &&
				have.MaxAge == want.MaxAge && have.Duplicates == want.Duplicates {
				return s, subjects[0], nil // one request, as most Infos (every resume asks for one)
			}
			s, err = l.js.UpdateStream(ctx, want)
			return s, subjects[0], err
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, "", err
		}
		subject := l.base + "." + epoch.New()
		s, err = l.js.CreateStream(ctx, l.streamConfig(subject))
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) && attempt < 3 {
			continue
		}
		return s, subject, err
	}
}

// state reads the stream's extent and checks its epoch, and that the
// stream still holds what this handle saw of it before the call.
func (l *Log) state(ctx context.Context) (first, last uint64, err error) {
	m := l.mark.Load()
	return l.stateSince(ctx, m, m.Seq())
}

// stateSince is state with floor, what m held at a moment before the call.
func (l *Log) stateSince(ctx context.Context, m *epoch.Mark, floor uint64) (first, last uint64, err error) {
	sighted, differs := l.lookAtSighting(ctx)
	s, err := l.js.Stream(ctx, l.name)
	refilled, serr := differs()
	if err != nil {
		return 0, 0, l.fail(ctx, "stream", err)
	}
	si := s.CachedInfo()
	e := epochOf(si.Created)
	if e != *l.epoch.Load() {
		return 0, 0, fmt.Errorf("nats: the stream's epoch is %q, this log's %q: %w", e, *l.epoch.Load(), hub.ErrReplaced)
	}
	if err := l.keepsMark(ctx, m, e, si.State.LastSeq, floor); err != nil {
		return 0, 0, err
	}
	if err := l.keepsSighting(ctx, sighted, e, refilled, serr); err != nil {
		return 0, 0, err
	}
	return max(si.State.FirstSeq, 1), si.State.LastSeq, nil
}

// keepsSighting acts on what lookAtSighting found of s, beside a look that
// found the stream in epoch e: another message under s's sequence in s's
// epoch means the stream lost its tail and was refilled (see sighting).
// err, the look's failure, is the call's: the stream could not be checked.
func (l *Log) keepsSighting(ctx context.Context, s sighting, e string, differs bool, err error) error {
	switch {
	case s.epoch != e:
		return nil // another epoch: its own sighting counts
	case err != nil:
		return err
	case differs:
		return l.refilled(ctx, s)
	}
	return nil
}

// keepsMark checks that the stream, which a call found in epoch e ending
// at last, still holds floor, the highest Seq m had seen before that call.
// If it does, m notes its end. If not, the stream lost its tail, and lostTail
// starts a new epoch; the answer is ErrReplaced, on which the hub adopts
// the new epoch and resets its clients.
//
// JetStream never numbers a stream backwards (trimming and purging keep
// its last sequence), so a stream of the mark's epoch that ends before
// the mark lost acknowledged messages: nats-server acknowledges once a
// message is in the operating system's cache, and a machine that crashes
// or loses power before the write-back loses what it had not written.
// The stream would then give the lost Seqs to other events, and a client
// holding the id of a lost event would resume at the wrong place without
// being told.
func (l *Log) keepsMark(ctx context.Context, m *epoch.Mark, e string, last, floor uint64) error {
	if e != m.Epoch {
		return nil // another epoch: its own mark counts
	}
	if last >= floor {
		m.Saw(last)
		return nil
	}
	return l.lostTail(ctx, fmt.Sprintf("the stream ends at %d, but event %d was seen in it", last, floor))
}

// lostTail starts a new epoch for a stream that lost events this handle
// had seen in it (found says how that showed): the stream is deleted, so
// that the next Info makes it again under a new epoch (its ids bucket
// needs nothing: an id is held only while the stream holds its event, see
// taken). What the old stream still held goes with it, as with any new
// epoch: its Seqs belong to a sequence that can no longer be trusted.
// JetStream has no delete on a condition: a node that found the loss in
// the same moment as another, which already made the stream again, may
// delete the new one too; that costs the clients a second reset, not an
// event.
func (l *Log) lostTail(ctx context.Context, found string) error {
	if err := l.js.DeleteStream(ctx, l.name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return l.fail(ctx, "renewing the epoch of a stream that lost its tail", err)
	}
	return fmt.Errorf("nats: %s: it lost its tail; starting a new epoch: %w", found, hub.ErrReplaced)
}

// holds reports whether the message at seq is the event with id.
func (l *Log) holds(ctx context.Context, seq uint64, id string) (bool, error) {
	s, err := l.js.Stream(ctx, l.name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return false, nil
	}
	if err != nil {
		return false, l.fail(ctx, "looking up an id", err)
	}
	m, err := s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		// Not knowing is not "not held": an append would store the id
		// again, a resume would be reset.
		return false, l.fail(ctx, "looking up an id", err)
	}
	var ev hub.Event
	return ev.UnmarshalBinary(m.Data) == nil && ev.ID == id, nil
}

// idKey makes a valid bucket key of any id (keys allow few characters).
func idKey(id string) string {
	return base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte(id))
}

// Lookup implements [hub.Log].
func (l *Log) Lookup(ctx context.Context, id string) (uint64, error) {
	if l.closed.Load() {
		return 0, hub.ErrClosed
	}
	if id == "" {
		return 0, fmt.Errorf("%w: id %q", hub.ErrNotFound, id)
	}
	cctx, cancel := l.bound(ctx)
	defer cancel()
	entry, err := (*l.ids.Load()).Get(cctx, idKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, fmt.Errorf("%w: id %q", hub.ErrNotFound, id)
	}
	if err != nil {
		return 0, l.fail(ctx, "lookup", err)
	}
	value := string(entry.Value())
	if strings.HasPrefix(value, pending) {
		return l.lookupClaimed(cctx, id, entry)
	}
	seq, err := strconv.ParseUint(value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: id %q", hub.ErrNotFound, id)
	}
	held, err := l.holds(cctx, seq, id)
	if err != nil {
		return 0, err
	}
	if !held { // stale: its event was trimmed or replaced
		return 0, fmt.Errorf("%w: id %q", hub.ErrNotFound, id)
	}
	return seq, nil
}

// lookupClaimed looks up an id whose bucket entry is still a claim. Its
// append may have stored the event and not recorded it yet, or died before
// it could; a client that asks for the id may well have received that
// event. So the stream is read where the claim's append would have put it,
// and a lapsed claim is settled on the way (settleClaim).
func (l *Log) lookupClaimed(ctx context.Context, id string, entry jetstream.KeyValueEntry) (uint64, error) {
	seq, found, err := l.settleClaim(ctx, id, entry)
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("%w: id %q", hub.ErrNotFound, id)
	}
	return seq, nil
}

// Close implements [hub.Log]. JetStream keeps the events.
func (l *Log) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	l.cancel()
	close(l.quit)
	<-l.commitDone
	l.settling.mu.Lock() // a settle that saw the log open has joined wg
	l.settling.mu.Unlock()
	l.settling.wg.Wait()
	l.cursors.mu.Lock()
	idle, standing := l.cursors.idle, l.cursors.standing
	l.cursors.idle, l.cursors.standing = nil, nil
	l.cursors.mu.Unlock()
	if standing != nil {
		l.drop(standing)
	}
	for _, list := range idle {
		for _, c := range list {
			l.drop(c)
		}
	}
	l.nc.Close()
	return nil
}
