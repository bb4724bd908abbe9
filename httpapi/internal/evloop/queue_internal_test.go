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
