package httpapi

import (
	"bytes"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// A setupGate bounds how many new connections are being set up at once:
// their first request parsed by net/http and handled, up to the stream
// being handed to the event loop or the answer sent. Every connection a
// reconnect storm opens becomes runnable the moment its request arrives,
// and the Go scheduler runs runnable goroutines in turn: without a bound,
// the publisher's request, the store's writer and the event loop's
// pollers wait behind thousands of these, and live delivery stalls for as
// long as the storm takes to set up (measured: live p99 0.2–0.6 s for
// 5,000 resumers on one core). With it, the rest of a storm waits, costing
// nothing, until a place is free, so live work waits behind a few setups
// at most.
//
// A connection takes a place when its first read returns a whole request
// head, so a client that sends its head slowly never holds one, and gives
// it back when net/http is done with the request (the connection is idle,
// hijacked or closed) or after setupHold, whichever comes first, so
// neither a long request nor a stream served by net/http keeps it.
type setupGate struct {
	places  chan struct{}
	hold    time.Duration
	waiting atomic.Int32 // connections waiting for a place
}

// setupHold bounds how long one connection holds its place: far more than
// a setup takes (well under a millisecond of CPU), little enough that
// clients holding places on purpose slow new connections only a little.
const setupHold = 20 * time.Millisecond

func newSetupGate(n int) *setupGate {
	if n <= 0 {
		return nil
	}
	return &setupGate{places: make(chan struct{}, n), hold: setupHold}
}

// Setup states of a connection.
const (
	setupNotYet int32 = iota // no request read yet
	setupHeld                // holding a place
	setupDone                // gave its place back, or never needed one
)

// firstRead is called with the bytes of a connection's first read.
func (g *setupGate) firstRead(c *countedConn, b []byte) {
	if !bytes.Contains(b, []byte("\n\r\n")) && !bytes.Contains(b, []byte("\n\n")) {
		c.setup.CompareAndSwap(setupNotYet, setupDone) // a partial head: not gated
		return
	}
	g.waiting.Add(1)
	g.places <- struct{}{}
	g.waiting.Add(-1)
	if !c.setup.CompareAndSwap(setupNotYet, setupHeld) {
		<-g.places // closed meanwhile
		return
	}
	c.holdTimer.Store(time.AfterFunc(g.hold, c.leaveSetup))
}

// leaveSetup gives the connection's place back, if it holds one, and
// makes sure it never takes one after.
func (c *countedConn) leaveSetup() {
	if c.gate == nil || c.setup.Swap(setupDone) != setupHeld {
		return
	}
	if t := c.holdTimer.Load(); t != nil {
		t.Stop()
	}
	<-c.gate.places
}

// ConnState is the http.Server hook that tells the limiter when net/http
// is done with a connection's first request.
func (c *ConnLimiter) ConnState(nc net.Conn, st http.ConnState) {
	if st != http.StateIdle && st != http.StateHijacked && st != http.StateClosed {
		return
	}
	for nc != nil {
		if cc, ok := nc.(*countedConn); ok {
			cc.leaveSetup()
			return
		}
		u, ok := nc.(interface{ NetConn() net.Conn }) // a *tls.Conn
		if !ok {
			return
		}
		nc = u.NetConn()
	}
}
