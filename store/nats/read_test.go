package nats

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/testserver"
)

// TestReadReturnsAtMostOnePull: a Read asking for more than one pull
// carries returns a short page, and the next Read goes on from there.
func TestReadReturnsAtMostOnePull(t *testing.T) {
	srv := testserver.NATS(t)
	l, err := Open(t.Context(), srv.URL(), Options{Stream: "pull"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const total = maxPull + 76
	appendN(t, l, total)
	var after uint64
	var pages []int
	for {
		page, err := l.Read(t.Context(), after, 5*maxPull)
		if err != nil {
			t.Fatalf("Read(%d): %v", after, err)
		}
		if len(page) == 0 {
			break
		}
		for i, ev := range page {
			if ev.Seq != after+uint64(i)+1 {
				t.Fatalf("Read(%d): event %d has Seq %d", after, i, ev.Seq)
			}
		}
		pages = append(pages, len(page))
		after = page[len(page)-1].Seq
	}
	if len(pages) != 2 || pages[0] != maxPull || after != total {
		t.Fatalf("pages of %v up to %d, want %d then the rest up to %d", pages, after, maxPull, total)
	}
}

// TestCursorQueueHoldsAWholePull: a cursor's queue is small (not
// nats.go's 64k), yet a cursor whose reader takes nothing until its whole
// pull has arrived loses no message of it.
func TestCursorQueueHoldsAWholePull(t *testing.T) {
	srv := testserver.NATS(t)
	l, err := Open(t.Context(), srv.URL(), Options{Stream: "queue"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendN(t, l, maxPull+10)
	c, err := l.newCursor(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.drop(c)
	req := `{"batch":` + strconv.Itoa(maxPull) + `,"expires":` + strconv.Itoa(int(5*time.Second)) + `}`
	if err := l.nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT."+l.name+"."+c.consumer, c.inbox, []byte(req)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the whole pull to arrive", func() bool {
		n := len(c.msgs)
		if dropped, err := c.sub.Dropped(); err != nil || dropped > 0 {
			t.Fatalf("%d messages of one pull dropped with %d queued (%v)", dropped, n, err)
		}
		return n == maxPull
	})
	for i := range maxPull {
		m := <-c.msgs
		if seq, _, ok := ackFields(m.Reply); !ok || seq != uint64(i+1) {
			t.Fatalf("message %d has reply %q", i+1, m.Reply)
		}
	}
}

// TestReadersLeaveNoGoroutineAfterClose: cursors kept between pages, a
// tail waiting in the server, all end with Close.
func TestReadersLeaveNoGoroutineAfterClose(t *testing.T) {
	srv := testserver.NATS(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	l, err := Open(t.Context(), srv.URL(), Options{Stream: "leak", Block: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 30)
	for after := uint64(0); after < 30; after += 10 {
		if page, err := l.Read(t.Context(), after, 10); err != nil || len(page) != 10 {
			t.Fatalf("Read(%d): %d events, %v", after, len(page), err)
		}
	}
	if page, err := l.ReadWait(t.Context(), 0, 5); err != nil || len(page) != 5 {
		t.Fatalf("ReadWait(0): %d events, %v", len(page), err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCloseEndsATailWaitingForEvents: a ReadWait at the tail, waiting on
// the pull that stands for Block (a minute here), returns ErrClosed when
// the log is closed, not when the pull expires.
func TestCloseEndsATailWaitingForEvents(t *testing.T) {
	srv := testserver.NATS(t)
	l, err := Open(t.Context(), srv.URL(), Options{Stream: "closewait", Block: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	api := watchAPI(t, srv.URL())
	appendN(t, l, 1)
	done := make(chan error, 1)
	go func() {
		_, err := l.ReadWait(t.Context(), 1, 10)
		done <- err
	}()
	eventually(t, "the tail to stand its pull", func() bool { return api.pulls.Load() > 0 })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, hub.ErrClosed) {
			t.Errorf("the waiting ReadWait returned %v after Close, want ErrClosed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiting ReadWait was still waiting 30s after Close (its pull stands for a minute)")
	}
}

// TestTheTailFollowsThroughOneStandingPull: at the tail, events reach
// ReadWait through one pull standing on one cursor, not through a pull and
// a look at the stream per event; a call ended by its context leaves that
// pull standing, and the next call takes what it delivered.
func TestTheTailFollowsThroughOneStandingPull(t *testing.T) {
	srv := testserver.NATS(t)
	// Block outlasts the test, so no pull ends by its expiry.
	l, err := Open(t.Context(), srv.URL(), Options{Stream: "follow", Block: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	api := watchAPI(t, srv.URL())

	const events = 50
	var after uint64
	for i := range events {
		if i == events/2 {
			// A call ended by its context, with the pull standing.
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() {
				_, err := l.ReadWait(ctx, after, 10)
				done <- err
			}()
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("ReadWait canceled: %v", err)
			}
		}
		appendN(t, l, 1)
		page, err := l.ReadWait(t.Context(), after, 10)
		if err != nil || len(page) != 1 || page[0].Seq != after+1 {
			t.Fatalf("ReadWait(%d): %d events, %v", after, len(page), err)
		}
		after = page[0].Seq
	}
	if err := l.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := api.watch.Flush(); err != nil {
		t.Fatal(err)
	}
	// The first call looks at the stream, finds events or none, and
	// stands a pull; a pull ends only by its count (maxPull) or expiry.
	if p, k := api.pulls.Load(), api.looks.Load(); p > 2 || k > 2 {
		t.Fatalf("%d events at the tail took %d pulls and %d looks at the stream, want at most 2 of each", events, p, k)
	}
}

// TestTheTailGoesOnWhenTheServerDroppedItsConsumer: the consumer under
// the tail's standing pull is deleted; the events after it still come.
func TestTheTailGoesOnWhenTheServerDroppedItsConsumer(t *testing.T) {
	srv := testserver.NATS(t)
	l, err := Open(t.Context(), srv.URL(), Options{Stream: "droptail", Block: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendN(t, l, 1)
	if page, err := l.ReadWait(t.Context(), 0, 10); err != nil || len(page) != 1 {
		t.Fatalf("ReadWait(0): %d events, %v", len(page), err)
	}
	l.cursors.mu.Lock()
	c := l.cursors.standing
	l.cursors.mu.Unlock()
	if c == nil {
		t.Fatal("no pull stands on the tail after a ReadWait that found the end")
	}
	if err := l.JetStream().DeleteConsumer(t.Context(), l.name, c.consumer); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 3)
	var got []uint64
	for after := uint64(1); after < 4; {
		page, err := l.ReadWait(t.Context(), after, 10)
		if err != nil {
			t.Fatalf("ReadWait(%d) after the consumer was dropped: %v", after, err)
		}
		for _, ev := range page {
			got = append(got, ev.Seq)
		}
		after = page[len(page)-1].Seq
	}
	if fmt.Sprint(got) != "[2 3 4]" {
		t.Fatalf("after the consumer was dropped the tail read %v, want [2 3 4]", got)
	}
}

// eventually waits until cond holds, failing the test after a bound.
// Nothing signals a subscription's queue filling, so it checks cond every
// few milliseconds; the bound, not the interval, decides the outcome.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	bound := time.NewTimer(10 * time.Second)
	defer bound.Stop()
	check := time.NewTicker(5 * time.Millisecond)
	defer check.Stop()
	for !cond() {
		select {
		case <-bound.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-check.C:
		}
	}
}

// FuzzAckFields: the reply subject parser never panics and reads what a
// plain split of the subject reads.
func FuzzAckFields(f *testing.F) {
	for _, reply := range []string{
		"$JS.ACK.SSEHUB_NEWS.c1.1.48123.48123.1764656400123456789.1877",
		"$JS.ACK._.ACCHASH.SSEHUB_NEWS.c1.1.48123.48123.1764656400123456789.0",
		"$JS.ACK._.ACCHASH.SSEHUB_NEWS.c1.1.48123.48123.1764656400123456789.0.rnd",
		"$JS.ACK.S.c.1.18446744073709551616.1.1.1",
		"$JS.ACK.S.c.1.2..1.", "$JS.ACK", "",
	} {
		f.Add(reply)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		seq, pending, ok := ackFields(reply)
		tok := strings.Split(reply, ".")
		wantOK := (len(tok) == 9 || len(tok) == 11 || len(tok) == 12) && tok[0] == "$JS" && tok[1] == "ACK"
		var wantSeq, wantPending uint64
		if wantOK {
			s, p := tok[5], tok[8]
			if len(tok) >= 11 {
				s, p = tok[7], tok[10]
			}
			var err1, err2 error
			wantSeq, err1 = strconv.ParseUint(s, 10, 64)
			wantPending, err2 = strconv.ParseUint(p, 10, 64)
			wantOK = err1 == nil && err2 == nil
		}
		if ok != wantOK || ok && (seq != wantSeq || pending != wantPending) {
			t.Fatalf("ackFields(%q) = %d, %d, %v; want %d, %d, %v", reply, seq, pending, ok, wantSeq, wantPending, wantOK)
		}
	})
}

func BenchmarkAckFields(b *testing.B) {
	reply := "$JS.ACK.SSEHUB_BENCH.abcdEFGHijkl1234.1.48123.48123.1764656400123456789.1877"
	for b.Loop() {
		if _, _, ok := ackFields(reply); !ok {
			b.Fatal(reply)
		}
	}
}

// apiRequests counts the JetStream API requests a server receives: pulls
// (a consumer's next messages) and looks (a stream's info).
type apiRequests struct {
	watch                 *natsgo.Conn
	pulls, looks, creates atomic.Int64
}

// watchAPI counts the requests to the server at url from now on, until
// the test ends.
func watchAPI(t *testing.T, url string) *apiRequests {
	t.Helper()
	watch, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(watch.Close)
	a := &apiRequests{watch: watch}
	if _, err := watch.Subscribe("$JS.API.>", func(m *natsgo.Msg) {
		switch {
		case strings.HasPrefix(m.Subject, "$JS.API.CONSUMER.MSG.NEXT."):
			a.pulls.Add(1)
		case strings.HasPrefix(m.Subject, "$JS.API.STREAM.INFO."):
			a.looks.Add(1)
		case strings.HasPrefix(m.Subject, "$JS.API.CONSUMER.CREATE."):
			a.creates.Add(1)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := watch.Flush(); err != nil {
		t.Fatal(err)
	}
	return a
}

// slowLink forwards connections to addr through a loopback listener that
// holds every byte for delay in each direction, as a distant server's
// link does, and returns the listener's address.
func slowLink(t *testing.T, addr string, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
		ended bool
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		ended = true
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	pump := func(dst, src net.Conn) {
		defer wg.Done()
		type chunk struct {
			b  []byte
			at time.Time
		}
		q := make(chan chunk, 4096)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer dst.Close()
			for c := range q {
				time.Sleep(time.Until(c.at)) // the link's latency, not a wait for an event
				if _, err := dst.Write(c.b); err != nil {
					return
				}
			}
		}()
		defer close(q)
		for {
			b := make([]byte, 32<<10)
			n, err := src.Read(b)
			if n > 0 {
				q <- chunk{b[:n], time.Now().Add(delay)}
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			if ended {
				c.Close()
				s.Close()
			}
			mu.Unlock()
			wg.Add(2)
			go pump(s, c)
			go pump(c, s)
		}
	}()
	return ln.Addr().String()
}

// TestTheTailKeepsItsCursorOverASlowLink: with a round trip to the server
// longer than followGrace, the end of each standing pull arrives after
// its expiry; the tail must still wait for it rather than give up its
// cursor (a new consumer and a look at the stream) at every Block.
func TestTheTailKeepsItsCursorOverASlowLink(t *testing.T) {
	srv := testserver.NATS(t)
	const block = 200 * time.Millisecond
	l, err := Open(t.Context(), "nats://"+slowLink(t, srv.Addr, 40*time.Millisecond), Options{Stream: "slow", Block: block})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	api := watchAPI(t, srv.URL())
	appendN(t, l, 1)
	if page, err := l.ReadWait(t.Context(), 0, 10); err != nil || len(page) != 1 {
		t.Fatalf("ReadWait(0): %d events, %v", len(page), err)
	}
	made := api.creates.Load()
	// Ten pulls stand and end in turn while no event comes.
	ctx, cancel := context.WithTimeout(t.Context(), 10*block)
	defer cancel()
	if _, err := l.ReadWait(ctx, 1, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadWait(1) with nothing to read: %v, want the deadline", err)
	}
	if err := api.watch.Flush(); err != nil {
		t.Fatal(err)
	}
	n := api.creates.Load() - made
	t.Logf("%d consumers made", n)
	if n > 1 {
		t.Errorf("the tail made %d consumers while waiting through 10 pulls, want at most 1", n)
	}
}
