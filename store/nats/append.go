package nats

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/internal/batch"
)

// maxGroup bounds the events one commit publishes, well within the
// client's window of unacknowledged asynchronous publishes (4,000).
const maxGroup = 1024

// appendReq is one Append on its way to the committer.
type appendReq struct {
	events []*hub.Event
	msgs   []*natsgo.Msg
	// claims maps the bucket key of each id this request claimed to the
	// claim's revision, so that a failed request gives back only its own.
	claims map[string]uint64
	seqs   []uint64 // the stream sequence of each message, 0 until acknowledged
	err    error
	// unsure: a message of the request was sent and its fate is unknown
	// (no acknowledgement came, nor a refusal): it may be stored, so the
	// request's claims are kept, to lapse (see claimOne).
	unsure bool
	done   chan error
}

// Append implements [hub.Log]. The events are encoded by the calling
// goroutine; one committer goroutine then takes every Append waiting at that
// moment and commits them together: their ids are claimed in the bucket by
// one train of asynchronous publishes, their messages go out in order on
// the log's one connection without waiting for each acknowledgement, and
// the acknowledgements are awaited all at once. So concurrent publishers
// share the round trips instead of queueing behind each other's. A node's
// messages reach the stream in the order it sends them, so each batch is
// contiguous among this node's; another node's may fall between
// (logtest.Factory.BatchesMayInterleave).
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
	if err := batch.CheckIDs(events); err != nil {
		return err
	}
	now := l.opts.Now()
	r := &appendReq{events: events, msgs: make([]*natsgo.Msg, len(events)), seqs: make([]uint64, len(events)), done: make(chan error, 1)}
	limit := l.nc.MaxPayload()
	subject := *l.subject.Load()
	for i, ev := range events {
		if ev.Time.IsZero() {
			ev.Time = now
		}
		c := *ev
		c.Seq = 0
		b, _ := c.MarshalBinary()
		if limit > 0 && int64(len(b)+len(subject)) > limit {
			// Refused before anything is sent: the batch stays all-or-nothing.
			return fmt.Errorf("nats: event %d takes %d bytes, above the server's max_payload of %d: %w", i, len(b), limit, hub.ErrUnavailable)
		}
		r.msgs[i] = &natsgo.Msg{Subject: subject, Data: b}
	}
	select {
	case l.reqs <- r:
	case <-l.quit:
		return hub.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// The committer has the request now; its answer comes within its
	// bound (Timeout per step), so it is awaited even if ctx ends, to
	// report what happened. A request queued as Close stopped the
	// committer is never taken: it was not published.
	select {
	case err := <-r.done:
		return err
	case <-l.commitDone:
		select {
		case err := <-r.done:
			return err
		default:
			return hub.ErrClosed
		}
	}
}

// commitLoop is the committer: the only goroutine that publishes events.
func (l *Log) commitLoop() {
	defer close(l.commitDone)
	group := make([]*appendReq, 0, 64)
	for {
		select {
		case r := <-l.reqs:
			group = l.gather(append(group[:0], r))
			l.commit(group)
			clear(group)
		case <-l.quit:
			for {
				select {
				case r := <-l.reqs:
					r.done <- hub.ErrClosed
				default:
					return
				}
			}
		}
	}
}

// gather adds the Appends already waiting to group, up to maxGroup events.
func (l *Log) gather(group []*appendReq) []*appendReq {
	n := len(group[0].events)
	for n < maxGroup {
		select {
		case r := <-l.reqs:
			group = append(group, r)
			n += len(r.events)
		default:
			return group
		}
	}
	return group
}

// commit claims the group's ids, publishes its events, checks the epoch,
// records the ids and answers every request.
func (l *Log) commit(group []*appendReq) {
	ctx, cancel := l.bound(l.ctx)
	defer cancel()
	kv := *l.ids.Load()
	live := l.claimGroup(ctx, kv, group)
	if len(live) == 0 {
		return
	}
	if l.hooks.afterClaim != nil {
		l.hooks.afterClaim()
	}
	m := l.mark.Load()
	floor := m.Seq()
	// The stream is asked for the newest message this node saw beside
	// the publishes, so the check costs no round trip of its own: a
	// stream that lost its tail to a crash and was refilled by a node
	// that never saw it ends where it did, with other messages (see
	// sighting).
	sighted, differs := l.lookAtSighting(ctx)
	broken, unheard := l.publishGroup(ctx, live)
	refilled, serr := differs()
	if l.hooks.afterPublish != nil {
		l.hooks.afterPublish()
	}
	if broken {
		l.remakeBroken(ctx)
	}
	// The epoch is checked after the acknowledgements, not before: a
	// stream that still has this log's epoch now is the one that stored
	// them, since a stream replaced in between could not have it. Checked
	// before, a stream replaced between the check and the publish would
	// take the events under the old epoch's ids. On a subject with a
	// token (see Log.base) the acknowledgements say it themselves: only
	// the stream of the current epoch takes the current subject.
	var err error
	switch current := *l.subject.Load(); {
	case !publishedOn(live, current):
		// Published (or refused) on the subject of a stream the log
		// has left for another since: what was stored went to the old.
		err = fmt.Errorf("nats: append: published on %s, the subject of a stream replaced since: %w", live[0].msgs[0].Subject, hub.ErrReplaced)
	case current == l.base || unheard:
		// unheard: no stream took a message; a look tells whether the
		// stream is gone or replaced (ErrReplaced) or NATS is unwell.
		_, _, err = l.stateSince(ctx, m, floor)
	}
	low, high := seqRange(live)
	if err == nil && low != 0 && low <= floor && m.Epoch == *l.epoch.Load() {
		// The stream gave these events Seqs this log had already seen
		// used: it had lost its tail before this append (see keepsMark).
		err = l.lostTail(ctx, fmt.Sprintf("the stream gave event %d, seen before, to a new event", low))
	}
	if err == nil && refilled && sighted.epoch == m.Epoch && m.Epoch == *l.epoch.Load() {
		err = l.refilled(ctx, sighted)
	}
	if err != nil {
		for _, r := range live {
			r.done <- err
		}
		return
	}
	m.Saw(high) // the stream of m's epoch holds it (checked above)
	if serr == nil {
		// Unchecked, the sighting stays where it was, for the next
		// commit to check: a newer one would hide what it could tell.
		l.sawOwn(m.Epoch, live, high)
	}
	l.recordIDs(ctx, kv, live)
	for _, r := range live {
		if r.err != nil {
			if !r.unsure {
				l.release(kv, r)
			}
			r.done <- r.err
			continue
		}
		for i, ev := range r.events {
			ev.Seq = r.seqs[i]
		}
		r.done <- nil
	}
}

// sawOwn records the message the stream acknowledged at high, the newest
// of group's, as the node's sighting in epoch ep.
func (l *Log) sawOwn(ep string, group []*appendReq, high uint64) {
	for _, r := range group {
		for i, seq := range r.seqs {
			if seq == high && high != 0 {
				l.saw(ep, seq, r.msgs[i].Subject, r.msgs[i].Data)
				return
			}
		}
	}
}

// publishedOn says whether every message of group went out on subject.
func publishedOn(group []*appendReq, subject string) bool {
	for _, r := range group {
		for _, m := range r.msgs {
			if m.Subject != subject {
				return false
			}
		}
	}
	return true
}

// seqRange is the lowest and highest Seq the stream acknowledged for
// group, 0 and 0 for none.
func seqRange(group []*appendReq) (low, high uint64) {
	for _, r := range group {
		for _, seq := range r.seqs {
			if seq != 0 && (low == 0 || seq < low) {
				low = seq
			}
			high = max(high, seq)
		}
	}
	return low, high
}

// publishGroup publishes the messages of every request in order, then
// waits for all their acknowledgements, setting each request's seqs or err.
// broken reports that the stream could not open its own files, unheard
// that no stream answered a message.
func (l *Log) publishGroup(ctx context.Context, group []*appendReq) (broken, unheard bool) {
	type sent struct {
		r   *appendReq
		i   int
		ack jetstream.PubAckFuture
	}
	futures := make([]sent, 0, len(group))
	for _, r := range group {
		for i, m := range r.msgs {
			f, err := l.js.PublishMsgAsync(m)
			if err != nil {
				r.err = l.fail(ctx, "append", err)
				break
			}
			futures = append(futures, sent{r, i, f})
		}
	}
	for _, s := range futures {
		ack, err := await(ctx, s.ack)
		switch {
		case err != nil:
			var apiErr *jetstream.APIError
			refused := errors.As(err, &apiErr)
			broken = broken || refused && apiErr.ErrorCode == errCodeBlockFile
			noStream := errors.Is(err, jetstream.ErrNoStreamResponse)
			unheard = unheard || noStream
			// A refusal or no stream at all stored nothing; anything
			// else (no answer in time, a connection lost) may have.
			s.r.unsure = s.r.unsure || !refused && !noStream
			if s.r.err == nil {
				s.r.err = l.fail(ctx, "append", err)
			}
		case ack.Stream != l.name:
			if s.r.err == nil {
				s.r.err = fmt.Errorf("nats: append: stored in stream %q, not %q: %w", ack.Stream, l.name, hub.ErrReplaced)
			}
		default:
			s.r.seqs[s.i] = ack.Sequence
		}
	}
	return broken, unheard
}

