package httpapi

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ConnLimits bound the connections a listener keeps open.
type ConnLimits struct {
	// Max is how many connections may be open at once (0: no limit).
	Max int
	// MaxPerAddr is how many may be open from one client address, an IPv4
	// address or an IPv6 /64 (0: no limit).
	MaxPerAddr int
	// Exempt lists addresses MaxPerAddr does not apply to: a reverse proxy
	// in front of the hub, where every client has the proxy's address
	// (nil: Loopback; empty: none).
	Exempt []netip.Prefix
	// RetryAfter is what a refused client is told to wait (default 5s).
	RetryAfter time.Duration
	// Setups is how many new connections may have their first request
	// parsed and handled at once (see setupGate; 0: no bound). The server
	// must call ConnState from its http.Server's hook.
	Setups int
	// setupHold, for tests: how long a setup may keep its place (default
	// setupHold).
	setupHold time.Duration
}

// maxRefusing bounds the refused connections waiting for their answer; a
// connection over it is closed unanswered, so a flood of connections holds
// few file descriptors.
const maxRefusing = 256

// A ConnLimiter counts the connections of the listeners it wraps, in total
// and per client address. It counts at the listener because a stream served
// by the event loop has left net/http: only closing the connection itself
// ends it. A connection over a limit is still accepted, and every request
// on it is answered by Handler with 503 (the total) or 429 (its address)
// and a JSON body, then it is closed; GET /healthz is answered as usual, so
// a liveness probe does not fail only because the hub is full.
type ConnLimiter struct {
	opts ConnLimits

	mu      sync.Mutex
	open    int
	perAddr map[string]int
	// refusing maps the remote address (ip:port, what http.Request
	// carries) of each refused connection to its limit.
	refusing  map[string]*limitError
	nRefusing atomic.Int32
	gate      *setupGate // nil: setups are not bounded
}

// NewConnLimiter returns a limiter of opts.
func NewConnLimiter(opts ConnLimits) *ConnLimiter {
	if opts.Exempt == nil {
		opts.Exempt = Loopback
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 5 * time.Second
	}
	return &ConnLimiter{opts: opts, perAddr: make(map[string]int), refusing: make(map[string]*limitError), gate: newSetupGate(opts.Setups, opts.setupHold)}
}

// Open returns how many connections are open within the limits.
func (c *ConnLimiter) Open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open
}

// Listener returns ln with its connections counted. Put it under a TLS
// listener, not over it, so net/http still finds its *tls.Conn.
func (c *ConnLimiter) Listener(ln net.Listener) net.Listener { return &limitListener{ln, c} }

// Handler answers the requests of refused connections, and passes the
// others to next.
func (c *ConnLimiter) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.nRefusing.Load() > 0 {
			c.mu.Lock()
			e := c.refusing[r.RemoteAddr]
			c.mu.Unlock()
			if e != nil && !(r.Method == http.MethodGet && r.URL.Path == "/healthz") {
				writeLimit(w, e)
				return
			}
			if e != nil {
				w.Header().Set("Connection", "close")
			}
		}
		next.ServeHTTP(w, r)
	})
}

// admit counts a new connection, or says which limit it is over.
func (c *ConnLimiter) admit(nc net.Conn) (key string, exempt bool, refused *limitError) {
	key, exempt = addrKey(nc.RemoteAddr(), c.opts.Exempt)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.opts.Max > 0 && c.open >= c.opts.Max:
		return "", false, &limitError{status: http.StatusServiceUnavailable, reason: ReasonTooManyConns, retryAfter: c.opts.RetryAfter,
			msg: fmt.Sprintf("the hub holds its maximum of %d connections; retry later", c.opts.Max)}
	case !exempt && c.opts.MaxPerAddr > 0 && c.perAddr[key] >= c.opts.MaxPerAddr:
		return "", false, &limitError{status: http.StatusTooManyRequests, reason: ReasonTooManyConnsAddr, retryAfter: c.opts.RetryAfter,
			msg: fmt.Sprintf("at most %d connections from one address; close some first", c.opts.MaxPerAddr)}
	}
	c.open++
	if !exempt {
		c.perAddr[key]++
	}
	return key, exempt, nil
}

func (c *ConnLimiter) release(key string, counted bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open--
	if !counted {
		return
	}
	if c.perAddr[key]--; c.perAddr[key] <= 0 {
		delete(c.perAddr, key)
	}
}

// refuse records a refused connection until it closes; false when too
// many wait already.
func (c *ConnLimiter) refuse(remote string, e *limitError) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.refusing) >= maxRefusing {
		return false
	}
	c.refusing[remote] = e
	c.nRefusing.Add(1)
	return true
}

func (c *ConnLimiter) unrefuse(remote string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.refusing, remote)
	c.nRefusing.Add(-1)
}

type limitListener struct {
	net.Listener
	c *ConnLimiter
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, exempt, refused := l.c.admit(nc)
		if refused == nil {
			cc := &countedConn{Conn: nc, release: func() { l.c.release(key, !exempt) }}
			if l.c.gate != nil {
				l.c.gate.enter(cc)
			}
			return cc, nil
		}
		remote := nc.RemoteAddr().String()
		if !l.c.refuse(remote, refused) {
			nc.Close()
			continue
		}
		return &countedConn{Conn: nc, release: func() { l.c.unrefuse(remote) }}, nil
	}
}

// countedConn releases its place when it is closed, by whoever closes it:
// net/http, or the event loop for a stream taken from net/http.
type countedConn struct {
	net.Conn
	closed  atomic.Bool
	release func()

	gate      *setupGate // nil: not gated
	setup     atomic.Int32
	holdTimer atomic.Pointer[time.Timer]
}

func (c *countedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && c.setup.Load() == setupHeld {
		c.gate.firstRead(c, b[:n])
	}
	return n, err
}

func (c *countedConn) Close() error {
	c.leaveSetup()
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.release()
	}
	return err
}

var errNoRawConn = errors.New("the connection has no file descriptor")

// SyscallConn hands out the file descriptor, so the event loop can serve a
// stream on a counted connection as on any other.
func (c *countedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errNoRawConn
}

// CloseWrite lets net/http end its side first, so a client still reads an
// error answer sent before its whole request was read.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// NetConn returns the wrapped connection.
func (c *countedConn) NetConn() net.Conn { return c.Conn }
