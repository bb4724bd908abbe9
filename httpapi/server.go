// Package httpapi serves the hub over HTTP: the event stream, publishing,
// history, health and readiness, with CORS and the limits a server exposed
// to the internet needs. It is a thin adapter: every decision about events
// is the hub's.
package httpapi

import (
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"time"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi/internal/stream"
	"github.com/ssehub/ssehub/hub"
)

// Options configure the HTTP front door. Zero values select the defaults.
type Options struct {
	// Publishers checks the tokens of publishers (POST /publish) and
	// Subscribers those of subscribers (GET /events, GET /history), so
	// each side can have its own keys. Either, when nil, is Verifier.
	// Without a verifier nobody may publish over HTTP, and every
	// subscriber token is refused.
	Publishers  *auth.Verifier
	Subscribers *auth.Verifier
	// Verifier checks both sides' tokens where Publishers or Subscribers
	// is nil: one key for everything.
	Verifier *auth.Verifier
	// RefuseAnonymous answers subscribers without a valid token with 401.
	// By default anyone may read public topics.
	RefuseAnonymous bool
	// CORSOrigins lists the origins whose pages may subscribe and read
	// history (GET); PublishOrigins those whose pages may publish (POST).
	// A listed origin may send credentials (cookies, withCredentials);
	// "*" allows any origin without credentials. A publish authorised by
	// the mercureAuthorization cookie is accepted only from an origin
	// listed exactly in PublishOrigins (CSRF).
	CORSOrigins    []string
	PublishOrigins []string
	// Retry, when positive, is sent to every subscriber when its stream
	// opens as its reconnection delay.
	Retry time.Duration
	// ShutdownRetry and ShutdownJitter: when the hub shuts down, each
	// stream is told to reconnect after ShutdownRetry plus a random part of
	// ShutdownJitter, so a restart does not bring every client back at once
	// (defaults 1s and 4s).
	ShutdownRetry  time.Duration
	ShutdownJitter time.Duration
	// WriteTimeout: a stream whose client has not taken what is waiting
	// for it within this long is closed (default 10s).
	WriteTimeout time.Duration
	// MaxUnsentBytes: a stream served by the event loop whose socket leaves
	// more than this unsent is closed as too slow; its client resumes from
	// its last event id (default 4 MiB).
	MaxUnsentBytes int
	// MaxBodyBytes limits a publish request body (default 4 MiB); over
	// it the answer is 413.
	MaxBodyBytes int64
	// MaxBatch limits how many events one publish request may carry
	// (default 1000; 413 over it).
	MaxBatch int
	// MaxDataBytes limits the data of one published event (default
	// hub.DefaultLimit, 1 MiB; 413 over it). The hub's own limit
	// (hub.Options.MaxDataBytes) should be at least as large.
	MaxDataBytes int
	// MaxTopics limits the topics of one published event (default and
	// most hub.MaxTopics; 413 over it).
	MaxTopics int
	// MaxSelectors limits the topic selectors of one subscription or
	// history request (default and most hub.MaxTopics; 414 over it).
	MaxSelectors int
	// MaxURLBytes limits the request target, path and query (default
	// 8 KiB; 414 over it).
	MaxURLBytes int
	// BodyReadTimeout is how long a publish body may take to arrive
	// (default 30s; 408 after it), against clients that send slowly to
	// hold connections.
	BodyReadTimeout time.Duration
	// PublishRate and PublishRatePerAddr limit publish requests per second
	// for one token, and from one client address (an IPv4 address or an
	// IPv6 /64), with bursts of one second's worth; over them the answer
	// is 429 with Retry-After (0: no limit). The address limit is checked
	// before the token is, so a flood of bad tokens costs little.
	PublishRate        float64
	PublishRatePerAddr float64
	// Exempt lists client addresses PublishRatePerAddr does not apply to
	// (nil: Loopback, where a reverse proxy or the demos run; empty: none).
	Exempt []netip.Prefix
	// Now is the clock of the rate limits (default time.Now).
	Now func() time.Time
	// StatsInterval is how often GET /api/stats sends figures (default 1s).
	// One reading per interval is shared by every viewer.
	StatsInterval time.Duration
	// NoStats leaves GET /api/stats out of Register's routes, to serve
	// Stats() on a private listener only.
	NoStats bool
	// Cluster, when the log is shared, tells every node's subscribers;
	// GET /api/stats then shows them, NodeName marking this node's.
	Cluster  ClusterNodes
	NodeName string
	// Logger receives request errors (default: discarded).
	Logger *slog.Logger
	// GoroutinePerStream serves every event stream with a goroutine of
	// its own through net/http, as HTTP/2 and TLS streams always are. By
	// default a plain HTTP/1 stream is taken over from net/http and
	// served by an event loop, which holds an idle stream with no
	// goroutine and no buffer (Linux; elsewhere this is the only way).
	GoroutinePerStream bool
	// Mercure, when set, serves the Mercure protocol at
	// /.well-known/mercure beside the native API.
	Mercure *MercureOptions
}

