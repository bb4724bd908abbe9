package nats

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/testserver"
)

// TestARetryAfterAnUnknownOutcomeStoresTheEventOnce: an append whose
// message went out but whose acknowledgement never came (the server froze
// after the id was claimed, then stored the message) fails; its publisher
// retries with the same id. The retry is told that the id is held by the
// stored event (once the first claim can no longer be publishing), and the
// stream holds the event once.
func TestARetryAfterAnUnknownOutcomeStoresTheEventOnce(t *testing.T) {
	srv := testserver.NATS(t)
	l, err := Open(t.Context(), srv.URL(), Options{Stream: "unsure", Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// The server freezes once the id is claimed, so the message goes out
	// and no acknowledgement comes within the Timeout; it thaws before
	// the node does anything more (it could give the claim back then).
	l.hooks.afterClaim = srv.Pause
	l.hooks.afterPublish = srv.Resume
	err = l.Append(t.Context(), []*hub.Event{{ID: "once", Topics: []string{"t"}, Data: "first"}})
	if !errors.Is(err, hub.ErrUnavailable) {
		t.Fatalf("an append through a frozen server: %v, want ErrUnavailable", err)
	}
	l.hooks.afterClaim, l.hooks.afterPublish = nil, nil
	eventually(t, "the thawed server to store the message", func() bool {
		info, err := l.Info(t.Context())
		return err == nil && info.Last == 1
	})

	retry := untilAnswered(t, func() error {
		return l.Append(t.Context(), []*hub.Event{{ID: "once", Topics: []string{"t"}, Data: "again"}})
	})
	if !errors.Is(retry, hub.ErrDuplicateID) || !strings.Contains(retry.Error(), "is event 1") {
		t.Fatalf("the retry: %v; want ErrDuplicateID naming event 1", retry)
	}
	if info, err := l.Info(t.Context()); err != nil || info.Last != 1 {
		t.Fatalf("Info = %+v, %v; want the one event", info, err)
	}
	if seq, err := l.Lookup(t.Context(), "once"); err != nil || seq != 1 {
		t.Fatalf("Lookup(once) = %d, %v; want 1 (the id recorded)", seq, err)
	}
}

// TestAnIDClaimedByAnotherAppend: an id whose bucket entry is another
// append's claim. While that append may still be publishing, an append of
// the id is told to try again. Once the claim lapsed, the id is free unless
// the stream holds an event with it from around the claim's time (a node
// that died after publishing it, before recording it).
func TestAnIDClaimedByAnotherAppend(t *testing.T) {
	srv := testserver.NATS(t)
	l, err := Open(t.Context(), srv.URL(), Options{Stream: "claims", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	claim := func(id string, at time.Time) { claimAt(t, l, id, at) }
	appendID := func(id string) error {
		return l.Append(t.Context(), []*hub.Event{{ID: id, Topics: []string{"t"}, Data: id}})
	}

	claim("in-flight", time.Now())
	if err := appendID("in-flight"); !errors.Is(err, hub.ErrUnavailable) {
		t.Errorf("an id another append claimed just now: %v, want ErrUnavailable (try again)", err)
	}

	// Older than Timeout, so its append has given up, but its message may
	// still be stored: a server that stalled stores it late, up to the end
	// of the window the look reads.
	claim("late", time.Now().Add(-3*time.Second/2))
	if err := appendID("late"); !errors.Is(err, hub.ErrUnavailable) {
		t.Errorf("an id claimed 1.5 Timeouts ago: %v, want ErrUnavailable (its event may still be stored)", err)
	}

	lapsed := time.Now().Add(-time.Hour)
	claim("abandoned", lapsed)
	if err := untilAnswered(t, func() error { return appendID("abandoned") }); err != nil {
		t.Errorf("an id whose claim lapsed with nothing stored: %v, want it taken over", err)
	}

	claim("died", lapsed)
	died, _ := storeUnrecorded(t, l, "died")
	err = untilAnswered(t, func() error { return appendID("died") })
	if !errors.Is(err, hub.ErrDuplicateID) || !strings.Contains(err.Error(), "is event "+strconv.FormatUint(died, 10)) {
		t.Errorf("an id whose lapsed claim's event is stored: %v, want ErrDuplicateID naming event %d", err, died)
	}
	if seq, err := l.Lookup(t.Context(), "died"); err != nil || seq != died {
		t.Errorf("Lookup(died) = %d, %v; want %d, recorded by the refused append", seq, err, died)
	}
	if info, err := l.Info(t.Context()); err != nil || info.Last != 2 {
		t.Errorf("Info = %+v, %v; want 2 events (abandoned, died)", info, err)
	}
}

// TestALookupOfAnIDStillClaimed: a client may resume from an event whose
// id the bucket holds only as a claim: the append stored it and has not
// recorded it yet, or died before it could. Lookup finds the event where
// the claim's append would have put it, records it once the claim lapsed,
// and answers not found when nothing was stored.
func TestALookupOfAnIDStillClaimed(t *testing.T) {
	srv := testserver.NATS(t)
	l, err := Open(t.Context(), srv.URL(), Options{Stream: "lookups", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	kv := *l.ids.Load()
	claimAndStore := func(id string, at time.Time, store bool) uint64 {
		t.Helper()
		claimAt(t, l, id, at)
		if !store {
			return 0
		}
		seq, _ := storeUnrecorded(t, l, id)
		return seq
	}
	entry := func(id string) string {
		t.Helper()
		e, err := kv.Get(t.Context(), idKey(id))
		if err != nil {
			t.Fatal(err)
		}
		return string(e.Value())
	}
	if err := l.Append(t.Context(), []*hub.Event{{Topics: []string{"t"}, Data: "first"}}); err != nil {
		t.Fatal(err)
	}

	died := claimAndStore("died", time.Now().Add(-time.Hour), true)
	if seq, err := l.Lookup(t.Context(), "died"); err != nil || seq != died {
		t.Errorf("Lookup(died) = %d, %v; want %d, the event its dead append stored", seq, err, died)
	}
	if v := entry("died"); v != strconv.FormatUint(died, 10) {
		t.Errorf("the bucket's entry for died is %q after the lookup, want it recorded as %d", v, died)
	}

	recording := claimAndStore("recording", time.Now(), true)
	if seq, err := l.Lookup(t.Context(), "recording"); err != nil || seq != recording {
		t.Errorf("Lookup(recording) = %d, %v; want %d, the event its append stored", seq, err, recording)
	}
	if v := entry("recording"); !strings.HasPrefix(v, pending) {
		t.Errorf("the bucket's entry for recording is %q, want the claim left to its append", v)
	}

	claimAndStore("unstored", time.Now().Add(-time.Hour), false)
	if _, err := l.Lookup(t.Context(), "unstored"); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("Lookup(unstored) = %v, want ErrNotFound (nothing was stored)", err)
	}
	// Settled: asking again answers from the bucket, without a look.
	if _, err := kv.Get(t.Context(), idKey("unstored")); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("the bucket's entry for unstored after the lookup: %v, want it deleted (its append failed)", err)
	}
	claimAndStore("pending", time.Now(), false)
	if _, err := l.Lookup(t.Context(), "pending"); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("Lookup(pending) = %v, want ErrNotFound (nothing stored yet)", err)
	}
	if v := entry("pending"); !strings.HasPrefix(v, pending) {
		t.Errorf("the bucket's entry for pending is %q, want the claim left to its append", v)
	}
}

// TestTheLookForAnUnrecordedIDReadsTheClaimsWindow: the look for the event
// of a lapsed claim reads what the stream stored from clockSlack before the
// claim to two Timeouts and clockSlack after it (docs/cluster.md), and no
// further: an event with the id stored outside that window is not the
// claim's. The test waits for that much time to pass on the server's clock.
func TestTheLookForAnUnrecordedIDReadsTheClaimsWindow(t *testing.T) {
	srv := testserver.NATS(t)
	const timeout = 100 * time.Millisecond
	l, err := Open(t.Context(), srv.URL(), Options{Stream: "window", Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lapsed := time.Now().Add(-time.Hour)
	claim := func(id string) time.Time { return claimAt(t, l, id, lapsed).Created() }
	store := func(id string) time.Time {
		_, at := storeUnrecorded(t, l, id)
		return at
	}
	// The window is the servers' time: wait for the server's clock, as
	// its entries are stamped, to pass at+d.
	waitPast := func(at time.Time, d time.Duration) {
		t.Helper()
		kv := *l.ids.Load()
		eventually(t, "the server's clock to pass the window's end", func() bool {
			if _, err := kv.Put(t.Context(), "clock", nil); err != nil {
				t.Fatal(err)
			}
			e, err := kv.Get(t.Context(), "clock")
			if err != nil {
				t.Fatal(err)
			}
			return e.Created().After(at.Add(d + 50*time.Millisecond))
		})
	}

	earlyStored := store("early") // clockSlack and more before its claim
	lateClaimed := claim("late")  // its event comes after the window
	waitPast(earlyStored, clockSlack)
	waitPast(lateClaimed, 2*timeout+clockSlack)
	store("late")
	claim("early")
	store("near") // inside: just before its claim
	claim("near")

	for _, id := range []string{"early", "late"} {
		if seq, err := l.Lookup(t.Context(), id); !errors.Is(err, hub.ErrNotFound) {
			t.Errorf("Lookup(%s) = %d, %v; want ErrNotFound: its event is outside the claim's window", id, seq, err)
		}
	}
	if _, err := l.Lookup(t.Context(), "near"); err != nil {
		t.Errorf("Lookup(near) = %v; want the event stored inside the claim's window", err)
	}
}

// TestAFailedRecordKeepsTheClaimOfAStoredEvent: an append whose event was
// stored but whose record of the id failed gives back the claims of its
// events that were not stored, and keeps the others': given back, the id
// would look free, and a retry would store the event again.
func TestAFailedRecordKeepsTheClaimOfAStoredEvent(t *testing.T) {
	srv := testserver.NATS(t)
	l, err := Open(t.Context(), srv.URL(), Options{Stream: "kept"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	kv := *l.ids.Load()
	r := &appendReq{
		events: []*hub.Event{{ID: "stored"}, {ID: "unsent"}},
		seqs:   []uint64{7, 0},
		claims: map[string]uint64{},
	}
	for _, ev := range r.events {
		rev, err := kv.Create(t.Context(), idKey(ev.ID), []byte(pending+"0"))
		if err != nil {
			t.Fatal(err)
		}
		r.claims[idKey(ev.ID)] = rev
	}
	l.release(kv, r)
	if _, err := kv.Get(t.Context(), idKey("stored")); err != nil {
		t.Errorf("the claim of the stored event after release: %v, want it kept", err)
	}
	if _, err := kv.Get(t.Context(), idKey("unsent")); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("the claim of the event not stored after release: %v, want it given back", err)
	}
}

// TestACheckThatCannotReachTheStreamIsAnError: whether the stream holds a
// recorded id's event is asked of the stream; when the stream cannot be
// asked, the answer is an error (a 503 to the client), not "not held",
// which would let an append store the id again or reset a resuming client.
func TestACheckThatCannotReachTheStreamIsAnError(t *testing.T) {
	srv := testserver.NATS(t)
	l, err := Open(t.Context(), srv.URL(), Options{Stream: "unreachable"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append(t.Context(), []*hub.Event{{ID: "a", Topics: []string{"t"}, Data: "a"}}); err != nil {
		t.Fatal(err)
	}
	if held, err := l.holds(t.Context(), 1, "a"); err != nil || !held {
		t.Fatalf("holds(1, a) = %v, %v; want held", held, err)
	}
	if held, err := l.holds(t.Context(), 2, "a"); err != nil || held {
		t.Fatalf("holds(2, a) = %v, %v; want not held (no such event)", held, err)
	}
	srv.Pause()
	defer srv.Resume()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if held, err := l.holds(ctx, 1, "a"); err == nil {
		t.Errorf("holds(1, a) with the server frozen = %v, nil; want an error", held)
	}
}

// untilAnswered calls try until it answers something else than "try
// again" (ErrUnavailable), and returns that answer.
func untilAnswered(t *testing.T, try func() error) error {
	t.Helper()
	var err error
	eventually(t, "an answer other than try again", func() bool {
		err = try()
		return !errors.Is(err, hub.ErrUnavailable)
	})
	return err
}

// TestALapsedClaimIsSettledBesideTheCommitter: the look that settles a
// lapsed claim reads the stream, which can take long; while it runs, the
// append of that id is told to try again and the node's other appends go
// on. Once it is done, the id is free (nothing was stored).
func TestALapsedClaimIsSettledBesideTheCommitter(t *testing.T) {
	srv := testserver.NATS(t)
	l, err := Open(t.Context(), srv.URL(), Options{Stream: "beside", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	claimAt(t, l, "lapsed", time.Now().Add(-time.Hour))
	looking, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	l.hooks.beforeSettle = func() {
		once.Do(func() {
			close(looking)
			<-release
		})
	}
	appendID := func(id string) error {
		return l.Append(t.Context(), []*hub.Event{{ID: id, Topics: []string{"t"}, Data: id}})
	}
	if err := appendID("lapsed"); !errors.Is(err, hub.ErrUnavailable) {
		t.Fatalf("the append of an id whose claim lapsed: %v, want ErrUnavailable while its claim is settled", err)
	}
	<-looking
	if err := appendID("other"); err != nil {
		t.Fatalf("another append while the look runs: %v", err)
	}
	if err := appendID("lapsed"); !errors.Is(err, hub.ErrUnavailable) {
		t.Fatalf("the append of the id while its look runs: %v, want ErrUnavailable", err)
	}
	close(release)
	if err := untilAnswered(t, func() error { return appendID("lapsed") }); err != nil {
		t.Fatalf("the append of the id once its claim was settled: %v", err)
	}
	if info, err := l.Info(t.Context()); err != nil || info.Last != 2 {
		t.Fatalf("Info = %+v, %v; want 2 events (other, lapsed)", info, err)
	}
}

// claimAt makes id's bucket entry a claim made at the given time (the
// claiming node's clock), as an append's is while it publishes, and
// returns the entry (its Created is the server's time of the claim).
func claimAt(t *testing.T, l *Log, id string, at time.Time) jetstream.KeyValueEntry {
	t.Helper()
	kv := *l.ids.Load()
	v := pending + strconv.FormatInt(at.UnixMilli(), 10)
	if _, err := kv.Create(t.Context(), idKey(id), []byte(v)); err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(t.Context(), idKey(id))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// storeUnrecorded stores an event with id in the log's stream, as an
// append does, and records nothing (a node that died between the two),
// and returns its Seq and the time the server stored it.
func storeUnrecorded(t *testing.T, l *Log, id string) (uint64, time.Time) {
	t.Helper()
	b, _ := (&hub.Event{ID: id, Topics: []string{"t"}, Data: id}).MarshalBinary()
	ack, err := l.js.Publish(t.Context(), *l.subject.Load(), b)
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.js.Stream(t.Context(), l.name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(t.Context(), ack.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence, m.Time
}
