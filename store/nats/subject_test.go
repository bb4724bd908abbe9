package nats

import (
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/logtest"
	"github.com/ssehub/ssehub/internal/testserver"
)

// TestStreamSubjectCarriesAToken: a stream this version makes listens on
// ssehub.<Stream>.<TOKEN>, and a second handle takes the same subject
// instead of making its own.
func TestStreamSubjectCarriesAToken(t *testing.T) {
	srv := testserver.NATS(t)
	a, err := open(t, srv, "token", logtest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := open(t, srv, "token", logtest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sa, sb := *a.subject.Load(), *b.subject.Load()
	if !strings.HasPrefix(sa, "ssehub.token.") || sa == "ssehub.token." || sb != sa {
		t.Fatalf("subjects %q and %q; want one ssehub.token.TOKEN for both", sa, sb)
	}
	for i, l := range []*Log{a, b} {
		ev := &hub.Event{Topics: []string{"t"}, Data: "x"}
		if err := l.Append(t.Context(), []*hub.Event{ev}); err != nil || ev.Seq != uint64(i+1) {
			t.Fatalf("Append through handle %d: seq %d, %v", i, ev.Seq, err)
		}
	}
}

// TestStreamOfAnOlderVersionStillServes: a stream made before subjects
// carried a token listens on ssehub.<Stream> alone. The log takes it as
// it is, and its appends are checked with a look at the stream: one made
// again under it is noticed.
func TestStreamOfAnOlderVersionStillServes(t *testing.T) {
	srv := testserver.NATS(t)
	l, err := open(t, srv, "older", logtest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	legacy := l.streamConfig("ssehub.older")
	remake := func() {
		t.Helper()
		if err := l.JetStream().DeleteStream(t.Context(), l.name); err != nil {
			t.Fatal(err)
		}
		if _, err := l.JetStream().CreateStream(t.Context(), legacy); err != nil {
			t.Fatal(err)
		}
	}
	remake()
	info, err := l.Info(t.Context())
	if err != nil || *l.subject.Load() != "ssehub.older" {
		t.Fatalf("Info of the older stream: %+v, %v, subject %q", info, err, *l.subject.Load())
	}
	ev := &hub.Event{Topics: []string{"t"}, Data: "x"}
	if err := l.Append(t.Context(), []*hub.Event{ev}); err != nil || ev.Seq != 1 {
		t.Fatalf("Append to the older stream: seq %d, %v", ev.Seq, err)
	}
	remake() // the same subject, another epoch
	made, err := l.JetStream().Stream(t.Context(), l.name)
	if err != nil {
		t.Fatal(err)
	}
	err = l.Append(t.Context(), []*hub.Event{{Topics: []string{"t"}, Data: "y"}})
	if !errors.Is(err, hub.ErrReplaced) {
		t.Fatalf("Append after the older stream was made again: %v; want ErrReplaced", err)
	}
	// Told by its epoch, not taken for a stream that lost its tail (which
	// the log would delete): the new stream is left as it was made.
	after, err := l.JetStream().Stream(t.Context(), l.name)
	if err != nil || !after.CachedInfo().Created.Equal(made.CachedInfo().Created) {
		t.Fatalf("the stream made again: %v; want it left in place", err)
	}
}

// TestAStreamOfAnotherSubjectIsRefused: a stream of the log's name that
// listens on something else is not this log's, and Open says so.
func TestAStreamOfAnotherSubjectIsRefused(t *testing.T) {
	srv := testserver.NATS(t)
	l, err := open(t, srv, "other", logtest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	name := l.name
	js := l.JetStream()
	if err := js.DeleteStream(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: name, Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if l, err := open(t, srv, "other", logtest.Config{}); err == nil || !strings.Contains(err.Error(), "not a stream of this log") {
		if l != nil {
			l.Close()
		}
		t.Fatalf("Open on a stream listening on orders.>: %v; want it refused", err)
	}
}

// TestALaterNodeSetsTheStreamsLimits: the first node makes the stream with
// its retention; one opened later with other limits updates them (and one
// with the same limits leaves the stream as it is).
func TestALaterNodeSetsTheStreamsLimits(t *testing.T) {
	srv := testserver.NATS(t)
	first, err := open(t, srv, "limits", logtest.Config{Retention: hub.Retention{MaxEvents: 10}})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	later, err := open(t, srv, "limits", logtest.Config{Retention: hub.Retention{MaxEvents: 5, MaxBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	defer later.Close()
	s, err := first.JetStream().Stream(t.Context(), first.name)
	if err != nil {
		t.Fatal(err)
	}
	if cfg := s.CachedInfo().Config; cfg.MaxMsgs != 5 || cfg.MaxBytes != 1<<20 || cfg.Subjects[0] != *first.subject.Load() {
		t.Fatalf("the stream after the later node: max %d events, %d bytes, subjects %q; want 5, 1 MiB, %q",
			cfg.MaxMsgs, cfg.MaxBytes, cfg.Subjects, *first.subject.Load())
	}
}

// TestAnAppendWhoseStreamWasReplacedMeanwhileIsRefused: the stream is
// deleted and the log moves to a new one (a new epoch, another subject)
// between the acknowledgements of an append and their check. The events
// went to the stream the log left, so the append is refused, not answered
// with that stream's sequences.
func TestAnAppendWhoseStreamWasReplacedMeanwhileIsRefused(t *testing.T) {
	srv := testserver.NATS(t)
	l, err := open(t, srv, "moved", logtest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendN(t, l, 1)
	before := *l.subject.Load()
	l.hooks.afterPublish = func() {
		if err := l.JetStream().DeleteStream(t.Context(), l.name); err != nil {
			t.Error(err)
		}
		if _, err := l.Info(t.Context()); err != nil {
			t.Error(err)
		}
	}
	err = l.Append(t.Context(), []*hub.Event{{Topics: []string{"t"}, Data: "to the old stream"}})
	l.hooks.afterPublish = nil
	if !errors.Is(err, hub.ErrReplaced) {
		t.Fatalf("an append acknowledged by a stream the log left meanwhile: %v, want ErrReplaced", err)
	}
	if after := *l.subject.Load(); after == before {
		t.Fatalf("the log still publishes on %s after the stream was made again", after)
	}
	ev := &hub.Event{Topics: []string{"t"}, Data: "to the new stream"}
	if err := l.Append(t.Context(), []*hub.Event{ev}); err != nil || ev.Seq != 1 {
		t.Fatalf("the next append: Seq %d, %v; want 1 in the new stream", ev.Seq, err)
	}
}
