package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/ssehub/ssehub/demo"
	"github.com/ssehub/ssehub/docs"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/web"
)

// Config is everything `ssehub serve` can be told.
type Config struct {
	Listen          string
	Store           string
	Auth            AuthConfig
	Heartbeat       time.Duration
	Retry           time.Duration
	QueueSize       int
	QueueBytes      sizeFlag
	UnsentBytes     sizeFlag
	RecentBytes     sizeFlag
	RetentionEvents int64
	RetentionAge    time.Duration
	RetentionBytes  sizeFlag
	Sync            string
	ShutdownTimeout time.Duration
	ShutdownRetry   time.Duration
	ShutdownJitter  time.Duration
	Demo            bool
	LogLevel        string
	LogFormat       string
	ConfigFile      string // read by parseFlags (flags.go); here for its usage text
	EventLoop       bool
	WriteTimeout    time.Duration
	TransportConfig // TLS, HTTP/2, the admin listener (tls.go)
	Limits          Limits
	Mercure         mercureConfig
}

// Limits are the flags that bound what one request, client or token may
// ask of the hub (see docs/security.md).
type Limits struct {
	MaxBodyBytes       sizeFlag
	MaxDataBytes       sizeFlag
	MaxBatch           int
	MaxTopics          int
	MaxSelectors       int
	MaxURLBytes        sizeFlag
	MaxHeaderBytes     sizeFlag
	MaxConns           int
	MaxConnsPerAddr    int
	MaxSetups          int
	PublishRate        float64
	PublishRatePerAddr float64
	Exempt             prefixFlag
	ReadHeaderTimeout  time.Duration
	BodyReadTimeout    time.Duration
	IdleTimeout        time.Duration
}

func (l *Limits) register(fs *flag.FlagSet) {
	l.MaxBodyBytes, l.MaxDataBytes, l.MaxURLBytes, l.MaxHeaderBytes = 4<<20, hub.DefaultLimit, 8<<10, 64<<10
	fs.Var(&l.MaxBodyBytes, "max-body-bytes", "largest publish request body (413 over it)")
	fs.Var(&l.MaxDataBytes, "max-data-bytes", "largest data of one event (413 over it)")
	fs.IntVar(&l.MaxBatch, "max-batch", 1000, "most events in one publish request (413 over it)")
	fs.IntVar(&l.MaxTopics, "max-topics", hub.MaxTopics, fmt.Sprintf("most topics of one event, at most %d (413 over it)", hub.MaxTopics))
	fs.IntVar(&l.MaxSelectors, "max-selectors", hub.MaxTopics, fmt.Sprintf("most topic selectors of one subscription or history request, at most %d (414 over it)", hub.MaxTopics))
	fs.Var(&l.MaxURLBytes, "max-url-bytes", "longest request URL, path and query (414 over it)")
	fs.Var(&l.MaxHeaderBytes, "max-header-bytes", "largest request line and headers (net/http answers 431 over it)")
	fs.IntVar(&l.MaxConns, "max-conns", defaultMaxConns(), "most connections open at once (503 over it; 0: no limit; default: the open-file limit less 512)")
	fs.IntVar(&l.MaxConnsPerAddr, "max-conns-per-addr", 1024, "most connections from one client address, an IPv4 address or IPv6 /64 (429 over it; 0: no limit)")
	fs.IntVar(&l.MaxSetups, "max-setups", defaultMaxSetups(), "most new connections being accepted and having their first request handled at once, the others waiting in the accept queue, so a reconnect storm does not hold back live delivery (0: no bound; default: 4 per core, at least 8)")
	fs.Float64Var(&l.PublishRate, "publish-rate", 0, "publish requests a second for one token, with bursts of a second's worth (429 over it; 0: no limit)")
	fs.Float64Var(&l.PublishRatePerAddr, "publish-rate-per-addr", 100, "publish requests a second from one client address, with bursts of a second's worth (429 over it; 0: no limit)")
	l.Exempt.prefixes = httpapi.Loopback
	fs.Var(&l.Exempt, "limit-exempt", "client addresses the per-address limits do not apply to, such as your reverse proxy's (comma-separated addresses or prefixes, or none)")
	fs.DurationVar(&l.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "how long a client may take to send its request's headers")
	fs.DurationVar(&l.BodyReadTimeout, "body-read-timeout", 30*time.Second, "how long a publish body may take to arrive (408 after it)")
	fs.DurationVar(&l.IdleTimeout, "idle-timeout", 2*time.Minute, "how long a kept-alive connection may wait for its next request")
}

