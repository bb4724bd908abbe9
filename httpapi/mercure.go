package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi/internal/stream"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/sse"
)

// MercurePath is where the Mercure protocol is served.
const MercurePath = "/.well-known/mercure"

// MercureOptions configure the Mercure front door, which speaks the Mercure
// protocol at /.well-known/mercure so Mercure's client libraries and
// EventSource URLs work unchanged. It shares the hub, the log, the ids and
// the stream-serving path with the native API: an event published on either
// door reaches the subscribers of both.
//
// Tokens are checked as the native API checks them (Options.Publishers,
// Options.Subscribers, Options.Verifier), anonymous subscribers follow
// Options.RefuseAnonymous, and a publish authorised by the cookie must come
// from an origin listed exactly in Options.PublishOrigins.
type MercureOptions struct {
	// Subscriptions publishes an update when a subscriber connects or
	// leaves and serves the subscriptions API (presence).
	Subscriptions bool
	// CookieName is the cookie holding a token (default
	// mercureAuthorization).
	CookieName string
}

// mercure is the Mercure front door of an API.
type mercure struct {
	a    *API
	opts MercureOptions
	subs subscriberList
}

func newMercure(a *API, opts MercureOptions) *mercure {
	if opts.CookieName == "" {
		opts.CookieName = auth.CookieName
	}
	m := &mercure{a: a, opts: opts}
	m.subs.init()
	return m
}

func (m *mercure) register(mux *http.ServeMux) {
	m.a.route(mux, MercurePath, map[string]http.HandlerFunc{
		http.MethodGet:  m.serveSubscribe,
		http.MethodHead: m.serveSubscribe,
		http.MethodPost: m.servePublish,
	})
	if m.opts.Subscriptions {
		for _, p := range []string{"/subscriptions", "/subscriptions/{topic}", "/subscriptions/{topic}/{subscriber}"} {
			m.a.route(mux, MercurePath+p, map[string]http.HandlerFunc{http.MethodGet: m.serveSubscriptions})
		}
	}
}

// role is whom a token is checked for.
type role int

const (
	subscriberRole role = iota
	publisherRole
)

// errOriginNotAllowed: a cookie-authorised publish from an origin not in
// PublishOrigins.
var errOriginNotAllowed = errors.New("this origin may not publish with a cookie")

// authorize returns the claims of the request's token for role, nil when it
// carries none. The Authorization header comes first, then the
// authorization query parameter, then the cookie, as Mercure reads them. A
// POST authorised by the cookie must come from a publish origin.
func (m *mercure) authorize(r *http.Request, as role) (claims *auth.Claims, token string, err error) {
	v := m.a.subscribers()
	if as == publisherRole {
		v = m.a.publishers()
	}
	cookie := false
	if h, ok := r.Header["Authorization"]; ok {
		if len(h) != 1 {
			return nil, "", fmt.Errorf("%w: send one Authorization header", auth.ErrInvalidToken)
		}
		scheme, t, found := strings.Cut(h[0], " ")
		if !found || !strings.EqualFold(scheme, "Bearer") {
			return nil, "", fmt.Errorf("%w: the Authorization header must be a bearer token", auth.ErrInvalidToken)
		}
		token = strings.TrimSpace(t)
	} else if q, ok := r.URL.Query()["authorization"]; ok {
		if len(q) != 1 {
			return nil, "", fmt.Errorf("%w: give one authorization query parameter", auth.ErrInvalidToken)
		}
		token = q[0]
	} else if c, err := r.Cookie(m.opts.CookieName); err == nil {
		token, cookie = c.Value, true
	} else {
		return nil, "", nil
	}
	if cookie && r.Method == http.MethodPost {
		if err := m.checkPublishOrigin(r); err != nil {
			return nil, token, err
		}
	}
	if v == nil {
		return nil, "", fmt.Errorf("%w: this hub has no key configured", auth.ErrInvalidToken)
	}
	claims, err = v.Verify(r.Context(), token)
	return claims, token, err
}

// checkPublishOrigin: the Origin (else the Referer's origin) of a request
// must be listed exactly in PublishOrigins. "*" is not enough: a form POST
// needs no preflight, so with "*" any page could publish with its
// visitor's cookie.
func (m *mercure) checkPublishOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		ref, err := url.Parse(r.Header.Get("Referer"))
		if err != nil || ref.Host == "" {
			return fmt.Errorf("%w: a cookie-authorised publish needs an Origin or Referer header", errOriginNotAllowed)
		}
		origin = ref.Scheme + "://" + ref.Host
	}
	if origin != "*" && slices.Contains(m.a.opts.PublishOrigins, origin) {
		return nil
	}
	return fmt.Errorf("%w: %q", errOriginNotAllowed, origin)
}