// errCodeBlockFile is JetStream's "error opening msg block file".
const errCodeBlockFile = 10077

// remakeBroken deletes a stream of this log's epoch that cannot store
// (its files are missing) while it holds nothing and stored nothing since
// it was made, so that the next Info makes it again. nats-server 2.9 can
// leave a stream so when it is made again right after it was deleted: the
// new stream took up the old one's last sequence (its LastTime is before
// its own creation) from files that were being removed (seen with
// TestClusterWipedLogResetsClients). Nothing is lost: the stream is empty;
// the nodes move to the new one's epoch, as after the deletion.
func (l *Log) remakeBroken(ctx context.Context) {
	s, err := l.js.Stream(ctx, l.name)
	if err != nil {
		return
	}
	si := s.CachedInfo()
	inherited := si.State.LastSeq == 0 || si.State.LastTime.Before(si.Created)
	if si.State.Msgs != 0 || !inherited || epochOf(si.Created) != *l.epoch.Load() {
		return // not empty, or not the stream this log's publishes went to
	}
	_ = l.js.DeleteStream(ctx, l.name)
}

// await waits for one asynchronous publish's acknowledgement.
func await(ctx context.Context, f jetstream.PubAckFuture) (*jetstream.PubAck, error) {
	select {
	case ack := <-f.Ok():
		return ack, nil
	case err := <-f.Err():
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// pending marks an id claimed by an append still publishing: "p UNIXMS".
const pending = "p "

// claimGroup claims the ids of every request of group in the bucket and
// returns the requests whose ids are all theirs now; the others are
// answered. Each claim is first tried as a create (the key must have no
// entry), all at once; a key that has one is judged by claimOne.
func (l *Log) claimGroup(ctx context.Context, kv jetstream.KeyValue, group []*appendReq) []*appendReq {
	type claim struct {
		r   *appendReq
		id  string
		key string
		ack jetstream.PubAckFuture
	}
	value := []byte(pending + strconv.FormatInt(time.Now().UnixMilli(), 10))
	var claims []claim
	for _, r := range group {
		for _, ev := range r.events {
			if ev.ID == "" {
				continue
			}
			key := idKey(ev.ID)
			m := &natsgo.Msg{Subject: l.idsSubject + key, Data: value}
			f, err := l.js.PublishMsgAsync(m, jetstream.WithExpectLastSequencePerSubject(0))
			if err != nil {
				r.err = l.fail(ctx, "claiming an id", err)
				break
			}
			claims = append(claims, claim{r, ev.ID, key, f})
		}
	}
	if len(claims) == 0 && !failed(group) {
		return group
	}
	var extent *[2]uint64 // the stream's first and last, read once if needed
	for _, c := range claims {
		ack, err := await(ctx, c.ack)
		if err == nil {
			c.r.claim(c.key, ack.Sequence)
			continue
		}
		if c.r.err != nil {
			continue
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			c.r.err = l.fail(ctx, "claiming an id", err)
			continue
		}
		if extent == nil {
			first, last, err := l.state(ctx)
			if err != nil {
				c.r.err = err
				continue
			}
			extent = &[2]uint64{first, last}
		}
		rev, err := l.claimOne(ctx, kv, c.id, c.key, value, extent[0], extent[1])
		if err != nil {
			c.r.err = err
			continue
		}
		c.r.claim(c.key, rev)
	}
	live := group[:0:0]
	for _, r := range group {
		if r.err != nil {
			l.release(kv, r)
			r.done <- r.err
			continue
		}
		live = append(live, r)
	}
	return live
}

func (r *appendReq) claim(key string, rev uint64) {
	if r.claims == nil {
		r.claims = make(map[string]uint64)
	}
	r.claims[key] = rev
}

// claimOne claims an id whose key has an entry. Another append's claim
// whose event may still be stored (see claimLapse) means try again later.
// An entry naming a retained event that carries the id holds it. A lapsed
// claim is settled first (settle), beside the committer: try again then.
// Anything else (an event trimmed away, a deleted key) frees it.
func (l *Log) claimOne(ctx context.Context, kv jetstream.KeyValue, id, key string, value []byte, first, last uint64) (uint64, error) {
	entry, err := kv.Get(ctx, key)
	var rev uint64
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		rev, err = kv.Create(ctx, key, value)
	case err == nil:
		held := string(entry.Value())
		if l.inFlight(held) {
			return 0, errInFlight(id)
		}
		if taken, err := l.taken(ctx, held, id, first, last); err != nil {
			return 0, err
		} else if taken {
			return 0, fmt.Errorf("%w: %q is event %s", hub.ErrDuplicateID, id, held)
		}
		if strings.HasPrefix(held, pending) {
			// A lapsed claim: its append may have stored the event and
			// then died, or lost the acknowledgement, before recording
			// it. Taking the id over would store it a second time. The
			// look that tells reads the stream, which takes long on a
			// busy one, so it runs beside the committer, and the append
			// is told to try again: it then finds the id recorded, or
			// free.
			l.settle(id, entry)
			return 0, errInFlight(id)
		}
		rev, err = kv.Update(ctx, key, value, entry.Revision())
	}
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, errInFlight(id) // claimed in between
	}
	if err != nil {
		return 0, l.fail(ctx, "claiming an id", err)
	}
	return rev, nil
}

// settle starts the look that settles a lapsed claim (settleClaim) beside
// the committer, unless one is running for its key or the log is closed.
func (l *Log) settle(id string, entry jetstream.KeyValueEntry) {
	key := entry.Key()
	st := &l.settling
	st.mu.Lock()
	defer st.mu.Unlock()
	if l.closed.Load() || st.keys[key] {
		return
	}
	if st.keys == nil {
		st.keys = make(map[string]bool)
	}
	st.keys[key] = true
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		defer func() {
			st.mu.Lock()
			delete(st.keys, key)
			st.mu.Unlock()
		}()
		if h := l.hooks.beforeSettle; h != nil {
			h()
		}
		ctx, cancel := context.WithTimeoutCause(l.ctx, settleTimeout*l.opts.Timeout, errNoAnswer)
		defer cancel()
		_, _, _ = l.settleClaim(ctx, id, entry)
	}()
}

// settleTimeout bounds a settling look, in Timeouts: it reads the events
// of a window of two Timeouts and more.
const settleTimeout = 4

// settleClaim looks in the stream for the event of a claim's append
// (storedSince). A claim that lapsed is settled: recorded if its event is
// there, deleted if not (its append failed), so that the look is made
// once; a claim still in flight is left to its append.
func (l *Log) settleClaim(ctx context.Context, id string, entry jetstream.KeyValueEntry) (seq uint64, found bool, err error) {
	_, last, err := l.state(ctx)
	if err != nil {
		return 0, false, err
	}
	seq, found, err = l.storedSince(ctx, id, entry.Created(), last)
	if err != nil || l.inFlight(string(entry.Value())) {
		return seq, found, err
	}
	kv := *l.ids.Load()
	if found {
		_, _ = kv.Update(ctx, entry.Key(), strconv.AppendUint(nil, seq, 10), entry.Revision())
	} else {
		_ = kv.Delete(ctx, entry.Key(), jetstream.LastRevision(entry.Revision()))
	}
	return seq, found, nil
}

// clockSlack widens the window storedSince reads around a claim: the
// claiming append publishes within its Timeout of the claim, and the
// window allows as much again for a server that stored late, and
// clockSlack on each side for clocks that differ between the servers of a
// NATS cluster (the bucket's and the stream's).
const clockSlack = time.Second

// storedSince looks in the stream, from the events stored around since
// (the time of a claim) up to last, for one that carries id, and returns
// its Seq. It reads only the claim's window (see clockSlack): a crash of a
// claiming append is rare, and the look is what keeps its retry from
// storing the event twice, and a client that received it from resuming at
// the wrong place (Lookup).
func (l *Log) storedSince(ctx context.Context, id string, since time.Time, last uint64) (uint64, bool, error) {
	from, until := since.Add(-clockSlack), since.Add(l.claimLapse())
	cons, err := l.js.OrderedConsumer(ctx, l.name, jetstream.OrderedConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartTimePolicy,
		OptStartTime:      &from,
		InactiveThreshold: consumerLapse, // not nats.go's 5 minutes
	})
	if err != nil {
		return 0, false, l.fail(ctx, "looking for an unrecorded id", err)
	}
	for {
		batch, err := cons.FetchNoWait(256)
		if err != nil {
			return 0, false, l.fail(ctx, "looking for an unrecorded id", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			seq := md.Sequence.Stream
			if seq > last || md.Timestamp.After(until) {
				return 0, false, nil
			}
			if md.Timestamp.Before(from) {
				continue // the server may start a little early
			}
			var ev hub.Event
			if ev.UnmarshalBinary(m.Data()) == nil && ev.ID == id {
				return seq, true, nil
			}
			if md.NumPending == 0 {
				return 0, false, nil
			}
		}
		if err := batch.Error(); err != nil {
			return 0, false, l.fail(ctx, "looking for an unrecorded id", err)
		}
		if n == 0 {
			return 0, false, nil
		}
	}
}

