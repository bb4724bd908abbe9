package nats

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/logtest"
	"github.com/ssehub/ssehub/internal/testserver"
)

// loseTail does to the server what a crash of its machine does to
// messages it had acknowledged but not yet written back (nats-server
// acknowledges once a message is in the operating system's cache): kept
// runs, the server is killed and its storage copied, lost runs on the
// server started again, then the server is killed once more, its storage
// put back as the copy has it, and started.
func loseTail(t *testing.T, srv *testserver.Server, kept, lost func()) {
	t.Helper()
	kept()
	srv.Kill()
	snap := t.TempDir()
	js := filepath.Join(srv.Dir, "jetstream")
	if out, err := exec.Command("cp", "-a", js, snap).CombinedOutput(); err != nil {
		t.Fatalf("copying the server's storage: %v\n%s", err, out)
	}
	srv.Start()
	lost()
	srv.Kill()
	if err := os.RemoveAll(js); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", filepath.Join(snap, "jetstream"), srv.Dir).CombinedOutput(); err != nil {
		t.Fatalf("putting the storage back: %v\n%s", err, out)
	}
	srv.Start()
}

// appendNumbered appends events from..to, one per Append, waiting out the
// client's reconnection to a restarted server (bounded).
func appendNumbered(t *testing.T, l *Log, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		ev := &hub.Event{Topics: []string{"t"}, Data: fmt.Sprint(i)}
		if err := untilAvailable(t, func(ctx context.Context) error { return l.Append(ctx, []*hub.Event{ev}) }); err != nil {
			t.Fatalf("Append of event %d: %v", i, err)
		}
		if ev.Seq != uint64(i) {
			t.Fatalf("event %d got Seq %d", i, ev.Seq)
		}
	}
}

// untilAvailable calls f until it answers anything but ErrUnavailable
// (the client reconnecting), within 20 s, and returns that answer.
func untilAvailable(t *testing.T, f func(ctx context.Context) error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f(ctx)
		if !errors.Is(err, hub.ErrUnavailable) {
			return err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("still unavailable after 20s: %v", err)
		case <-tick.C:
		}
	}
}

