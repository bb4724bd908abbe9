package nats

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/logtest"
	"github.com/ssehub/ssehub/internal/testserver"
	"github.com/ssehub/ssehub/store/internal/epoch"
)

func open(t testing.TB, srv *testserver.Server, stream string, cfg logtest.Config) (*Log, error) {
	return Open(context.Background(), srv.URL(), Options{Stream: stream, Retention: cfg.Retention, Now: cfg.Now})
}

func TestConformance(t *testing.T) {
	srv := testserver.NATS(t)
	logtest.Run(t, logtest.Factory{
		Open: func(t *testing.T, cfg logtest.Config) (hub.Log, error) {
			return open(t, srv, "test"+epoch.New(), cfg)
		},
		Reopen: func(t *testing.T, closed hub.Log, cfg logtest.Config) (hub.Log, error) {
			return open(t, srv, closed.(*Log).Stream(), cfg)
		},
		Share: func(t *testing.T, l hub.Log, cfg logtest.Config) (hub.Log, error) {
			return open(t, srv, l.(*Log).Stream(), cfg)
		},
		Wipe: func(t *testing.T, l hub.Log) {
			nl := l.(*Log)
			if err := nl.JetStream().DeleteStream(t.Context(), nl.name); err != nil {
				t.Fatalf("deleting the stream: %v", err)
			}
			if err := nl.JetStream().DeleteKeyValue(t.Context(), nl.bucket); err != nil {
				t.Fatalf("deleting the ids bucket: %v", err)
			}
		},
		RetentionByEngineClock: true,
		CrashMayCutBatches:     true,
		BatchesMayInterleave:   true,
	})
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url, server, stream string
		ok                  bool
	}{
		{"nats://127.0.0.1:4222?stream=news", "nats://127.0.0.1:4222", "news", true},
		{"nats://u:secret@h:4222", "nats://u:secret@h:4222", "", true},
		{"nats://h:4222?stream=a.b", "", "", false},
		{"nats://h:4222?bogus=1", "", "", false},
		{"redis://h:1", "", "", false},
	} {
		server, stream, err := ParseURL(tc.url)
		if (err == nil) != tc.ok || err == nil && (server != tc.server || stream != tc.stream) {
			t.Errorf("ParseURL(%q) = %q, %q, %v", tc.url, server, stream, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseURL's error shows the password: %v", err)
		}
	}
}

