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
// stored in the stream's file storage (written, fsynced per the server's
// sync setting).
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
)

// Options configure a Log.
type Options struct {
	// Stream names the log (default "ssehub"): the JetStream stream
	// SSEHUB_<Stream> on subject ssehub.<Stream>, and the bucket
	// SSEHUB_<Stream>_IDS.
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
	nc      *natsgo.Conn
	js      jetstream.JetStream
	opts    Options
	name    string // stream name
	subject string
	bucket  string

	epoch     atomic.Pointer[string]
	ids       atomic.Pointer[jetstream.KeyValue] // the ids bucket, set by Info
	tailMu    sync.Mutex
	tailEpoch string

	appendMu sync.Mutex // one append of this node at a time: see Append
	closed   atomic.Bool
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
	l := &Log{nc: nc, js: js, opts: opts, name: "SSEHUB_" + tag, subject: "ssehub." + opts.Stream, bucket: "SSEHUB_" + tag + "_IDS"}
	info, err := l.Info(ctx)
	if err != nil {
		nc.Close()
		return nil, err
	}
	l.tailEpoch = info.Epoch
	return l, nil
}

// Stream returns the log's name (Options.Stream).
func (l *Log) Stream() string { return l.opts.Stream }

// JetStream returns the log's JetStream handle, for tests and tools.
func (l *Log) JetStream() jetstream.JetStream { return l.js }

func (l *Log) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, l.opts.Timeout)
}