// writeMercureAuthError answers 401, as Mercure does for every
// authorization failure, with the reason in the JSON body.
func writeMercureAuthError(w http.ResponseWriter, err error) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="mercure"`)
	msg := "a valid token is required"
	if err != nil && !errors.Is(err, auth.ErrNoToken) {
		msg = err.Error()
	}
	writeError(w, http.StatusUnauthorized, msg, "")
}

// earliest is the Last-Event-ID that asks for every event the log retains.
const earliest = "earliest"

// serveSubscribe streams updates: GET /.well-known/mercure?topic=SEL…,
// resuming after the Last-Event-ID header or the lastEventID query
// parameter, "earliest" meaning from the oldest retained event.
func (m *mercure) serveSubscribe(w http.ResponseWriter, r *http.Request) {
	claims, _, err := m.authorize(r, subscriberRole)
	if err != nil || (claims == nil && m.a.opts.RefuseAnonymous) {
		writeMercureAuthError(w, err)
		return
	}
	q, err := m.a.query(r)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	req := hub.SubscribeRequest{Topics: q["topic"], LastEventID: r.Header.Get("Last-Event-ID"), Door: "mercure", Remote: r.RemoteAddr}
	if req.LastEventID == "" {
		req.LastEventID = q.Get("lastEventID")
	}
	if len(req.Topics) == 0 {
		writeError(w, http.StatusBadRequest, `missing "topic" parameter`, "")
		return
	}
	if !sse.ValidID(req.LastEventID) {
		writeError(w, http.StatusBadRequest, "Last-Event-ID must not contain CR, LF or NUL", "")
		return
	}
	if claims != nil {
		req.Allowed = claims.Mercure.Subscribe
	}
	requested := req.LastEventID
	if requested == earliest {
		info, err := m.a.hub.Log().Info(r.Context())
		if err != nil {
			m.a.writeHubError(w, r, err)
			return
		}
		// The position before the oldest event the log retains.
		req.LastEventID = hub.FormatID(info.Epoch, max(info.First, 1)-1)
	}
	sub, err := m.a.hub.Subscribe(r.Context(), req)
	if err != nil {
		m.a.writeHubError(w, r, err)
		return
	}
	// A resuming subscriber is told the id of the event preceding the
	// first one it is sent: the one it asked for, or, when that cannot be
	// resumed from (the stream then opens with an ssehub-reset event), the
	// position it continues from.
	switch {
	case requested == earliest:
		w.Header().Set("Last-Event-ID", earliest)
	case requested != "":
		w.Header().Set("Last-Event-ID", sub.After())
	}
	if r.Method == http.MethodHead {
		sub.Close()
		stream.SetHeaders(w.Header())
		w.WriteHeader(http.StatusOK)
		return
	}
	var src stream.Source = sub
	if m.opts.Subscriptions {
		src = m.subs.join(context.WithoutCancel(r.Context()), m, sub, req.Topics, claims, requested)
	}
	src = expiring(src, m.a.subscribers(), claims)
	m.a.streams.Serve(w, r, src)
}

// errTokenExpired ends a stream whose token has expired.
var errTokenExpired = errors.New("the subscriber's token expired")

// expiring wraps src, a stream opened with claims verified by v, so that
// it ends at the first delivery after the token lapses, as Mercure closes
// a subscriber's connection then: what the token allowed is not sent past
// its lifetime, on either door. The lapse is v's, leeway included: a
// token accepted inside the leeway must not be cut off at once, or its
// client would reconnect in a loop until the leeway ran out. The client
// reconnects (with a fresh token, or is refused) and resumes from its last
// event id, so nothing is lost.
func expiring(src stream.Source, v *auth.Verifier, claims *auth.Claims) stream.Source {
	if v == nil || claims == nil || claims.ExpiresAt == nil {
		return src
	}
	return &expiringSource{Source: src, lapsed: func() bool { return v.Lapsed(claims) }}
}

type expiringSource struct {
	stream.Source
	lapsed func() bool
}

func (s *expiringSource) Poll(ctx context.Context, buf [][]byte) ([][]byte, error) {
	if s.lapsed() {
		return buf[:0], errTokenExpired
	}
	return s.Source.Poll(ctx, buf)
}

// CatchingUp forwards the wrapped source's answer, so the event loop
// still serves this stream's replay after live streams; a source that
// cannot say is live.
func (s *expiringSource) CatchingUp() bool {
	cu, ok := s.Source.(interface{ CatchingUp() bool })
	return ok && cu.CatchingUp()
}

func (s *expiringSource) Next(ctx context.Context, buf [][]byte) ([][]byte, error) {
	frames, err := s.Source.Next(ctx, buf)
	if err == nil && s.lapsed() {
		return frames[:0], errTokenExpired
	}
	return frames, err
}