func (o *Options) setDefaults() {
	if o.ShutdownRetry <= 0 {
		o.ShutdownRetry = time.Second
	}
	if o.ShutdownJitter <= 0 {
		o.ShutdownJitter = 4 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 4 << 20
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1000
	}
	if o.MaxDataBytes <= 0 {
		o.MaxDataBytes = hub.DefaultLimit
	}
	if o.MaxTopics <= 0 || o.MaxTopics > hub.MaxTopics {
		o.MaxTopics = hub.MaxTopics
	}
	if o.MaxSelectors <= 0 || o.MaxSelectors > hub.MaxTopics {
		o.MaxSelectors = hub.MaxTopics
	}
	if o.MaxURLBytes <= 0 {
		o.MaxURLBytes = defaultMaxURLBytes
	}
	if o.BodyReadTimeout <= 0 {
		o.BodyReadTimeout = defaultBodyReadTimeout
	}
	if o.Exempt == nil {
		o.Exempt = Loopback
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.StatsInterval <= 0 {
		o.StatsInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// API is the HTTP handler of the native API.
type API struct {
	hub  *hub.Hub
	opts Options
	mux  *http.ServeMux

	// streams serves every event stream the API answers.
	streams *stream.Server
	mercure *mercure // nil when the Mercure door is off

	addrRate  *rateLimits // nil: no limit
	tokenRate *rateLimits

	stats        statsCache
	readMemStats func(*runtime.MemStats) // runtime.ReadMemStats; tests count calls
}

// New returns the API of h. Mount it on a server, or register its routes on
// your own mux with Register.
func New(h *hub.Hub, opts Options) *API {
	opts.setDefaults()
	a := &API{hub: h, opts: opts, mux: http.NewServeMux(), readMemStats: runtime.ReadMemStats}
	a.addrRate = newRateLimits(opts.PublishRatePerAddr, opts.Now)
	a.tokenRate = newRateLimits(opts.PublishRate, opts.Now)
	a.streams = stream.New(stream.Options{
		Heartbeat:          h.Heartbeat,
		Done:               h.Done(),
		Retry:              opts.Retry,
		ShutdownRetry:      opts.ShutdownRetry,
		ShutdownJitter:     opts.ShutdownJitter,
		WriteTimeout:       opts.WriteTimeout,
		MaxUnsent:          opts.MaxUnsentBytes,
		GoroutinePerStream: opts.GoroutinePerStream,
		Logger:             opts.Logger,
	})
	if opts.Mercure != nil {
		a.mercure = newMercure(a, *opts.Mercure)
	}
	a.Register(a.mux)
	return a
}

// Register adds the API's routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	a.route(mux, "/events", map[string]http.HandlerFunc{http.MethodGet: a.serveEvents, http.MethodPost: a.serveEvents})
	a.route(mux, "/publish", map[string]http.HandlerFunc{http.MethodPost: a.servePublish})
	a.route(mux, "/history", map[string]http.HandlerFunc{http.MethodGet: a.serveHistory})
	if !a.opts.NoStats {
		a.route(mux, "/api/stats", map[string]http.HandlerFunc{http.MethodGet: a.serveStats})
	}
	if a.mercure != nil {
		a.mercure.register(mux)
	}
	mux.HandleFunc("GET /healthz", a.serveHealth)
	mux.HandleFunc("GET /readyz", a.serveReady)
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }
