package evloop

import (
	"testing"
	"time"
)

// TestAWriteTimeoutIsCountedOncePerStream: a stream blocked past the write
// timeout is counted, and closed, once, however many sweeps pass before a
// worker gets to it.
func TestAWriteTimeoutIsCountedOncePerStream(t *testing.T) {
	l := &Loop{opts: Options{WriteTimeout: time.Second}, conns: map[int]*conn{}}
	l.queue.init(1)
	stalled := &conn{l: l, fd: 7}
	stalled.blockedSince.Store(time.Now().Add(-time.Minute).UnixNano())
	reading := &conn{l: l, fd: 8}
	l.conns[stalled.fd], l.conns[reading.fd] = stalled, reading
	for range 5 { // no worker serves the queue meanwhile
		l.sweep(time.Now())
	}
	if got := l.Figures().WriteTimeouts; got != 1 {
		t.Errorf("WriteTimeouts = %d after 5 sweeps over one stalled stream, want 1", got)
	}
	if !stalled.kill.Load() || !stalled.timedOut.Load() {
		t.Error("the stalled stream is not marked to close for the write timeout")
	}
	if reading.kill.Load() {
		t.Error("a stream that is not blocked is marked to close")
	}
	if n := l.queue.live.len() + l.queue.backlog.len(); n != 1 {
		t.Errorf("%d streams queued, want the stalled one, once", n)
	}
}

// TestALineThatNeverEmptiesKeepsItsMemoryBounded: a line of the ready
// queue that is never empty (a busy loop) reuses its memory, holding about
// as many slots as streams queued, and keeps them in order.
func TestALineThatNeverEmptiesKeepsItsMemoryBounded(t *testing.T) {
	var f fifo
	streams := make([]*conn, 10)
	for i := range streams {
		streams[i] = &conn{fd: i}
	}
	pushed, popped := 0, 0
	push := func() { f.push(streams[pushed%len(streams)]); pushed++ }
	for range 3 {
		push()
	}
	for range 500_000 { // between 3 and 5 queued, never empty
		push()
		push()
		for range 2 {
			if got, want := f.pop(), streams[popped%len(streams)]; got != want {
				t.Fatalf("after %d pushes, popped stream %d, want %d", pushed, got.fd, want.fd)
			}
			popped++
		}
	}
	if got, want := f.len(), pushed-popped; got != want {
		t.Fatalf("len = %d, want %d", got, want)
	}
	if c := cap(f.items); c > 64 {
		t.Errorf("a line holding at most 5 streams keeps %d slots after a million pushes", c)
	}
}
