//go:build linux

package evloop_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/httpapi/internal/evloop"
	"github.com/ssehub/ssehub/hub"
)

// stuckBacklog is a source catching up on a backlog whose every Poll
// blocks until released, as a replay waiting on a slow disk or a remote
// log would.
type stuckBacklog struct {
	polling chan struct{} // gets a value when a Poll starts
	release chan struct{}
	once    sync.Once
}

func (s *stuckBacklog) Poll(ctx context.Context, buf [][]byte) ([][]byte, error) {
	select {
	case s.polling <- struct{}{}:
	default:
	}
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	return buf[:0], nil
}

func (s *stuckBacklog) OnReady(func()) {}
func (s *stuckBacklog) Close()         {}
func (s *stuckBacklog) CatchingUp() bool {
	return true
}

// TestLiveStreamsAreServedWhileBacklogsWait: however many streams are
// catching up, and however long each of their reads takes, one worker is
// left for live streams. Here every worker but one would be stuck in a
// backlog read: a live stream still gets its position and its event.
func TestLiveStreamsAreServedWhileBacklogsWait(t *testing.T) {
	f := newFixture(t, hub.Options{}, evloop.Options{Workers: 2})
	stuck := &stuckBacklog{polling: make(chan struct{}, 1), release: make(chan struct{})}
	t.Cleanup(func() { close(stuck.release) })
	for range 4 {
		_, server := f.dial()
		if err := f.loop.Add(server, stuck, false); err != nil {
			t.Fatal(err)
		}
	}
	<-stuck.polling // a worker is stuck in a backlog
	live := f.open(hub.SubscribeRequest{Topics: []string{"a"}})
	ids := f.publish(hub.Event{Topics: []string{"a"}, Data: "live"})
	if got, want := live.frame(t), "id: "+ids[0]+"\ndata: live\n\n"; got != want {
		t.Fatalf("live stream got %q, want %q", got, want)
	}
}

// TestUnsentBytesBoundAStalledStream: what a client does not read waits in
// its stream's own buffer only up to MaxUnsent; over it the stream is
// closed at once as too slow, without waiting for the write timeout.
func TestUnsentBytesBoundAStalledStream(t *testing.T) {
	f := newFixture(t, hub.Options{QueueSize: 1 << 16, QueueBytes: 1 << 30},
		evloop.Options{WriteTimeout: time.Minute, MaxUnsent: 64 << 10})
	conn, server := f.dial()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	server.(*net.TCPConn).SetWriteBuffer(4096)
	sub, err := f.hub.Subscribe(context.Background(), hub.SubscribeRequest{Topics: []string{"s"}})
	if err != nil {
		t.Fatal(err)
	}
	src := closeWatch{sub, make(chan struct{})}
	if err := f.loop.Add(server, src, false); err != nil {
		t.Fatal(err)
	}
	// One event far larger than the socket takes without being read.
	f.publish(hub.Event{Topics: []string{"s"}, Data: strings.Repeat("x", 800<<10)})
	stalled := &client{conn: conn, ended: src.ended}
	stalled.waitEnded(t, "800 KiB left unsent with a budget of 64 KiB")
}

// fallingBehind is a stream that starts live, is sent one large frame,
// and then falls back to catching up (as a subscription whose queue
// overflowed resumes from the log); it reports when the loop closes it.
type fallingBehind struct {
	sent   atomic.Bool
	closed chan struct{}
}

func (s *fallingBehind) Poll(ctx context.Context, buf [][]byte) ([][]byte, error) {
	if s.sent.Swap(true) {
		return buf[:0], nil
	}
	return append(buf[:0], make([]byte, 1<<20)), nil
}

func (s *fallingBehind) OnReady(func())   {}
func (s *fallingBehind) Close()           { close(s.closed) }
func (s *fallingBehind) CatchingUp() bool { return s.sent.Load() }

// TestATimedOutStreamIsClosedWhileBacklogsWait: a stream closed for the
// write timeout while it is catching up is closed at once, not queued
// behind the backlogs, which may hold every place they are allowed for
// long: till then it would keep its socket and its unsent bytes.
func TestATimedOutStreamIsClosedWhileBacklogsWait(t *testing.T) {
	f := newFixture(t, hub.Options{}, evloop.Options{Workers: 2, WriteTimeout: 100 * time.Millisecond, MaxUnsent: 64 << 20})
	stuck := &stuckBacklog{polling: make(chan struct{}, 1), release: make(chan struct{})}
	t.Cleanup(func() { close(stuck.release) })
	_, server := f.dial()
	if err := f.loop.Add(server, stuck, false); err != nil {
		t.Fatal(err)
	}
	<-stuck.polling // the only backlog place (Workers-1) is taken
	conn, server := f.dial()
	conn.(*net.TCPConn).SetReadBuffer(4096) // and the client never reads
	server.(*net.TCPConn).SetWriteBuffer(4096)
	src := &fallingBehind{closed: make(chan struct{})}
	if err := f.loop.Add(server, src, false); err != nil {
		t.Fatal(err)
	}
	select {
	case <-src.closed:
	case <-time.After(10 * time.Second):
		t.Fatalf("a stream blocked past its write timeout of 100ms is still open after 10s: %+v", f.loop.Figures())
	}
	if got := f.loop.Figures(); got.Streams != 1 || got.WriteTimeouts != 1 {
		t.Errorf("figures after the write timeout: %+v, want the backlog's stream left and 1 write timeout", got)
	}
}
