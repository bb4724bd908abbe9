package httpapi

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"
)

// Reasons carried by the answers to requests over a limit, so a client can
// tell them apart without reading the message.
const (
	ReasonBodyTooLarge     = "body-too-large"
	ReasonDataTooLarge     = "data-too-large"
	ReasonBatchTooLarge    = "batch-too-large"
	ReasonTooManyTopics    = "too-many-topics"
	ReasonTooManySelectors = "too-many-selectors"
	ReasonURLTooLong       = "url-too-long"
	ReasonRateLimited      = "rate-limited"
	ReasonTooManyConns     = "too-many-connections"
	ReasonTooManyConnsAddr = "too-many-connections-from-address"
	ReasonBodyReadTimeout  = "body-read-timeout"
	defaultMaxURLBytes     = 8 << 10
	defaultBodyReadTimeout = 30 * time.Second
)

// limitError is a request over one of the hub's limits: it carries the
// answer, so every limit is answered the same way wherever it is found.
type limitError struct {
	status     int
	msg        string
	reason     string
	retryAfter time.Duration // sent as Retry-After when positive
}

func (e *limitError) Error() string { return e.msg }

func tooLarge(reason, format string, args ...any) *limitError {
	return &limitError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf(format, args...), reason: reason}
}

// writeLimit answers a request over a limit.
func writeLimit(w http.ResponseWriter, e *limitError) {
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(e.retryAfter)))
	}
	if e.status == http.StatusServiceUnavailable || e.status == http.StatusTooManyRequests ||
		e.status == http.StatusRequestTimeout {
		// The connection is what the limit is about: do not keep it.
		w.Header().Set("Connection", "close")
	}
	writeError(w, e.status, e.msg, e.reason)
}

// retryAfterSeconds rounds up: a client told 0 would retry at once.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// guardURL answers 414 for a request target longer than MaxURLBytes, before
// its query is parsed.
func (a *API) guardURL(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := len(r.RequestURI); n > a.opts.MaxURLBytes {
			writeLimit(w, &limitError{status: http.StatusRequestURITooLong, reason: ReasonURLTooLong,
				msg: fmt.Sprintf("the URL is %d bytes, at most %d allowed", n, a.opts.MaxURLBytes)})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// readBody reads a publish body within MaxBodyBytes and BodyReadTimeout, so
// a client that sends too much or too slowly holds nothing for long.
func (a *API) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > a.opts.MaxBodyBytes {
		return nil, tooLarge(ReasonBodyTooLarge, "body of %d bytes, at most %d allowed", r.ContentLength, a.opts.MaxBodyBytes)
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(a.opts.BodyReadTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes))
	var big *http.MaxBytesError
	switch {
	case err == nil:
		// The deadline must not outlive the body: net/http reads on in
		// the background while the handler runs, and would cancel the
		// request. After an error it stays: net/http would otherwise
		// wait, with no deadline, for the rest of a body that is late.
		_ = rc.SetReadDeadline(time.Time{})
		return body, nil
	case errors.As(err, &big):
		return nil, tooLarge(ReasonBodyTooLarge, "body larger than %d bytes", big.Limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, &limitError{status: http.StatusRequestTimeout, reason: ReasonBodyReadTimeout,
			msg: fmt.Sprintf("the body did not arrive within %v", a.opts.BodyReadTimeout)}
	default:
		return nil, err // the client went away
	}
}

// limitPublishAddr spends one of the client address's publishes.
func (a *API) limitPublishAddr(r *http.Request) *limitError {
	if a.addrRate == nil {
		return nil
	}
	key, exempt := addrKeyString(r.RemoteAddr, a.opts.Exempt)
	if exempt {
		return nil
	}
	return a.addrRate.take(key, "this client address")
}

// limitPublishToken spends one of the token's publishes.
func (a *API) limitPublishToken(token string) *limitError {
	if a.tokenRate == nil {
		return nil
	}
	sum := sha256.Sum256([]byte(token)) // the table keeps no token
	return a.tokenRate.take(string(sum[:]), "this token")
}

// rateLimits holds one token bucket per key (a client address, a token's
// hash). A bucket that has refilled is the same as a new one, so those are
// dropped when the table grows: it holds only keys active in the last few
// seconds.
type rateLimits struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	sweepAt int
}

const minSweep = 1024

// newRateLimits returns nil for a rate of zero (no limit). Bursts of one
// second's worth are allowed.
func newRateLimits(perSecond float64, now func() time.Time) *rateLimits {
	if perSecond <= 0 {
		return nil
	}
	return &rateLimits{limit: rate.Limit(perSecond), burst: max(1, int(math.Ceil(perSecond))), now: now,
		buckets: make(map[string]*rate.Limiter), sweepAt: minSweep}
}

func (l *rateLimits) take(key, who string) *limitError {
	now := l.now()
	l.mu.Lock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.sweepAt {
			l.sweep(now)
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[key] = b
	}
	l.mu.Unlock()
	res := b.ReserveN(now, 1)
	wait := res.DelayFrom(now)
	if wait == 0 {
		return nil
	}
	res.CancelAt(now) // a refused publish costs nothing
	return &limitError{status: http.StatusTooManyRequests, reason: ReasonRateLimited, retryAfter: wait,
		msg: fmt.Sprintf("%s may publish %g times a second; retry after %v", who, float64(l.limit), wait.Round(time.Millisecond))}
}

// sweep drops full buckets; l.mu is held.
func (l *rateLimits) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
	l.sweepAt = max(minSweep, 2*len(l.buckets))
}

// Loopback is the default of Options.Exempt and ConnLimits.Exempt: the
// machine's own clients (a reverse proxy, a backend, the demos).
var Loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// addrKey returns what per-address limits count a client by: its IPv4
// address, or the /64 of an IPv6 address (one host is often given a whole
// /64). exempt is true for addresses in one of the exempt prefixes, and for
// addresses that are not IP (a Unix socket), which name no client.
func addrKey(addr net.Addr, exempt []netip.Prefix) (key string, isExempt bool) {
	if addr == nil {
		return "", true
	}
	return addrKeyString(addr.String(), exempt)
}

func addrKeyString(hostport string, exempt []netip.Prefix) (string, bool) {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return "", true
	}
	ip := ap.Addr().Unmap()
	for _, p := range exempt {
		if p.Contains(ip) {
			return "", true
		}
	}
	if ip.Is6() {
		p, _ := ip.WithZone("").Prefix(64)
		return p.String(), false
	}
	return ip.String(), false
}

// query parses a stream's or history request's query strictly: a malformed
// escape is an error rather than a pair silently dropped, selectors are
// bounded in number and must be UTF-8 (an event's topics always are, so
// another selector could never match).
func (a *API) query(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("malformed query: %v", err)
	}
	topics := q["topic"]
	if len(topics) > a.opts.MaxSelectors {
		return nil, &limitError{status: http.StatusRequestURITooLong, reason: ReasonTooManySelectors,
			msg: fmt.Sprintf("%d topic selectors, at most %d allowed", len(topics), a.opts.MaxSelectors)}
	}
	for _, t := range topics {
		if !utf8.ValidString(t) {
			return nil, fmt.Errorf("topic selector %q is not valid UTF-8", t)
		}
	}
	return q, nil
}

// writeRequestError answers a request that cannot be served as asked: a
// limit with its own answer, anything else with 400.
func writeRequestError(w http.ResponseWriter, err error) {
	if le := (*limitError)(nil); errors.As(err, &le) {
		writeLimit(w, le)
		return
	}
	writeError(w, http.StatusBadRequest, err.Error(), "")
}