// TestRetentionByAgeFollowsTheServerClock: JetStream trims by its own
// clock, so this one waits (bounded) for real time to pass.
func TestRetentionByAgeFollowsTheServerClock(t *testing.T) {
	srv := testserver.NATS(t)
	l, err := Open(t.Context(), srv.URL(), Options{Stream: "age", Retention: hub.Retention{MaxAge: 500 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append(t.Context(), []*hub.Event{{Topics: []string{"t"}, Data: "old"}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		info, err := l.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if info.Events == 0 && info.First == 2 && info.Last == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the event older than MaxAge is still held after 10s: %+v", info)
		}
		<-tick.C
	}
	if _, err := l.Read(t.Context(), 0, 10); !errors.Is(err, hub.ErrTrimmed) {
		t.Errorf("Read(0) after the event aged out: %v, want ErrTrimmed", err)
	}
}

func TestOpenFailsFastWithoutNATS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = Open(t.Context(), "nats://"+addr, Options{Timeout: time.Second})
	if !errors.Is(err, hub.ErrUnavailable) {
		t.Fatalf("Open without NATS: %v; want an error wrapping ErrUnavailable", err)
	}
}

// appendN appends n events without ids.
func appendN(t *testing.T, l *Log, n int) {
	t.Helper()
	batch := make([]*hub.Event, n)
	for i := range batch {
		batch[i] = &hub.Event{Topics: []string{"t"}, Data: "e"}
	}
	if err := l.Append(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
}

// TestReadGoesOnWhenTheServerDroppedItsConsumer: a reader's cursor keeps
// a consumer on the server between pages; when the server no longer has
// it (dropped by an operator, lapsed), the next page still arrives whole.
func TestReadGoesOnWhenTheServerDroppedItsConsumer(t *testing.T) {
	srv := testserver.NATS(t)
	l, err := Open(t.Context(), srv.URL(), Options{Stream: "dropped"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendN(t, l, 20)
	page, err := l.Read(t.Context(), 0, 10)
	if err != nil || len(page) != 10 {
		t.Fatalf("first page: %d events, %v", len(page), err)
	}
	s, err := l.JetStream().Stream(t.Context(), l.name)
	if err != nil {
		t.Fatal(err)
	}
	names := s.ConsumerNames(t.Context())
	n := 0
	for name := range names.Name() {
		if err := s.DeleteConsumer(t.Context(), name); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n == 0 {
		t.Fatal("the reader keeps no consumer between pages")
	}
	page, err = l.Read(t.Context(), 10, 10)
	if err != nil || len(page) != 10 || page[0].Seq != 11 || page[9].Seq != 20 {
		t.Fatalf("the page after the consumer was dropped: %d events, %v", len(page), err)
	}
}

// TestReadBetweenPagesSeesTrimming: retention that removes the events a
// reader's cursor was about to read is reported as ErrTrimmed, not skipped.
func TestReadBetweenPagesSeesTrimming(t *testing.T) {
	srv := testserver.NATS(t)
	l, err := Open(t.Context(), srv.URL(), Options{Stream: "trim", Retention: hub.Retention{MaxEvents: 30}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendN(t, l, 30)
	if page, err := l.Read(t.Context(), 0, 10); err != nil || len(page) != 10 {
		t.Fatalf("first page: %d events, %v", len(page), err)
	}
	appendN(t, l, 15) // the stream keeps 16..45 now
	_, err = l.Read(t.Context(), 10, 10)
	if !errors.Is(err, hub.ErrTrimmed) {
		t.Fatalf("Read(10) after 11..15 were trimmed: %v, want ErrTrimmed", err)
	}
}

// TestReadBetweenPagesSeesANewStream: a stream replaced between two pages
// of one reader is reported as ErrReplaced, never read as the old one.
func TestReadBetweenPagesSeesANewStream(t *testing.T) {
	srv := testserver.NATS(t)
	l, err := Open(t.Context(), srv.URL(), Options{Stream: "replaced"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendN(t, l, 30)
	if page, err := l.Read(t.Context(), 0, 10); err != nil || len(page) != 10 {
		t.Fatalf("first page: %d events, %v", len(page), err)
	}
	remakeStream(t, srv.URL(), l, 30)
	_, err = l.Read(t.Context(), 10, 10)
	if !errors.Is(err, hub.ErrReplaced) {
		t.Fatalf("Read(10) after the stream was made again: %v, want ErrReplaced", err)
	}
}

// TestNodesCountEveryHandlesReports: two handles (two nodes) report their
// subscribers; each sees both, and a report lapses after its ttl.
func TestNodesCountEveryHandlesReports(t *testing.T) {
	srv := testserver.NATS(t)
	a, err := Open(t.Context(), srv.URL(), Options{Stream: "nodes"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(t.Context(), srv.URL(), Options{Stream: "nodes"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got, err := a.Nodes(t.Context()); err != nil || len(got) != 0 {
		t.Fatalf("Nodes before any report = %v, %v; want none", got, err)
	}
	if err := a.ReportNode(t.Context(), "web-1:8080", 2, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.ReportNode(t.Context(), "web-2:8080", 1, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := a.ReportNode(t.Context(), "web-1:8080", 3, time.Minute); err != nil { // a later report replaces
		t.Fatal(err)
	}
	got, err := b.Nodes(t.Context())
	if err != nil || len(got) != 2 || got["web-1:8080"] != 3 || got["web-2:8080"] != 1 {
		t.Fatalf("Nodes = %v, %v; want web-1:8080 3 and web-2:8080 1", got, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		got, err := a.Nodes(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 && got["web-1:8080"] == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the report with a ttl of 300ms is still counted after 10s: %v", got)
		}
		<-tick.C
	}
}

// TestGroupedAppendsAnswerEachOnItsOwn: appends committed together share
// round trips but not results: a batch with an id already held fails alone.
func TestGroupedAppendsAnswerEachOnItsOwn(t *testing.T) {
	srv := testserver.NATS(t)
	l, err := Open(t.Context(), srv.URL(), Options{Stream: "group"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append(t.Context(), []*hub.Event{{ID: "held", Topics: []string{"t"}, Data: "first"}}); err != nil {
		t.Fatal(err)
	}
	const n = 40
	errs := make([]error, n)
	batches := make([][]*hub.Event, n)
	var wg sync.WaitGroup
	for i := range n {
		id := fmt.Sprintf("id-%d", i)
		if i == n/2 {
			id = "held"
		}
		batches[i] = []*hub.Event{{ID: id, Topics: []string{"t"}, Data: "a"}, {Topics: []string{"t"}, Data: "b"}}
		wg.Go(func() { errs[i] = l.Append(t.Context(), batches[i]) })
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case i == n/2 && !errors.Is(err, hub.ErrDuplicateID):
			t.Errorf("the batch reusing a held id: %v, want ErrDuplicateID", err)
		case i != n/2 && err != nil:
			t.Errorf("batch %d: %v", i, err)
		case i != n/2 && batches[i][1].Seq != batches[i][0].Seq+1:
			t.Errorf("batch %d got Seqs %d and %d", i, batches[i][0].Seq, batches[i][1].Seq)
		}
	}
	info, err := l.Info(t.Context())
	if err != nil || info.Last != 1+2*(n-1) {
		t.Fatalf("Info = %+v, %v; want %d events", info, err, 1+2*(n-1))
	}
	for i := range n {
		if i == n/2 {
			continue
		}
		if seq, err := l.Lookup(t.Context(), fmt.Sprintf("id-%d", i)); err != nil || seq != batches[i][0].Seq {
			t.Errorf("Lookup(id-%d) = %d, %v; want %d", i, seq, err, batches[i][0].Seq)
		}
	}
}

// TestACursorMadeOnANewStreamRefusesItsMessages: the stream is deleted and
// made again (by another node) after this log looked at it and before its
// cursor's consumer is made; the consumer, made by the stream's name, is
// the new stream's. Its messages are refused, not read as the events after
// a position of the old stream.
func TestACursorMadeOnANewStreamRefusesItsMessages(t *testing.T) {
	srv := testserver.NATS(t)
	l, err := Open(t.Context(), srv.URL(), Options{Stream: "remade"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendN(t, l, 3)
	remakeStream(t, srv.URL(), l, 10)
	// What readPage does once its look at the stream is done.
	c, err := l.newCursor(t.Context(), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer l.drop(c)
	evs, ok, err := l.pull(t.Context(), c, 5, time.Second)
	if len(evs) != 0 || ok || !errors.Is(err, errStale) {
		t.Fatalf("a cursor on the new stream read %d events (ok %v, %v), want none and errStale", len(evs), ok, err)
	}
	if _, err := l.Read(t.Context(), 3, 5); !errors.Is(err, hub.ErrReplaced) {
		t.Fatalf("Read(3) then: %v, want ErrReplaced", err)
	}
}

// TestATailReadWhileTheLogMovesIsRefused: another caller's Info adopts a
// new stream while the tail reads, after the tail checked its epoch: what
// the read finds may be the new stream's, and the tail's position is the
// old one's, so the read answers ErrReplaced, not those events.
func TestATailReadWhileTheLogMovesIsRefused(t *testing.T) {
	srv := testserver.NATS(t)
	l, err := Open(t.Context(), srv.URL(), Options{Stream: "moving", Block: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendN(t, l, 3) // the tail is at 3 (no cursor of its own yet)
	remakeStream(t, srv.URL(), l, 10)
	l.hooks.afterTailTold = func() {
		l.hooks.afterTailTold = nil
		if _, err := l.Info(t.Context()); err != nil { // a resume's, say
			t.Errorf("Info: %v", err)
		}
	}
	page, err := l.ReadWait(t.Context(), 3, 10)
	if !errors.Is(err, hub.ErrReplaced) {
		t.Fatalf("ReadWait(3) while the log moved: %d events, %v; want ErrReplaced", len(page), err)
	}
}

// remakeStream deletes l's stream, then another node (a handle of its own)
// makes it again and appends n events to it; l is not told.
func remakeStream(t *testing.T, url string, l *Log, n int) {
	t.Helper()
	if err := l.JetStream().DeleteStream(t.Context(), l.name); err != nil {
		t.Fatal(err)
	}
	other, err := Open(t.Context(), url, Options{Stream: l.opts.Stream})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	appendN(t, other, n)
}