// fail turns an error from NATS into one the hub understands.
func (l *Log) fail(ctx context.Context, what string, err error) error {
	switch {
	case l.closed.Load():
		return hub.ErrClosed
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
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

func (l *Log) streamConfig() jetstream.StreamConfig {
	r := l.opts.Retention
	cfg := jetstream.StreamConfig{
		Name:       l.name,
		Subjects:   []string{l.subject},
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
	s, err := l.js.CreateOrUpdateStream(cctx, l.streamConfig())
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
	l.epoch.Store(&e)
	return hub.Info{
		Epoch:  e,
		First:  max(si.State.FirstSeq, 1),
		Last:   si.State.LastSeq,
		Events: int64(si.State.Msgs),
		Bytes:  int64(si.State.Bytes),
	}, nil
}

// state reads the stream's extent and checks its epoch.
func (l *Log) state(ctx context.Context) (first, last uint64, err error) {
	s, err := l.js.Stream(ctx, l.name)
	if err != nil {
		return 0, 0, l.fail(ctx, "stream", err)
	}
	si := s.CachedInfo()
	if e := epochOf(si.Created); e != *l.epoch.Load() {
		return 0, 0, fmt.Errorf("nats: the stream's epoch is %q, this log's %q: %w", e, *l.epoch.Load(), hub.ErrReplaced)
	}
	return max(si.State.FirstSeq, 1), si.State.LastSeq, nil
}

const idHeader = "Ssehub-Id"

// consumerLapse is how soon the server drops an ordered consumer this log
// no longer reads from: each read makes one.
const consumerLapse = 5 * time.Second

// Append implements [hub.Log]. It claims the batch's ids in the bucket,
// publishes the events in order on one connection and records each id's
// Seq once JetStream acknowledged it. The node's appends run one at a time,
// so one node's batches are contiguous; batches of two nodes publishing at
// once may interleave (see logtest.Factory.BatchesMayInterleave).
func (l *Log) Append(ctx context.Context, events []*hub.Event) error {
	if l.closed.Load() {
		return hub.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(events) == 0 {
		return nil
	}
	if err := checkBatchIDs(events); err != nil {
		return err
	}
	now := l.opts.Now()
	msgs := make([]*natsgo.Msg, len(events))
	for i, ev := range events {
		if ev.Time.IsZero() {
			ev.Time = now
		}
		c := *ev
		c.Seq = 0
		b, _ := c.MarshalBinary()
		msgs[i] = &natsgo.Msg{Subject: l.subject, Data: b, Header: natsgo.Header{}}
		if ev.ID != "" {
			msgs[i].Header.Set(idHeader, ev.ID)
		}
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	cctx, cancel := l.bound(ctx)
	defer cancel()
	first, last, err := l.state(cctx)
	if err != nil {
		return err
	}
	kv := *l.ids.Load()
	claims, err := l.claimIDs(cctx, kv, events, first, last)
	if err != nil {
		l.release(kv, claims)
		return err
	}
	seqs, err := l.publish(cctx, msgs)
	if err != nil {
		l.release(kv, claims)
		return l.fail(ctx, "append", err)
	}
	for i, ev := range events {
		ev.Seq = seqs[i]
		if ev.ID != "" {
			if _, err := kv.Put(cctx, idKey(ev.ID), []byte(strconv.FormatUint(ev.Seq, 10))); err != nil {
				return l.fail(ctx, "recording an id", err)
			}
		}
	}
	return nil
}

// publish publishes msgs in order and returns their stream sequences.
func (l *Log) publish(ctx context.Context, msgs []*natsgo.Msg) ([]uint64, error) {
	futures := make([]jetstream.PubAckFuture, len(msgs))
	for i, m := range msgs {
		f, err := l.js.PublishMsgAsync(m, jetstream.WithExpectStream(l.name))
		if err != nil {
			return nil, err
		}
		futures[i] = f
	}
	seqs := make([]uint64, len(msgs))
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			seqs[i] = ack.Sequence
		case err := <-f.Err():
			return nil, err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return seqs, nil
}

// pending marks an id claimed by an append still publishing: "p UNIXMS".
const pending = "p "

// claimIDs claims each id of events in the bucket. An id already there is
// taken if it names a retained event that carries it, or if another append
// claimed it less than a Timeout ago; anything else (a claim whose publish
// failed, an event trimmed away) frees it.
func (l *Log) claimIDs(ctx context.Context, kv jetstream.KeyValue, events []*hub.Event, first, last uint64) (claims map[string]uint64, err error) {
	claim := []byte(pending + strconv.FormatInt(time.Now().UnixMilli(), 10))
	claims = make(map[string]uint64)
	for _, ev := range events {
		if ev.ID == "" {
			continue
		}
		key := idKey(ev.ID)
		entry, err := kv.Get(ctx, key)
		var rev uint64
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			rev, err = kv.Create(ctx, key, claim)
		case err == nil:
			if l.taken(ctx, string(entry.Value()), ev.ID, first, last) {
				return claims, fmt.Errorf("%w: %q", hub.ErrDuplicateID, ev.ID)
			}
			rev, err = kv.Update(ctx, key, claim, entry.Revision())
		}
		if errors.Is(err, jetstream.ErrKeyExists) {
			return claims, fmt.Errorf("%w: %q is being published by another node", hub.ErrDuplicateID, ev.ID)
		}
		if err != nil {
			return claims, l.fail(ctx, "claiming an id", err)
		}
		claims[key] = rev
	}
	return claims, nil
}

// release gives back the claims of an append that stored nothing, unless
// another append claimed the id since (the revision moved on). A claim left
// behind (NATS unreachable now) lapses after Timeout.
func (l *Log) release(kv jetstream.KeyValue, claims map[string]uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
	defer cancel()
	for key, rev := range claims {
		_ = kv.Delete(ctx, key, jetstream.LastRevision(rev))
	}
}

func (l *Log) taken(ctx context.Context, value, id string, first, last uint64) bool {
	if ms, ok := strings.CutPrefix(value, pending); ok {
		at, _ := strconv.ParseInt(ms, 10, 64)
		return time.Since(time.UnixMilli(at)) < l.opts.Timeout
	}
	held, _ := strconv.ParseUint(value, 10, 64)
	return held >= first && held <= last && l.holds(ctx, held, id)
}

// holds reports whether the message at seq is the event with id.
func (l *Log) holds(ctx context.Context, seq uint64, id string) bool {
	s, err := l.js.Stream(ctx, l.name)
	if err != nil {
		return false
	}
	m, err := s.GetMsg(ctx, seq)
	return err == nil && m.Header.Get(idHeader) == id
}

// idKey makes a valid bucket key of any id (keys allow few characters).
func idKey(id string) string {
	return base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte(id))
}

func checkBatchIDs(events []*hub.Event) error {
	seen := make(map[string]bool)
	for _, ev := range events {
		if ev.ID == "" {
			continue
		}
		if seen[ev.ID] {
			return fmt.Errorf("%w: %q appears twice in the batch", hub.ErrDuplicateID, ev.ID)
		}
		seen[ev.ID] = true
	}
	return nil
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
	seq, err := strconv.ParseUint(string(entry.Value()), 10, 64)
	if err != nil || !l.holds(cctx, seq, id) { // a claim still publishing, or stale
		return 0, fmt.Errorf("%w: id %q", hub.ErrNotFound, id)
	}
	return seq, nil
}

// Read implements [hub.Log] with an ordered consumer from after+1.
func (l *Log) Read(ctx context.Context, after uint64, limit int) ([]*hub.Event, error) {
	if l.closed.Load() {
		return nil, hub.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("nats: read limit %d, want at least 1", limit)
	}
	cctx, cancel := l.bound(ctx)
	defer cancel()
	first, last, err := l.state(cctx)
	if err != nil {
		return nil, err
	}
	if after+1 < first {
		return nil, fmt.Errorf("%w: reading after %d, oldest retained is %d", hub.ErrTrimmed, after, first)
	}
	if after >= last {
		return nil, nil
	}
	n := int(min(uint64(limit), last-after))
	return l.fetch(cctx, after, n)
}

// fetch reads n events that exist after `after`.
func (l *Log) fetch(ctx context.Context, after uint64, n int) ([]*hub.Event, error) {
	c, err := l.js.OrderedConsumer(ctx, l.name, jetstream.OrderedConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       after + 1,
		InactiveThreshold: consumerLapse,
	})
	if err != nil {
		return nil, l.fail(ctx, "read", err)
	}
	out := make([]*hub.Event, 0, n)
	for len(out) < n {
		wait := time.Until(deadline(ctx))
		batch, err := c.Fetch(n-len(out), jetstream.FetchMaxWait(max(wait, time.Millisecond)))
		if err != nil {
			return nil, l.fail(ctx, "read", err)
		}
		got := 0
		for m := range batch.Messages() {
			ev, err := decode(m, after+uint64(len(out)))
			if err != nil {
				return nil, err
			}
			out = append(out, ev)
			got++
		}
		if err := batch.Error(); err != nil && got == 0 {
			return nil, l.fail(ctx, "read", err)
		}
		if got == 0 {
			return nil, l.fail(ctx, "read", context.DeadlineExceeded)
		}
	}
	return out, nil
}

func deadline(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(time.Second)
}

// decode turns a message into the event following prev, reporting
// ErrTrimmed when retention removed what lay between.
func decode(m jetstream.Msg, prev uint64) (*hub.Event, error) {
	md, err := m.Metadata()
	if err != nil {
		return nil, err
	}
	seq := md.Sequence.Stream
	if seq != prev+1 {
		return nil, fmt.Errorf("%w: reading after %d, the next retained is %d", hub.ErrTrimmed, prev, seq)
	}
	ev := new(hub.Event)
	if err := ev.UnmarshalBinary(m.Data()); err != nil {
		return nil, fmt.Errorf("nats: message %d: %w", seq, err)
	}
	ev.Seq = seq
	return ev, nil
}

// ReadWait implements [hub.Tailer]: it reads what is there after `after`,
// or waits in NATS for the next event, Block at a time.
func (l *Log) ReadWait(ctx context.Context, after uint64, limit int) ([]*hub.Event, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("nats: read limit %d, want at least 1", limit)
	}
	for {
		if l.closed.Load() {
			return nil, hub.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := l.tailTold(); err != nil {
			return nil, err
		}
		evs, err := l.Read(ctx, after, limit)
		if err != nil || len(evs) > 0 {
			return evs, err
		}
		if err := l.waitNext(ctx, after); err != nil {
			return nil, err
		}
	}
}

// waitNext waits up to Block for a message after `after`.
func (l *Log) waitNext(ctx context.Context, after uint64) error {
	cctx, cancel := context.WithTimeout(ctx, l.opts.Block+l.opts.Timeout)
	defer cancel()
	c, err := l.js.OrderedConsumer(cctx, l.name, jetstream.OrderedConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       after + 1,
		InactiveThreshold: consumerLapse,
	})
	if err != nil {
		return l.fail(ctx, "tail", err)
	}
	// Next does not watch ctx: a cancelled wait ends within Block.
	_, err = c.Next(jetstream.FetchMaxWait(l.opts.Block))
	if err != nil && !errors.Is(err, natsgo.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		return l.fail(ctx, "tail", err)
	}
	return nil
}

func (l *Log) tailTold() error {
	current := *l.epoch.Load()
	l.tailMu.Lock()
	defer l.tailMu.Unlock()
	if l.tailEpoch != current {
		old := l.tailEpoch
		l.tailEpoch = current
		return fmt.Errorf("nats: the log moved from epoch %q to %q: %w", old, current, hub.ErrReplaced)
	}
	return nil
}

// Wait implements [hub.Log].
func (l *Log) Wait(ctx context.Context, after uint64) error {
	_, err := l.ReadWait(ctx, after, 1)
	if errors.Is(err, hub.ErrTrimmed) {
		return nil
	}
	return err
}

// Close implements [hub.Log]. JetStream keeps the events.
func (l *Log) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	l.nc.Close()
	return nil
}
