package redis

import (
	"context"
	"errors"
	"fmt"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/testserver"
	"github.com/ssehub/ssehub/store/internal/epoch"
)

// sentinelPair is a primary, its replica and a sentinel watching them, and
// a log opened through the sentinel as a node would open it.
type sentinelPair struct {
	primary, replica, sentinel *testserver.Server
	log                        *Log
}

func newSentinelPair(t *testing.T) *sentinelPair {
	t.Helper()
	p := &sentinelPair{primary: testserver.Redis(t, testserver.RedisOptions{AppendFsync: "always"})}
	p.replica = testserver.Replica(t, p.primary, testserver.RedisOptions{AppendFsync: "always"})
	p.sentinel = testserver.Sentinel(t, p.primary, "main")
	testserver.AwaitReplicasKnown(t, p.sentinel, "main", 1)
	target, _, err := ParseURL("redis+sentinel://" + p.sentinel.Addr + "/0?master=main")
	if err != nil {
		t.Fatal(err)
	}
	p.log, err = Open(t.Context(), target, Options{Stream: "failover-" + epoch.New()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.log.Close() })
	return p
}

// appendNumbered appends events from..to, one per Append, each with an id,
// and fails the test on any error.
func appendNumbered(t *testing.T, l *Log, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		ev := &hub.Event{ID: fmt.Sprintf("e%d", i), Topics: []string{"t"}, Data: fmt.Sprint(i)}
		if err := l.Append(t.Context(), []*hub.Event{ev}); err != nil {
			t.Fatalf("Append of event %d: %v", i, err)
		}
	}
}

// awaitReplicated waits until the replica holds the log's first n events.
func (p *sentinelPair) awaitReplicated(t *testing.T, n int64) {
	t.Helper()
	replica := goredis.NewClient(&goredis.Options{Addr: p.replica.Addr})
	defer replica.Close()
	testserver.Await(t, fmt.Sprintf("the replica to hold %d events", n), func(ctx context.Context) bool {
		got, err := replica.XLen(ctx, p.log.keys[0]).Result()
		return err == nil && got == n
	})
}

// killPrimary kills the primary, runs then (when not nil) and waits until
// the sentinel names the replica as the new primary.
func (p *sentinelPair) killPrimary(t *testing.T, then func()) {
	t.Helper()
	p.primary.Kill()
	if then != nil {
		then()
	}
	testserver.AwaitPromoted(t, p.sentinel, "main", p.replica)
}

// appendAfterFailover appends one event, retrying while the log says the
// engine is unavailable (the client finding the new primary), and returns
// the first answer that is not that.
func appendAfterFailover(t *testing.T, l *Log, ev *hub.Event) error {
	t.Helper()
	var err error
	testserver.Await(t, "an append to be answered by the new primary", func(ctx context.Context) bool {
		err = l.Append(ctx, []*hub.Event{ev})
		return !errors.Is(err, hub.ErrUnavailable)
	})
	return err
}

// TestSentinelFailoverKeepsTheLog: the primary dies after its replica
// received every append; the sentinel promotes the replica and the node,
// without a restart, goes on appending in the same epoch after the last
// event, and every acknowledged event is still there, in order.
func TestSentinelFailoverKeepsTheLog(t *testing.T) {
	p := newSentinelPair(t)
	ctx := t.Context()
	before, err := p.log.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	appendNumbered(t, p.log, 1, 20)
	p.awaitReplicated(t, 20)
	p.killPrimary(t, nil)

	ev := &hub.Event{ID: "e21", Topics: []string{"t"}, Data: "21"}
	if err := appendAfterFailover(t, p.log, ev); err != nil {
		t.Fatalf("Append after the failover: %v", err)
	}
	if ev.Seq != 21 {
		t.Fatalf("the first event after the failover got Seq %d, want 21", ev.Seq)
	}
	info, err := p.log.Info(ctx)
	if err != nil || info.Epoch != before.Epoch || info.Last != 21 {
		t.Fatalf("Info after the failover: %+v, %v; want epoch %q, last 21", info, err, before.Epoch)
	}
	got, err := p.log.Read(ctx, 0, 100)
	if err != nil || len(got) != 21 {
		t.Fatalf("Read after the failover: %d events, %v; want 21", len(got), err)
	}
	for i, e := range got {
		if e.Seq != uint64(i+1) || e.Data != fmt.Sprint(i+1) || e.ID != fmt.Sprintf("e%d", i+1) {
			t.Fatalf("event %d after the failover: seq %d id %q data %q", i+1, e.Seq, e.ID, e.Data)
		}
	}
	// The ids survived with the events: one already used is refused.
	dup := &hub.Event{ID: "e5", Topics: []string{"t"}, Data: "again"}
	if err := p.log.Append(ctx, []*hub.Event{dup}); !errors.Is(err, hub.ErrDuplicateID) {
		t.Fatalf("Append of a used id after the failover: %v; want ErrDuplicateID", err)
	}
}

// TestSentinelFailoverToALaggingReplicaStartsANewEpoch: the replica misses
// the last acknowledged appends (Redis replicates after it answers; here
// the replica is cut off while they are made) and is promoted. The node,
// which acknowledged them, must not hand their Seqs to other events: the
// log starts a new epoch, so clients holding the lost ids get ssehub-reset,
// and the node goes on in it without a restart.
func TestSentinelFailoverToALaggingReplicaStartsANewEpoch(t *testing.T) {
	p := newSentinelPair(t)
	ctx := t.Context()
	before, err := p.log.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	appendNumbered(t, p.log, 1, 10)
	p.awaitReplicated(t, 10)
	// The replica is frozen and its link cut before the next appends, so
	// that they reach no socket of it (what a frozen replica's socket had
	// already received it would still read after the thaw). It is frozen
	// for far less than the sentinel's 1 s, so that the sentinel still
	// counts it healthy and promotes it.
	p.replica.Pause()
	primary := goredis.NewClient(&goredis.Options{Addr: p.primary.Addr})
	defer primary.Close()
	if err := primary.Do(ctx, "CLIENT", "KILL", "TYPE", "replica").Err(); err != nil {
		t.Fatalf("cutting the replica's link: %v", err)
	}
	appendNumbered(t, p.log, 11, 15)
	p.killPrimary(t, p.replica.Resume)

	ev := &hub.Event{ID: "after", Topics: []string{"t"}, Data: "after"}
	err = appendAfterFailover(t, p.log, ev)
	if !errors.Is(err, hub.ErrReplaced) {
		t.Fatalf("the first Append after a failover that lost events 11-15: %v (seq %d); want ErrReplaced", err, ev.Seq)
	}
	info, err := p.log.Info(ctx)
	if err != nil || info.Epoch == before.Epoch || info.Last != 0 {
		t.Fatalf("Info after the failover: %+v, %v; want a new, empty epoch (was %q)", info, err, before.Epoch)
	}
	if err := p.log.Append(ctx, []*hub.Event{ev}); err != nil || ev.Seq != 1 {
		t.Fatalf("Append in the new epoch: seq %d, %v; want 1", ev.Seq, err)
	}
	got, err := p.log.Read(ctx, 0, 100)
	if err != nil || len(got) != 1 || got[0].Data != "after" {
		t.Fatalf("Read in the new epoch: %v, %v; want the one event appended in it", got, err)
	}
}