// TestALostTailStartsANewEpoch: a handle that saw events the stream then
// lost must not go on in that epoch on any of its paths, or the lost
// events' Seqs would go to other events and a client holding one of their
// ids would resume at the wrong place without being told. The stream is
// made again under a new epoch instead (clients get ssehub-reset), and the
// log works on in it.
func TestALostTailStartsANewEpoch(t *testing.T) {
	for _, path := range []string{"append", "append of more than was lost", "read", "read through a cursor", "tail", "info", "another node's append"} {
		t.Run(path, func(t *testing.T) {
			srv := testserver.NATS(t)
			ctx := t.Context()
			l, err := open(t, srv, "lost", logtest.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			before, err := l.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if path == "read through a cursor" {
				// Events 9 and 10 come from another handle and reach l only
				// through the cursor of a read that began before them: no
				// look at the stream's extent told l of them.
				var other *Log
				loseTail(t, srv, func() { appendNumbered(t, l, 1, 8) }, func() {
					if got, err := untilRead(t, l, 0, 1); err != nil {
						t.Fatalf("Read(0, 1): %v, %v", got, err)
					}
					if other, err = open(t, srv, l.Stream(), logtest.Config{}); err != nil {
						t.Fatal(err)
					}
					defer other.Close()
					appendNumbered(t, other, 9, 10)
					got, err := untilRead(t, l, 1, 7)
					if err != nil || got[len(got)-1].Seq != 8 {
						t.Fatalf("Read(1): %v, %v; want events 2 to 8", got, err)
					}
					if got, err = untilRead(t, l, 8, 2); err != nil || got[len(got)-1].Seq != 10 {
						t.Fatalf("Read(8): %v, %v; want events 9 and 10", got, err)
					}
				})
			} else {
				loseTail(t, srv, func() { appendNumbered(t, l, 1, 8) }, func() { appendNumbered(t, l, 9, 10) })
			}
			switch path {
			case "append":
				err = untilAvailable(t, func(ctx context.Context) error {
					return l.Append(ctx, []*hub.Event{{Topics: []string{"t"}, Data: "after"}})
				})
			case "append of more than was lost":
				// The stream ends past what the handle saw once this
				// append is stored: only the Seqs it was given tell.
				err = untilAvailable(t, func(ctx context.Context) error {
					return l.Append(ctx, []*hub.Event{{Topics: []string{"t"}, Data: "a"}, {Topics: []string{"t"}, Data: "b"}, {Topics: []string{"t"}, Data: "c"}})
				})
			case "read":
				err = untilAvailable(t, func(ctx context.Context) error { _, err := l.Read(ctx, 0, 100); return err })
			case "read through a cursor":
				err = untilAvailable(t, func(ctx context.Context) error { _, err := l.Read(ctx, 10, 100); return err })
			case "tail":
				// Bounded: a tail that goes on in the old epoch waits for
				// event 11 while other events take Seqs 9 and 10.
				err = untilAvailable(t, func(ctx context.Context) error {
					tctx, stop := context.WithTimeout(ctx, 10*time.Second)
					defer stop()
					_, err := l.ReadWait(tctx, 10, 100)
					return err
				})
			case "info":
				err = untilAvailable(t, func(ctx context.Context) error { _, err := l.Info(ctx); return err })
			case "another node's append":
				// A handle that saw nothing of the lost events cannot
				// tell; the one that did notices at its next call.
				other, oerr := open(t, srv, l.Stream(), logtest.Config{})
				if oerr != nil {
					t.Fatal(oerr)
				}
				defer other.Close()
				ev := &hub.Event{Topics: []string{"t"}, Data: "unaware"}
				if err := other.Append(ctx, []*hub.Event{ev}); err != nil || ev.Seq != 9 {
					t.Fatalf("the handle that saw nothing lost: seq %d, %v; want 9", ev.Seq, err)
				}
				err = untilAvailable(t, func(ctx context.Context) error { _, err := l.Read(ctx, 0, 100); return err })
				if errors.Is(err, hub.ErrReplaced) {
					err = other.Append(ctx, []*hub.Event{{Topics: []string{"t"}, Data: "refused"}})
				}
			}
			if !errors.Is(err, hub.ErrReplaced) {
				t.Fatalf("%s after the stream lost events 9 and 10: %v; want an error wrapping ErrReplaced", path, err)
			}
			after, err := l.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if after.Epoch == before.Epoch || after.Events != 0 {
				t.Fatalf("Info after the loss: %+v; want a new, empty epoch (was %q)", after, before.Epoch)
			}
			ev := &hub.Event{Topics: []string{"t"}, Data: "new epoch"}
			if err := l.Append(ctx, []*hub.Event{ev}); err != nil {
				t.Fatalf("Append in the new epoch: %v", err)
			}
			got, err := l.Read(ctx, ev.Seq-1, 10)
			if err != nil || len(got) != 1 || got[0].Data != "new epoch" {
				t.Fatalf("Read in the new epoch: %v, %v", got, err)
			}
		})
	}
}

// untilRead reads after `after` until n events came (the client
// reconnecting to a restarted server first), and returns them.
func untilRead(t *testing.T, l *Log, after uint64, n int) ([]*hub.Event, error) {
	t.Helper()
	var got []*hub.Event
	err := untilAvailable(t, func(ctx context.Context) error {
		evs, err := l.Read(ctx, after, n)
		got = evs
		return err
	})
	if err == nil && len(got) != n {
		return got, fmt.Errorf("%d events, want %d", len(got), n)
	}
	return got, err
}

// TestALostTailRefilledToItsEndStartsANewEpoch: after the server's machine
// lost the stream's last two messages, a node that never saw them (one
// started since, or one whose tail had not read them yet) may append
// first, as many events as were lost or more: the stream ends where it
// did, or past it, with other events under the same sequences. The node
// that saw the lost ones must still notice, on each of its paths, or two
// nodes would serve two different events under one id, and its tail would
// never deliver the other node's events.
func TestALostTailRefilledToItsEndStartsANewEpoch(t *testing.T) {
	for _, path := range []string{"append", "append after a refill past the end", "append, having only read the lost events", "read", "tail", "info"} {
		t.Run(path, func(t *testing.T) {
			srv := testserver.NATS(t)
			ctx := t.Context()
			l, err := open(t, srv, "refilled", logtest.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			before, err := l.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			lost := func() { appendNumbered(t, l, 9, 10) }
			if path == "append, having only read the lost events" {
				lost = func() {
					writer, err := open(t, srv, l.Stream(), logtest.Config{})
					if err != nil {
						t.Fatal(err)
					}
					defer writer.Close()
					appendNumbered(t, writer, 9, 10)
					if got, err := untilRead(t, l, 8, 2); err != nil || got[1].Seq != 10 {
						t.Fatalf("Read(8, 2): %v, %v; want events 9 and 10", got, err)
					}
				}
			}
			loseTail(t, srv, func() { appendNumbered(t, l, 1, 8) }, lost)
			other, err := open(t, srv, l.Stream(), logtest.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			refill := 2
			if path == "append after a refill past the end" {
				refill = 4
			}
			for i := range refill {
				ev := &hub.Event{Topics: []string{"t"}, Data: fmt.Sprint("refill ", i)}
				if err := other.Append(ctx, []*hub.Event{ev}); err != nil || ev.Seq != uint64(9+i) {
					t.Fatalf("the node that saw nothing lost appending: seq %d, %v; want %d", ev.Seq, err, 9+i)
				}
			}
			switch path {
			case "append", "append after a refill past the end", "append, having only read the lost events":
				err = untilAvailable(t, func(ctx context.Context) error {
					return l.Append(ctx, []*hub.Event{{Topics: []string{"t"}, Data: "after"}})
				})
			case "read":
				err = untilAvailable(t, func(ctx context.Context) error { _, err := l.Read(ctx, 5, 100); return err })
			case "tail":
				// Bounded: a tail that goes on in the old epoch waits for
				// event 11 and never delivers the other node's 9 and 10.
				err = untilAvailable(t, func(ctx context.Context) error {
					tctx, stop := context.WithTimeout(ctx, 10*time.Second)
					defer stop()
					_, err := l.ReadWait(tctx, 10, 100)
					return err
				})
			case "info":
				err = untilAvailable(t, func(ctx context.Context) error { _, err := l.Info(ctx); return err })
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

// TestSharedLogsSeeNoLossWhileBusy: the checks for a lost tail compare the
// stream with what a node saw before each call (its end, and the message
// under the newest sequence seen), so two nodes appending, reading and
// tailing at once never take each other's progress for a loss.
func TestSharedLogsSeeNoLossWhileBusy(t *testing.T) {
	srv := testserver.NATS(t)
	var logs [2]logtest.SharedLog
	for i := range logs {
		l, err := open(t, srv, "busy", logtest.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		logs[i] = l
	}
	logtest.BusyTogether(t, logs[:]...)
}