// recordIDs writes the Seq of every stored event that has an id into the
// bucket, all at once; a request whose record failed fails.
func (l *Log) recordIDs(ctx context.Context, kv jetstream.KeyValue, group []*appendReq) {
	type record struct {
		r   *appendReq
		key string
		ack jetstream.PubAckFuture
	}
	var records []record
	for _, r := range group {
		for i, ev := range r.events {
			if ev.ID == "" || r.seqs[i] == 0 {
				continue
			}
			key := idKey(ev.ID)
			m := &natsgo.Msg{Subject: l.idsSubject + key, Data: strconv.AppendUint(nil, r.seqs[i], 10)}
			f, err := l.js.PublishMsgAsync(m)
			if err != nil {
				r.err = cmpErr(r.err, l.fail(ctx, "recording an id", err))
				continue
			}
			records = append(records, record{r, key, f})
		}
	}
	for _, rec := range records {
		if _, err := await(ctx, rec.ack); err != nil {
			rec.r.err = cmpErr(rec.r.err, l.fail(ctx, "recording an id", err))
			continue
		}
		delete(rec.r.claims, rec.key) // recorded: no longer a claim to give back
	}
}

func cmpErr(old, err error) error {
	if old != nil {
		return old
	}
	return err
}

// release gives back the claims of a request that failed, unless another
// append claimed the id since (the revision moved on). A claim left behind
// (NATS unreachable now) lapses after claimLapse.
//
// The claim of an event the stream stored (its record failed) is kept: it
// lapses, and the look of the next append or Lookup of the id finds the
// event (storedSince).
func (l *Log) release(kv jetstream.KeyValue, r *appendReq) {
	for i, ev := range r.events {
		if ev.ID != "" && r.seqs[i] != 0 {
			delete(r.claims, idKey(ev.ID))
		}
	}
	if len(r.claims) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
	defer cancel()
	for key, rev := range r.claims {
		_ = kv.Delete(ctx, key, jetstream.LastRevision(rev))
	}
}

// inFlight says whether value is a claim whose append may still have its
// event stored: one made less than claimLapse ago.
func (l *Log) inFlight(value string) bool {
	ms, ok := strings.CutPrefix(value, pending)
	if !ok {
		return false
	}
	at, _ := strconv.ParseInt(ms, 10, 64)
	return time.Since(time.UnixMilli(at)) < l.claimLapse()
}

// claimLapse is how long a claim is taken to be its append's: the append
// gives up after Timeout, and its message may be stored until the end of
// the window storedSince reads, two Timeouts and clockSlack after the
// claim. A claim taken over sooner could see its event stored after the
// look that found none (a server that stored it late), and the id stored
// twice.
func (l *Log) claimLapse() time.Duration {
	return 2*l.opts.Timeout + clockSlack
}

// errInFlight answers an append of an id another append has claimed and
// may still be publishing. Whether that one stores the event is not known
// yet, so the answer is to try again (ErrUnavailable, a 503), not that the
// id is held: a publisher that takes a duplicate for done would lose the
// event if the other append failed.
func errInFlight(id string) error {
	return fmt.Errorf("nats: id %q is being published by another append; try again: %w", id, hub.ErrUnavailable)
}

// taken says whether value, the bucket's entry for id, names a retained
// event that carries id.
func (l *Log) taken(ctx context.Context, value, id string, first, last uint64) (bool, error) {
	if strings.HasPrefix(value, pending) {
		return false, nil // lapsed (inFlight is asked first)
	}
	held, _ := strconv.ParseUint(value, 10, 64)
	if held < first || held > last {
		return false, nil
	}
	return l.holds(ctx, held, id)
}

func failed(group []*appendReq) bool {
	for _, r := range group {
		if r.err != nil {
			return true
		}
	}
	return false
}