// check refuses limits the hub cannot honour.
func (l *Limits) check() error {
	switch {
	case l.MaxTopics < 1 || l.MaxTopics > hub.MaxTopics:
		return fmt.Errorf("--max-topics must be from 1 to %d", hub.MaxTopics)
	case l.MaxSelectors < 1 || l.MaxSelectors > hub.MaxTopics:
		return fmt.Errorf("--max-selectors must be from 1 to %d", hub.MaxTopics)
	case l.MaxBatch < 1:
		return errors.New("--max-batch must be at least 1")
	case l.MaxBodyBytes < 1 || l.MaxDataBytes < 1 || l.MaxURLBytes < 1 || l.MaxHeaderBytes < 1:
		return errors.New("--max-body-bytes, --max-data-bytes, --max-url-bytes and --max-header-bytes must be positive")
	case l.MaxConns < 0 || l.MaxConnsPerAddr < 0 || l.MaxSetups < 0 || l.PublishRate < 0 || l.PublishRatePerAddr < 0:
		return errors.New("--max-conns, --max-conns-per-addr, --max-setups, --publish-rate and --publish-rate-per-addr must not be negative")
	case l.ReadHeaderTimeout <= 0 || l.BodyReadTimeout <= 0 || l.IdleTimeout <= 0:
		return errors.New("--read-header-timeout, --body-read-timeout and --idle-timeout must be positive")
	}
	return nil
}

// defaultMaxConns leaves room under the open-file limit for the store, the
// listeners and refused connections waiting for their answer.
func defaultMaxConns() int {
	n := openFileLimit()
	if n <= 0 {
		return 100_000
	}
	return max(64, n-512)
}

// defaultMaxSetups bounds the setups of new connections well above what
// keeps the cores busy (one takes tens of microseconds of CPU), and low
// enough that live work waits behind few of them.
func defaultMaxSetups() int { return max(8, 4*defaultProcs) }

func (c *Config) register(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", ":8080", "address to listen on")
	fs.StringVar(&c.Store, "store", "file:./ssehub-data", "where events are kept: file:DIR (durable), memory:, or a log shared by a cluster: redis://HOST:PORT[/DB][?stream=NAME] or nats://HOST:PORT[?stream=NAME]")
	c.Auth.register(fs)
	fs.DurationVar(&c.Heartbeat, "heartbeat", 15*time.Second, "interval of heartbeat comments on idle streams")
	fs.DurationVar(&c.Retry, "retry", 0, "reconnection delay sent to clients when their stream opens (0: the client's default)")
	fs.IntVar(&c.QueueSize, "queue-size", 4096, "events that may wait for one subscriber before it is disconnected as too slow (0: the default, 4096)")
	c.QueueBytes = 4 << 20
	fs.Var(&c.QueueBytes, "queue-bytes", "bytes of events that may wait for one subscriber before it is disconnected as too slow, e.g. 4MiB (0: the default, 4MiB)")
	c.UnsentBytes = 4 << 20
	fs.Var(&c.UnsentBytes, "unsent-bytes", "bytes a stream's socket may leave unsent before the stream is closed as too slow (event loop), e.g. 4MiB")
	c.RecentBytes = 16 << 20
	fs.Var(&c.RecentBytes, "recent-bytes", "bytes of the latest events kept encoded in memory, so reconnecting clients resume without reading the log (0: none)")
	fs.Int64Var(&c.RetentionEvents, "retention-events", 0, "keep at most this many events (0: no bound)")
	fs.DurationVar(&c.RetentionAge, "retention-age", 7*24*time.Hour, "keep events at most this long (0: no bound)")
	c.RetentionBytes = 1 << 30
	fs.Var(&c.RetentionBytes, "retention-bytes", "keep at most about this many bytes of events, e.g. 1GiB (0: no bound)")
	fs.StringVar(&c.Sync, "sync", "always", "file store sync policy: always (fsync before acknowledging), batch, none")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a graceful shutdown may take")
	fs.DurationVar(&c.ShutdownRetry, "shutdown-retry", time.Second, "at shutdown, clients are told to reconnect after this delay…")
	fs.DurationVar(&c.ShutdownJitter, "shutdown-jitter", 4*time.Second, "…plus a random part of this, so a restart does not bring them all back at once")
	fs.BoolVar(&c.Demo, "demo", true, "serve the demos and run their publishers")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "text (key=value lines) or json (one object per line)")
	fs.StringVar(&c.ConfigFile, "config", "", "read settings from this TOML file (flags and SSEHUB_* variables win over it)")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", 10*time.Second, "a stream whose client has not taken what is waiting for it within this long is closed; the client resumes when it reconnects")
	fs.BoolVar(&c.EventLoop, "event-loop", true, "serve plain HTTP/1 streams from an event loop, without a goroutine each (Linux; false: a goroutine per stream)")
	c.TransportConfig.register(fs)
	c.Limits.register(fs)
	c.Mercure.register(fs)
}

func (c *Config) retention() hub.Retention {
	return hub.Retention{MaxEvents: c.RetentionEvents, MaxAge: c.RetentionAge, MaxBytes: int64(c.RetentionBytes)}
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var cfg Config
	fs := newFlagSet("serve", stderr)
	cfg.register(fs)
	getenv, ignored := mercureEnv(getenv)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if err := refuseArgs(fs); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	logger, err := newLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	if err != nil {
		return err
	}
	if len(ignored) > 0 {
		logger.Warn("ignoring Mercure directives ssehub has no equivalent of; see docs/mercure.md", "directives", ignored)
	}
	if procs := storeProcs(cfg.Store, cfg.Sync, getenv("GOMAXPROCS")); procs != runtime.GOMAXPROCS(0) {
		runtime.GOMAXPROCS(procs)
		if procs > defaultProcs {
			logger.Info("one P more than CPUs, so that fsyncs under --sync always hold no request back (GOMAXPROCS chooses otherwise)", "gomaxprocs", procs, "cpus", defaultProcs)
		}
	}
	m := &Main{Config: cfg, Out: stdout, Terminal: isTerminal(stdout), Logger: logger}
	if err := m.Open(ctx); err != nil {
		return err
	}
	return m.Run(ctx)
}

// Main is the running hub: the one place that wires a store, the hub, its
// front doors, the pages and the demos together. Tests start it end to end.
type Main struct {
	Config Config
	Out    io.Writer // where the first-start instructions go
	// Terminal says Out is a terminal, where a generated key may be shown;
	// otherwise (a journal, a file) only where it is kept is logged.
	Terminal bool
	Logger   *slog.Logger

	log      hub.Log
	hub      *hub.Hub
	api      *httpapi.API
	demos    *demo.Demos
	server   *http.Server
	listener net.Listener
	conns    *httpapi.ConnLimiter
	auth     verifiers
	dataDir  string
	tr       transport
}

// Open opens the store, starts the hub and listens, without serving yet.
func (m *Main) Open(ctx context.Context) (err error) {
	if m.Logger == nil {
		m.Logger = slog.New(slog.DiscardHandler)
	}
	if m.Out == nil {
		m.Out = io.Discard
	}
	if m.log, m.dataDir, err = openStore(ctx, m.Config, m.Logger); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			m.log.Close()
		}
	}()
	if err = m.Config.TransportConfig.check(m.dataDir); err != nil {
		return err
	}
	if m.auth, err = m.openVerifiers(ctx); err != nil {
		return err
	}
	m.hub, err = hub.New(m.log, hub.Options{
		QueueSize:    m.Config.QueueSize,
		QueueBytes:   int(m.Config.QueueBytes),
		RecentBytes:  recentBytes(m.Config.RecentBytes),
		Heartbeat:    m.Config.Heartbeat,
		MaxDataBytes: int(m.Config.Limits.MaxDataBytes),
		Logger:       m.Logger,
	})
	if err != nil {
		return err
	}
	if m.listener, err = net.Listen("tcp", m.Config.Listen); err != nil {
		m.hub.Close()
		return err
	}
	// Counted at the listener, under any TLS, so that streams the event
	// loop took from net/http are counted until they close.
	lim := m.Config.Limits
	m.conns = httpapi.NewConnLimiter(httpapi.ConnLimits{Max: lim.MaxConns, MaxPerAddr: lim.MaxConnsPerAddr, Exempt: lim.Exempt.prefixes, Setups: lim.MaxSetups})
	m.listener = m.conns.Listener(m.listener)
	if err = m.openTransport(); err != nil {
		m.hub.Close()
		m.listener.Close()
		return err
	}
	handler, err := m.handler()
	if err == nil && m.tr.adminLn != nil {
		m.tr.adminHandler, err = m.adminHandler()
	}
	if err != nil {
		m.hub.Close()
		m.listener.Close()
		m.closeTransport()
		return err
	}
	m.server = &http.Server{
		Handler:           m.conns.Handler(handler),
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    int(lim.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelDebug),
		ConnState:         m.conns.ConnState,
	}
	m.configureServer(m.server)
	m.Logger.Info("ssehub listening", "addr", m.listener.Addr().String(), "scheme", m.scheme(), "store", maskURL(m.Config.Store))
	return nil
}

// Addr returns the address the hub listens on.
func (m *Main) Addr() net.Addr { return m.listener.Addr() }

