// Package httpapi serves the hub over HTTP: the event stream, publishing,
// history, health and readiness, with CORS and the limits a server exposed
// to the internet needs. It is a thin adapter: every decision about events
// is the hub's.
package httpapi

import (
	"log/slog"
	"net/http"
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
	// MaxBodyBytes limits a publish request body (default 16 MiB).
	MaxBodyBytes int64
	// MaxBatch limits how many events one publish request may carry
	// (default 1000).
	MaxBatch int
	// StatsInterval is how often GET /api/stats sends figures (default 1s).
	// One reading per interval is shared by every viewer.
	StatsInterval time.Duration
	// NoStats leaves GET /api/stats out of Register's routes, to serve
	// Stats() on a private listener only.
	NoStats bool
	// Logger receives request errors (default: discarded).
	Logger *slog.Logger
	// GoroutinePerStream serves every event stream with a goroutine of
	// its own through net/http, as HTTP/2 and TLS streams always are. By
	// default a plain HTTP/1 stream is taken over from net/http and
	// served by an event loop, which holds an idle stream with no
	// goroutine and no buffer (Linux; elsewhere this is the only way).
	GoroutinePerStream bool
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
		o.MaxBodyBytes = 16 << 20
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1000
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

	stats        statsCache
	readMemStats func(*runtime.MemStats) // runtime.ReadMemStats; tests count calls
}

// New returns the API of h. Mount it on a server, or register its routes on
// your own mux with Register.
func New(h *hub.Hub, opts Options) *API {
	opts.setDefaults()
	a := &API{hub: h, opts: opts, mux: http.NewServeMux(), readMemStats: runtime.ReadMemStats}
	a.streams = stream.New(stream.Options{
		Heartbeat:          h.Heartbeat,
		Done:               h.Done(),
		Retry:              opts.Retry,
		ShutdownRetry:      opts.ShutdownRetry,
		ShutdownJitter:     opts.ShutdownJitter,
		WriteTimeout:       opts.WriteTimeout,
		GoroutinePerStream: opts.GoroutinePerStream,
		Logger:             opts.Logger,
	})
	a.Register(a.mux)
	return a
}

// Register adds the API's routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	a.route(mux, "/events", map[string]http.HandlerFunc{http.MethodGet: a.serveEvents})
	a.route(mux, "/publish", map[string]http.HandlerFunc{http.MethodPost: a.servePublish})
	a.route(mux, "/history", map[string]http.HandlerFunc{http.MethodGet: a.serveHistory})
	if !a.opts.NoStats {
		a.route(mux, "/api/stats", map[string]http.HandlerFunc{http.MethodGet: a.serveStats})
	}
	mux.HandleFunc("GET /healthz", a.serveHealth)
	mux.HandleFunc("GET /readyz", a.serveReady)
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }
