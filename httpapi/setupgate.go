package httpapi

import (
	"bytes"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// A setupGate bounds how many new connections are being set up at once:
// accepted, their first request read by net/http and handled, up to the
// stream being handed to the event loop or the answer sent. Every
// connection a reconnect storm opens becomes runnable the moment its
// request arrives, and the Go scheduler runs runnable goroutines in turn:
// without a bound, the publisher's request (read on a kept-alive
// connection), the store's writer and the event loop's poller wait in the
// run queue behind hundreds of these (a trace of a storm of 5,000 on one
// core: requests waited 0.37 s at the median to be run at all). With it,
// the rest of a storm waits in the kernel's accept queue, costing the hub
// nothing, so live work waits behind a few setups at most.
//
// The listener takes a place before it hands out a connection, and the
// connection gives it back when net/http is done with its first request
// (the connection is idle, hijacked or closed), when its first read does
// not bring a whole request head (a client sending its head slowly, or a
// TLS handshake), when that read has not come within setupQuiet, or after
// setupHold, whichever comes first. So neither a silent client, nor a
// slow one, nor a long request, nor a stream served by net/http keeps a
// place for longer than that.
type setupGate struct {
	places  chan struct{}
	hold    time.Duration
	quiet   time.Duration // the hold until the first read brings a request
	waiting atomic.Int32  // accepts waiting for a place
}

// setupHold bounds how long one connection holds its place: far more than
// a setup takes (tens of microseconds of CPU), little enough that clients
// holding places on purpose slow new connections only a little.
const setupHold = 20 * time.Millisecond

// setupQuiet bounds how long a connection holds its place before its
// first request arrives: a client's request follows its handshake at
// once, and the kernel has it by the time the hub accepts; a silent client
// gives its place back soon, so holding the gate shut takes thousands of
// connections a second.
const setupQuiet = 2 * time.Millisecond

func newSetupGate(n int, hold time.Duration) *setupGate {
	if n <= 0 {
		return nil
	}
	quiet := hold
	if hold <= 0 {
		hold, quiet = setupHold, setupQuiet
	}
	return &setupGate{places: make(chan struct{}, n), hold: hold, quiet: quiet}
}

// Setup states of a connection.
const (
	setupDone int32 = iota // gave its place back, or never had one
	setupHeld              // holding a place, no request read yet
	setupRead              // holding a place, its first request read
)

// enter takes a place for a connection about to be handed out.
func (g *setupGate) enter(c *countedConn) {
	g.waiting.Add(1)
	g.places <- struct{}{}
	g.waiting.Add(-1)
	c.gate = g
	c.setup.Store(setupHeld)
	c.holdTimer.Store(time.AfterFunc(g.quiet, c.leaveSetup))
}

// firstRead is called with the bytes of a connection's first read.
func (g *setupGate) firstRead(c *countedConn, b []byte) {
	if !bytes.Contains(b, []byte("\n\r\n")) && !bytes.Contains(b, []byte("\n\n")) {
		c.leaveSetup() // a partial head, or not HTTP/1 yet (TLS)
		return
	}
	if c.setup.CompareAndSwap(setupHeld, setupRead) {
		// A request to handle: the place is held for the whole hold.
		// Should the quiet timer fire meanwhile, the place is given back
		// now and the timer, set again, later finds nothing to do.
		c.holdTimer.Load().Reset(g.hold)
	}
}

// leaveSetup gives the connection's place back, once.
func (c *countedConn) leaveSetup() {
	if c.gate == nil || c.setup.Swap(setupDone) == setupDone {
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