func (m *Main) handler() (http.Handler, error) {
	mux := http.NewServeMux()
	demos := m.Config.Demo
	if why := m.demosUnusable(m.auth); demos && why != "" {
		m.Logger.Warn("not serving the demos", "reason", why)
		demos = false
	}
	site, err := web.New(web.Options{Demos: demos, DocsURL: "/docs/", StatsElsewhere: m.Config.AdminListen != ""})
	if err != nil {
		return nil, err
	}
	site.Register(mux)
	mux.Handle("GET /docs/", http.StripPrefix("/docs", docs.Handler()))
	// With an admin listener, what only operators need is served there
	// alone; without one, here, so the dashboard works on a laptop.
	public := m.Config.AdminListen == ""
	if public {
		mux.Handle("GET /metrics", m.metricsHandler())
	}
	if demos {
		m.demos, err = demo.New(demo.Options{
			Hub:        m.hub,
			PublishURL: m.scheme() + "://" + loopbackAddr(m.listener.Addr()),
			HTTPClient: m.selfClient(),
			Key:        m.auth.publisherSecret,
			Logger:     m.Logger.With("component", "demo"),
		})
		if err != nil {
			return nil, err
		}
		m.demos.Register(mux)
	}
	lim := m.Config.Limits
	opts := httpapi.Options{
		Publishers:      m.auth.publishers,
		Subscribers:     m.auth.subscribers,
		RefuseAnonymous: !m.Config.Auth.Anonymous,
		CORSOrigins:     m.Config.Auth.CORSOrigins,
		PublishOrigins:  m.Config.Auth.PublishOrigins,
		Retry:           m.Config.Retry,
		ShutdownRetry:   m.Config.ShutdownRetry,
		ShutdownJitter:  m.Config.ShutdownJitter,
		WriteTimeout:    m.Config.WriteTimeout,
		MaxUnsentBytes:  int(m.Config.UnsentBytes),
		Logger:          m.Logger,
		NoStats:         !public,

		MaxBodyBytes:       int64(lim.MaxBodyBytes),
		MaxDataBytes:       int(lim.MaxDataBytes),
		MaxBatch:           lim.MaxBatch,
		MaxTopics:          lim.MaxTopics,
		MaxSelectors:       lim.MaxSelectors,
		MaxURLBytes:        int(lim.MaxURLBytes),
		BodyReadTimeout:    lim.BodyReadTimeout,
		PublishRate:        lim.PublishRate,
		PublishRatePerAddr: lim.PublishRatePerAddr,
		Exempt:             lim.Exempt.prefixes,

		GoroutinePerStream: !m.Config.EventLoop,
	}
	if opts.Mercure, err = m.Config.Mercure.options(); err != nil {
		return nil, err
	}
	if c, ok := m.log.(clusterNode); ok {
		opts.Cluster, opts.NodeName = c, m.nodeName()
	}
	m.api = httpapi.New(m.hub, opts)
	m.api.Register(mux)
	return withRequestLog(mux, m.Logger), nil
}

// recentBytes is hub.Options.RecentBytes for --recent-bytes, whose 0
// means none (the option's 0 is its default).
func recentBytes(flag sizeFlag) int {
	if flag == 0 {
		return -1
	}
	return int(flag)
}

// loopbackAddr returns an address this process can reach addr at: a
// wildcard host (":8080", "0.0.0.0", "::") becomes the loopback address.
func loopbackAddr(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
}

// Run serves until ctx ends, then shuts down gracefully: it stops accepting,
// tells every stream when to come back, closes them, and syncs and closes
// the log, all within ShutdownTimeout.
func (m *Main) Run(ctx context.Context) error {
	served := make(chan error, 1)
	go func() { served <- m.servePublic() }()
	stopTransport := m.startTransport()
	stopDemos := m.startDemos()
	stopReports := m.startClusterReports()
	select {
	case err := <-served:
		stopDemos()
		stopReports()
		m.hub.Close()
		stopTransport(context.Background())
		m.log.Close()
		return err
	case <-ctx.Done():
	}
	stopDemos()
	stopReports()
	m.Logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- m.server.Shutdown(sctx) }()
	m.hub.Close() // ends every stream, which lets Shutdown finish
	err := <-shut
	if err != nil {
		m.server.Close()
	}
	<-served
	// The streams taken over from the server get their last frame and end.
	if derr := m.api.Drain(sctx); derr != nil && err == nil {
		err = derr
	}
	stopTransport(sctx) // the hub has closed, which ended the admin's streams
	if cerr := m.log.Close(); cerr != nil {
		return fmt.Errorf("closing the log: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	m.Logger.Info("stopped")
	return nil
}

// startDemos runs the demo publishers, if any, and returns a function that
// stops them and waits until they have.
func (m *Main) startDemos() (stop func()) {
	if m.demos == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.demos.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}
