package sseclient

import (
	"context"
	"iter"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// Defaults of a [Client].
const (
	DefaultRetry      = 3 * time.Second
	DefaultMaxBackoff = 30 * time.Second
)

// Client holds what is needed to connect to one event stream. It is safe for
// concurrent use; each [Client.Connect] starts an independent [Stream].
type Client struct {
	url string
	cfg config
}

type config struct {
	httpClient        *http.Client
	method            string
	body              []byte
	header            http.Header
	lastEventID       string
	retry             time.Duration
	maxBackoff        time.Duration
	readTimeout       time.Duration
	maxEventSize      int
	retryServerErrors bool
	onComment         func(text string)

	// Seams for tests: the random part of a wait, and the timer it waits on.
	jitter   func(limit time.Duration) time.Duration
	newTimer func(d time.Duration) (c <-chan time.Time, stop func() bool)
}

// An Option configures a [Client].
type Option func(*config)

// WithHTTPClient sets the HTTP client that makes the requests; it must not
// have a Timeout, which would cut every stream. The default is
// http.DefaultClient. Redirects are followed as the client's CheckRedirect
// allows.
func WithHTTPClient(c *http.Client) Option { return func(cfg *config) { cfg.httpClient = c } }

// WithMethod makes the stream request use method and send body, on every
// connection. Without a Content-Type header (see [WithHeader]) a body is sent
// as text/plain.
func WithMethod(method string, body []byte) Option {
	return func(cfg *config) { cfg.method, cfg.body = method, body }
}

// WithHeader adds a header to every request. It may replace the Accept and
// Cache-Control headers the client sends by default.
func WithHeader(name, value string) Option {
	return func(cfg *config) { cfg.header.Add(name, value) }
}

// WithLastEventID starts the stream as if an event with this id had been
// received: the first request sends it as Last-Event-ID, and events without
// an id carry it.
func WithLastEventID(id string) Option { return func(cfg *config) { cfg.lastEventID = id } }

// WithRetry sets the reconnection time used until the server sets one with a
// "retry" field. The default is DefaultRetry. Zero reconnects at once after a
// connection that delivered events, as a browser does; if that attempt fails
// too, the waits start at 100 ms and double (see [WithMaxBackoff]), so that a
// server that is down is not hammered in a loop.
func WithRetry(d time.Duration) Option { return func(cfg *config) { cfg.retry = max(d, 0) } }

// WithMaxBackoff caps the doubling of the wait after repeated failures
// (jitter adds up to half of it again). A server's "retry" above the cap is
// still honoured. The default is DefaultMaxBackoff.
//
// The cap also bounds the 100 ms that a zero or short reconnection time
// backs off from: a cap below it shortens those waits, and zero together
// with a zero reconnection time makes every attempt immediate, however many
// fail in a row. Only ask for that against a server that can take it.
func WithMaxBackoff(d time.Duration) Option {
	return func(cfg *config) { cfg.maxBackoff = max(d, 0) }
}

// WithReadTimeout treats a connection that receives nothing for d, response
// headers included, as dropped: the stream reports ErrReadTimeout and
// reconnects. A server that sends heartbeat comments more often than d keeps
// an idle stream open. Zero, the default, means no timeout.
func WithReadTimeout(d time.Duration) Option {
	return func(cfg *config) { cfg.readTimeout = max(d, 0) }
}

// WithMaxEventSize sets the parser's limit (see [sse.Parser.MaxEventSize]).
// A larger event stops the stream with sse.ErrEventTooLarge.
func WithMaxEventSize(n int) Option { return func(cfg *config) { cfg.maxEventSize = n } }

// WithRetryOnServerErrors makes the stream retry after a 5xx or 429 answer,
// waiting at least the Retry-After the server gives, instead of stopping as
// the standard says.
func WithRetryOnServerErrors() Option { return func(cfg *config) { cfg.retryServerErrors = true } }

// WithComments makes the stream call fn with the text of every comment line
// (see [sse.Parser.OnComment]), from the goroutine calling Next, in stream
// order with the events.
func WithComments(fn func(text string)) Option { return func(cfg *config) { cfg.onComment = fn } }

// New returns a client for the event stream at url.
func New(url string, opts ...Option) *Client {
	cfg := config{
		httpClient: http.DefaultClient,
		method:     http.MethodGet,
		header:     make(http.Header),
		retry:      DefaultRetry,
		maxBackoff: DefaultMaxBackoff,
		jitter:     randomJitter,
		newTimer:   realTimer,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	return &Client{url: url, cfg: cfg}
}

// Connect returns a stream of the events at the client's URL. It connects on
// the first call to [Stream.Next]. The stream ends when ctx is done or
// [Stream.Close] is called.
func (c *Client) Connect(ctx context.Context) *Stream {
	return newStream(ctx, c)
}

// Events connects and returns the stream's events, as [Stream.Events] does.
func (c *Client) Events(ctx context.Context) iter.Seq2[sse.Event, error] {
	return c.Connect(ctx).Events()
}

func randomJitter(limit time.Duration) time.Duration {
	if limit <= 0 {
		return 0
	}
	return rand.N(limit + 1)
}

func realTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}
