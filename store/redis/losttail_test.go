package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/logtest"
	"github.com/ssehub/ssehub/internal/testserver"
	"github.com/ssehub/ssehub/store/internal/epoch"
)

// loseTail does to the log what a failover to a replica that lacked the
// newest appends leaves behind, or a restart whose AOF missed them
// (appendfsync everysec, a power cut): the events after keep are gone and
// the log's end is keep again, while the epoch, written long before, stays.
func loseTail(t *testing.T, l *Log, keep uint64) {
	t.Helper()
	ctx, rdb := t.Context(), l.Client()
	tag := "{" + l.Stream() + "}"
	// The stream is written again with what is kept, as a replica holds
	// it: XDEL would leave the stream's top id at the lost events.
	kept, err := rdb.XRange(ctx, tag+":events", "-", entryID(keep)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.Del(ctx, tag+":events").Err(); err != nil {
		t.Fatal(err)
	}
	for _, m := range kept {
		if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: tag + ":events", ID: m.ID, Values: []any{"m", m.Values["m"], "e", m.Values["e"]}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.HSet(ctx, tag+":meta", "last", fmt.Sprint(keep)).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestALostTailStartsANewEpoch: a node that has seen events the log then
// lost must not go on in that epoch, on any of its paths, or the lost
// events' Seqs would be handed out again to other events, and a client
// holding one of their ids would resume at the wrong place without being
// told. The log gets a new epoch instead, so such a client gets
// ssehub-reset, and the log works on in it.
func TestALostTailStartsANewEpoch(t *testing.T) {
	srv := testserver.Redis(t, testserver.RedisOptions{AppendFsync: "always"})
	for _, path := range []string{"read", "tail", "append", "another node's append"} {
		t.Run(path, func(t *testing.T) {
			ctx := t.Context()
			l, err := open(t, srv, "lost-"+epoch.New(), logtest.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			before, err := l.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			events := make([]*hub.Event, 10)
			for i := range events {
				events[i] = &hub.Event{Topics: []string{"t"}, Data: fmt.Sprint(i)}
			}
			if err := l.Append(ctx, events); err != nil {
				t.Fatal(err)
			}
			loseTail(t, l, 8)
			switch path {
			case "read":
				_, err = l.Read(ctx, 0, 100)
			case "tail":
				// Bounded: a tail that goes on in the old epoch waits
				// for event 9 forever.
				tctx, stop := context.WithTimeout(ctx, 10*time.Second)
				_, err = l.ReadWait(tctx, 8, 100)
				stop()
			case "append":
				err = l.Append(ctx, []*hub.Event{{Topics: []string{"t"}, Data: "after"}})
			case "another node's append":
				// A node that saw nothing of the lost events cannot
				// tell; one that did renews the epoch at its next call,
				// and the other is then refused as for any new epoch.
				other, oerr := open(t, srv, l.Stream(), logtest.Config{})
				if oerr != nil {
					t.Fatal(oerr)
				}
				defer other.Close()
				if err := other.Append(ctx, []*hub.Event{{Topics: []string{"t"}, Data: "unaware"}}); err != nil {
					t.Fatalf("the node that saw nothing lost: %v", err)
				}
				_, err = l.Read(ctx, 0, 100)
				if !errors.Is(err, hub.ErrReplaced) {
					t.Fatalf("the node that saw events 9 and 10, after the other appended event 9 again: %v; want ErrReplaced", err)
				}
				err = other.Append(ctx, []*hub.Event{{Topics: []string{"t"}, Data: "refused"}})
			}
			if !errors.Is(err, hub.ErrReplaced) {
				t.Fatalf("%s after the log lost events 9 and 10: %v; want an error wrapping ErrReplaced", path, err)
			}
			after, err := l.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if after.Epoch == before.Epoch || after.Last != 0 || after.Events != 0 {
				t.Fatalf("Info after the loss: %+v; want a new, empty epoch (was %q)", after, before.Epoch)
			}
			ev := &hub.Event{Topics: []string{"t"}, Data: "new epoch"}
			if err := l.Append(ctx, []*hub.Event{ev}); err != nil || ev.Seq != 1 {
				t.Fatalf("Append in the new epoch: seq %d, %v; want seq 1", ev.Seq, err)
			}
			got, err := l.Read(ctx, 0, 10)
			if err != nil || len(got) != 1 || got[0].Data != "new epoch" {
				t.Fatalf("Read in the new epoch: %v, %v", got, err)
			}
		})
	}
}

// TestALostTailRefilledToItsEndStartsANewEpoch: after a failover to a
// replica that lacked the newest appends, a node that never saw them may
// append first, as many events as were lost: the log ends where it did,
// with other events under the same Seqs. The node that saw the lost ones
// must still notice, on each of its paths, or two nodes would serve two
// different events under one id.
func TestALostTailRefilledToItsEndStartsANewEpoch(t *testing.T) {
	srv := testserver.Redis(t, testserver.RedisOptions{})
	for _, path := range []string{"append", "read", "tail"} {
		t.Run(path, func(t *testing.T) {
			ctx := t.Context()
			l := openLog(t, srv, "refilled-"+epoch.New(), logtest.Config{})
			appendData(t, l, "old", 1, 10)
			before, err := l.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			loseTail(t, l, 8)
			other := openLog(t, srv, l.Stream(), logtest.Config{})
			appendData(t, other, "new", 9, 10)
			switch path {
			case "append":
				err = l.Append(ctx, []*hub.Event{{Topics: []string{"t"}, Data: "after"}})
			case "read":
				_, err = l.Read(ctx, 5, 100)
			case "tail":
				tctx, stop := context.WithTimeout(ctx, 10*time.Second)
				_, err = l.ReadWait(tctx, 10, 100)
				stop()
			}
			if !errors.Is(err, hub.ErrReplaced) {
				t.Fatalf("%s after events 9 and 10 were lost and appended again by another node: %v; want ErrReplaced", path, err)
			}
			after, err := l.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if after.Epoch == before.Epoch {
				t.Fatalf("the log kept epoch %q", after.Epoch)
			}
			if err := other.Append(ctx, []*hub.Event{{Topics: []string{"t"}, Data: "refused"}}); !errors.Is(err, hub.ErrReplaced) {
				t.Fatalf("the other node appending in the old epoch: %v; want ErrReplaced", err)
			}
		})
	}
}

// TestSharedLogsSeeNoLossWhileBusy: the check for a lost tail compares the
// log's end with what a node saw before each call, so two nodes appending,
// reading and tailing at once never take each other's progress for a loss.
func TestSharedLogsSeeNoLossWhileBusy(t *testing.T) {
	srv := testserver.Redis(t, testserver.RedisOptions{AppendFsync: "always"})
	stream := "busy-" + epoch.New()
	var logs [2]logtest.SharedLog
	for i := range logs {
		l, err := open(t, srv, stream, logtest.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		logs[i] = l
	}
	logtest.BusyTogether(t, logs[:]...)
}

// TestATailWaitingAcrossANewEpochIsRefused: a node's tail waits in XREAD
// while another node starts the log over in a new epoch (the stream
// dropped, as a lost tail or a flush does) and appends past the tail's
// position. What wakes the tail is the new epoch's; it answers ErrReplaced,
// not those events under the old epoch's ids.
func TestATailWaitingAcrossANewEpochIsRefused(t *testing.T) {
	srv := testserver.Redis(t, testserver.RedisOptions{})
	stream := "across-" + epoch.New()
	target, _, err := ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	a, err := Open(t.Context(), target, Options{Stream: stream, Block: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b := openLog(t, srv, stream, logtest.Config{})
	appendData(t, a, "old", 1, 5)
	done := make(chan error, 1)
	go func() {
		evs, err := a.ReadWait(t.Context(), 5, 10)
		if err == nil {
			err = fmt.Errorf("%d events, the first %d %q", len(evs), evs[0].Seq, evs[0].Data)
		}
		done <- err
	}()
	untilBlocked(t, b)
	// What startEpoch does (a lost tail found by another node, say).
	tag := "{" + stream + "}"
	if err := b.Client().Del(t.Context(), tag+":events", tag+":ids").Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.Client().HSet(t.Context(), tag+":meta", "epoch", epoch.New(), "last", "0", "bytes", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Info(t.Context()); err != nil {
		t.Fatal(err)
	}
	appendData(t, b, "new", 1, 6)
	if err := <-done; !errors.Is(err, hub.ErrReplaced) {
		t.Fatalf("the tail waiting across a new epoch: %v, want ErrReplaced", err)
	}
}

// TestAnEventFromBefore1970KeepsTheLogWhole: the script reads each event's
// time back as digits to trim by age; a negative one made it fail after
// its XADDs, leaving the event stored, the log's end unrecorded and every
// later append refused.
func TestAnEventFromBefore1970KeepsTheLogWhole(t *testing.T) {
	srv := testserver.Redis(t, testserver.RedisOptions{})
	l := openLog(t, srv, "old-"+epoch.New(), logtest.Config{Retention: hub.Retention{MaxEvents: 1, MaxAge: time.Hour}})
	for i, ev := range []*hub.Event{
		{Topics: []string{"t"}, Data: "1969", Time: time.Unix(-5, 0)},
		{Topics: []string{"t"}, Data: "now"},
		{Topics: []string{"t"}, Data: "later"},
	} {
		if err := l.Append(t.Context(), []*hub.Event{ev}); err != nil {
			t.Fatalf("append %d (%s): %v", i+1, ev.Data, err)
		}
	}
	if info, err := l.Info(t.Context()); err != nil || info.Last != 3 || info.Events != 1 {
		t.Fatalf("Info = %+v, %v; want the last of 3 events kept", info, err)
	}
}

// TestAReadWhoseContextEndsAnswersItsError: a tail read whose ctx ends
// while it waits in Redis answers ctx's error, as hub.Tailer says, not
// that the engine is unreachable (go-redis reports the ctx's deadline as
// its socket's).
func TestAReadWhoseContextEndsAnswersItsError(t *testing.T) {
	srv := testserver.Redis(t, testserver.RedisOptions{})
	l := openLog(t, srv, "ctx-"+epoch.New(), logtest.Config{})
	appendData(t, l, "x", 1, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := l.ReadWait(ctx, 1, 10)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, hub.ErrUnavailable) {
		t.Fatalf("ReadWait with a ctx that ended: %v, want context.DeadlineExceeded", err)
	}
}

// TestATailWaitingWhileTheLogIsWipedIsRefused: the engine loses its data
// (a flush, a restart without persistence) while the tail waits in XREAD;
// the tail answers ErrReplaced rather than failing on the missing meta.
func TestATailWaitingWhileTheLogIsWipedIsRefused(t *testing.T) {
	srv := testserver.Redis(t, testserver.RedisOptions{})
	target, _, err := ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(t.Context(), target, Options{Stream: "wiped-" + epoch.New(), Block: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendData(t, l, "old", 1, 2)
	done := make(chan error, 1)
	go func() {
		_, err := l.ReadWait(t.Context(), 2, 10)
		done <- err
	}()
	untilBlocked(t, l)
	if err := l.Client().FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, hub.ErrReplaced) {
			t.Fatalf("the tail waiting while the log was wiped: %v, want ErrReplaced", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the tail waiting while the log was wiped had not returned after 30s")
	}
}

// untilBlocked waits until a client of l's Redis waits in a blocking
// command (the tail's XREAD).
func untilBlocked(t *testing.T, l *Log) {
	t.Helper()
	eventually(t, "the tail to wait in XREAD", func() bool {
		info, err := l.Client().Info(t.Context(), "clients").Result()
		return err == nil && !strings.Contains(info, "blocked_clients:0")
	})
}
