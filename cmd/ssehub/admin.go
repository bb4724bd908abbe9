package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/acme/autocert"

	"github.com/ssehub/ssehub/metrics"
	"github.com/ssehub/ssehub/web"
)

// transport is what the hub serves beside its plain public listener: TLS
// on it, and the admin and ACME HTTP-01 listeners.
type transport struct {
	tlsConfig *tls.Config       // nil: plain HTTP
	certs     *certFiles        // --tls-cert/--tls-key
	acme      *autocert.Manager // --acme-domains
	trust     selfTrust
	hup       chan os.Signal
	certPoll  time.Duration // how often certificate files are checked for a change

	adminToken      string // from --admin-token-file; empty: no admin API
	adminLn, acmeLn net.Listener
	adminHandler    http.Handler // made in Open, once the API is
	admin, acmeHTTP *http.Server
	watchStop       context.CancelFunc
	watchDone       chan struct{}
}

// openTransport loads certificates and opens the extra listeners, so that
// a bad certificate or a busy port stops the start. On error nothing is
// left open.
func (m *Main) openTransport() (err error) {
	c, tr := &m.Config.TransportConfig, &m.tr
	defer func() {
		if err != nil {
			m.closeTransport()
		}
	}()
	switch {
	case c.TLSCert != "":
		if tr.certs, err = loadCertFiles(c.TLSCert, c.TLSKey, m.Logger.With("component", "tls")); err != nil {
			return err
		}
		tr.tlsConfig = &tls.Config{GetCertificate: tr.trust.wrap(tr.certs.GetCertificate)}
		// Registered now, not in Run, so a SIGHUP that comes once Open
		// has returned never takes the default action (exit).
		tr.hup = make(chan os.Signal, 1)
		signal.Notify(tr.hup, syscall.SIGHUP)
	case len(c.ACMEDomains) > 0:
		tr.acme = newACME(c, m.dataDir)
		tr.tlsConfig = tr.acme.TLSConfig()
		tr.tlsConfig.GetCertificate = tr.trust.wrap(tr.tlsConfig.GetCertificate)
		if c.ACMEHTTPListen != "" {
			if tr.acmeLn, err = net.Listen("tcp", c.ACMEHTTPListen); err != nil {
				return fmt.Errorf("--acme-http-listen: %w", err)
			}
		}
	}
	if tr.tlsConfig != nil {
		tr.tlsConfig.MinVersion = tls.VersionTLS12
	}
	if c.Pprof != "" {
		m.Logger.Warn("--pprof is deprecated: it is now --admin-listen, which also serves /metrics and /api/stats there and no longer on --listen", "addr", c.Pprof)
	}
	if c.AdminTokenFile != "" {
		if tr.adminToken, err = readAdminToken(c.AdminTokenFile); err != nil {
			return err
		}
	}
	if c.AdminListen != "" {
		if tr.adminLn, err = net.Listen("tcp", c.AdminListen); err != nil {
			return fmt.Errorf("--admin-listen: %w", err)
		}
	}
	return nil
}

// closeTransport closes what openTransport opened, when Run never comes.
func (m *Main) closeTransport() {
	tr := &m.tr
	if tr.hup != nil {
		signal.Stop(tr.hup)
	}
	for _, ln := range []net.Listener{tr.adminLn, tr.acmeLn} {
		if ln != nil {
			ln.Close()
		}
	}
}

// configureServer sets the public server's protocols: HTTP/1.1 and HTTP/2
// over TLS (net/http negotiates h2 by ALPN), or plain HTTP/1 and, with
// --h2c, HTTP/2 with prior knowledge.
func (m *Main) configureServer(s *http.Server) {
	s.TLSConfig = m.tr.tlsConfig
	if m.Config.H2C {
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		s.Protocols = &p
	}
}

// scheme is the public listener's URL scheme.
func (m *Main) scheme() string {
	if m.Config.tlsOn() {
		return "https"
	}
	return "http"
}

// selfClient is the HTTP client the hub's own publishers (the demos) use
// to reach its public listener: nil (the default client) without TLS.
func (m *Main) selfClient() *http.Client {
	if m.tr.tlsConfig == nil {
		return nil
	}
	name := "localhost"
	if len(m.Config.ACMEDomains) > 0 {
		name = m.Config.ACMEDomains[0] // the only names it has certificates for
	}
	return m.tr.trust.client(name)
}

// servePublic serves the public listener until it is shut down.
func (m *Main) servePublic() error {
	if m.tr.tlsConfig != nil {
		return m.server.ServeTLS(m.listener, "", "")
	}
	return m.server.Serve(m.listener)
}

// startTransport serves the admin and ACME listeners and watches the
// certificate files. The returned stop ends them within ctx.
func (m *Main) startTransport() (stop func(ctx context.Context)) {
	tr := &m.tr
	if tr.certs != nil {
		if tr.certPoll <= 0 {
			tr.certPoll = 5 * time.Second
		}
		var ctx context.Context
		ctx, tr.watchStop = context.WithCancel(context.Background())
		tr.watchDone = make(chan struct{})
		go func() {
			defer close(tr.watchDone)
			tr.certs.watch(ctx, tr.certPoll, tr.hup)
		}()
	}
	if tr.adminLn != nil {
		tr.admin = m.newInternalServer(tr.adminHandler)
		go tr.admin.Serve(tr.adminLn)
		m.Logger.Info("serving the admin dashboard, /metrics, /api/stats, /api/admin/ and /debug/pprof/ on the admin listener", "addr", tr.adminLn.Addr().String())
	}
	if tr.acmeLn != nil {
		// Challenges are answered; anything else is sent to https.
		tr.acmeHTTP = m.newInternalServer(tr.acme.HTTPHandler(nil))
		go tr.acmeHTTP.Serve(tr.acmeLn)
		m.Logger.Info("answering ACME HTTP-01 challenges", "addr", tr.acmeLn.Addr().String(), "domains", m.Config.ACMEDomains)
	}
	return func(ctx context.Context) {
		for _, s := range []*http.Server{tr.admin, tr.acmeHTTP} {
			if s != nil && s.Shutdown(ctx) != nil {
				s.Close()
			}
		}
		if tr.watchStop != nil {
			tr.watchStop()
			<-tr.watchDone
		}
		if tr.hup != nil {
			signal.Stop(tr.hup)
		}
	}
}

func (m *Main) newInternalServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: m.server.ErrorLog}
}

// adminHandler serves what an operator, not a client, needs. Its port is
// private, so it asks for no token but the admin API's: bind it to a
// loopback or internal address. Its dashboard is served here too, so the
// page reads the admin API from its own origin, with no CORS to open.
func (m *Main) adminHandler() (http.Handler, error) {
	site, err := web.New(web.Options{Admin: true})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	site.Register(mux)
	mux.Handle("GET /metrics", m.metricsHandler())
	mux.Handle("GET /api/stats", m.api.Stats())
	mux.Handle("/api/admin/", m.api.Admin(m.tr.adminToken))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", maskedCmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux, nil
}

// maskedCmdline answers /debug/pprof/cmdline as pprof.Cmdline does, the
// arguments separated by NUL bytes, but masked by maskArgs. The admin
// listener asks for no token, and the command line may hold --jwt-key, the
// store's password or a JWKS URL's token: whoever reaches the profiler
// must not get the keys to publish as anyone.
func maskedCmdline(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, strings.Join(maskArgs(os.Args), "\x00"))
}

// AdminAddr returns the admin listener's address, or nil without one.
func (m *Main) AdminAddr() net.Addr {
	if m.tr.adminLn == nil {
		return nil
	}
	return m.tr.adminLn.Addr()
}

// ACMEHTTPAddr returns the address of the ACME HTTP-01 listener, or nil.
func (m *Main) ACMEHTTPAddr() net.Addr {
	if m.tr.acmeLn == nil {
		return nil
	}
	return m.tr.acmeLn.Addr()
}

// readAdminToken reads the admin API's token: the file's content without
// surrounding white space, at least 16 bytes so it cannot be guessed.
func readAdminToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--admin-token-file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return "", fmt.Errorf("--admin-token-file %s: the token is %d bytes, want at least 16 (for example: openssl rand -hex 32)", path, len(tok))
	}
	return tok, nil
}

// streamFigures reads the event loop's figures for /metrics.
func (m *Main) streamFigures() metrics.Streams {
	f := m.api.StreamFigures()
	return metrics.Streams{Held: f.Looped, Blocked: f.Blocked, WriteTimeouts: f.WriteTimeouts}
}
