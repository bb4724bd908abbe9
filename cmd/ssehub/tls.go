package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// TransportConfig is how clients reach the hub: TLS from files or from an
// ACME CA, HTTP/2 without TLS, and the private admin listener.
type TransportConfig struct {
	TLSCert        string
	TLSKey         string
	H2C            bool
	ACMEDomains    listFlag
	ACMEEmail      string
	ACMEDirectory  string
	ACMEHTTPListen string
	AdminListen    string
	AdminTokenFile string
	Pprof          string // deprecated: the same as AdminListen
}

func (c *TransportConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.TLSCert, "tls-cert", "", "serve HTTPS with this PEM certificate (chain) file; reread on SIGHUP and when it changes (needs --tls-key)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "the PEM private key of --tls-cert")
	fs.BoolVar(&c.H2C, "h2c", false, "also accept HTTP/2 without TLS (prior knowledge), for a proxy that speaks h2c to the hub")
	fs.Var(&c.ACMEDomains, "acme-domains", "get and renew certificates for these domains from an ACME CA (Let's Encrypt by default), comma-separated; kept in the data folder")
	fs.StringVar(&c.ACMEEmail, "acme-email", "", "contact address given to the ACME CA (optional)")
	fs.StringVar(&c.ACMEDirectory, "acme-directory", autocert.DefaultACMEDirectory, "the ACME CA's directory URL (e.g. Let's Encrypt's staging one while trying)")
	fs.StringVar(&c.ACMEHTTPListen, "acme-http-listen", ":80", "with --acme-domains, answer HTTP-01 challenges here and redirect other requests to https (empty: TLS-ALPN-01 challenges only)")
	fs.StringVar(&c.AdminListen, "admin-listen", "", "serve /metrics, /api/stats and /debug/pprof/ on this private address only, without a token (off when empty)")
	fs.StringVar(&c.AdminTokenFile, "admin-token-file", "", "turn on the JSON admin API (/api/admin/) on --admin-listen, for requests with \"Authorization: Bearer TOKEN\", TOKEN read from this file (off when empty)")
	fs.StringVar(&c.Pprof, "pprof", "", "deprecated: the same as --admin-listen")
}

// tlsOn reports whether the public listener speaks TLS.
func (c *TransportConfig) tlsOn() bool { return c.TLSCert != "" || len(c.ACMEDomains) > 0 }

// check refuses contradictory or incomplete transport settings, before
// anything listens. dataDir is the file store's folder ("" for memory:).
func (c *TransportConfig) check(dataDir string) error {
	if c.Pprof != "" {
		if c.AdminListen != "" && c.AdminListen != c.Pprof {
			return fmt.Errorf("--pprof %q and --admin-listen %q: --pprof is the old name of --admin-listen; give only --admin-listen", c.Pprof, c.AdminListen)
		}
		c.AdminListen = c.Pprof
	}
	if c.AdminTokenFile != "" && c.AdminListen == "" {
		return errors.New("--admin-token-file turns on the admin API of --admin-listen: give --admin-listen too")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together: give both or neither")
	}
	if c.TLSCert != "" && len(c.ACMEDomains) > 0 {
		return errors.New("--tls-cert and --acme-domains: choose certificate files or automatic certificates, not both")
	}
	if c.H2C && c.tlsOn() {
		return errors.New("--h2c is HTTP/2 without TLS; with TLS on, browsers and clients get HTTP/2 anyway")
	}
	if len(c.ACMEDomains) == 0 {
		if c.ACMEEmail != "" || c.ACMEDirectory != autocert.DefaultACMEDirectory {
			return errors.New("--acme-email and --acme-directory need --acme-domains: the domains to get certificates for")
		}
		return nil
	}
	if dataDir == "" {
		return errors.New("--acme-domains keeps its account key and certificates in the data folder: use a file store (--store file:DIR)")
	}
	return nil
}

// certFiles serves the certificate of a key pair of files and rereads
// them when asked (SIGHUP) or when they change, so a renewed certificate
// is used without a restart. A pair that fails to load is refused and the
// previous one kept, so a half-written renewal never takes the hub down.
type certFiles struct {
	certPath, keyPath string
	logger            *slog.Logger

	cur   atomic.Pointer[tls.Certificate]
	mu    sync.Mutex // serialises reloads
	stamp fileStamp  // of the files last tried
}

// fileStamp tells whether the files changed: os.Stat follows symbolic
// links, and a different file (a rename over it, a swapped link, as
// Kubernetes updates a mounted secret) counts even with the same size and
// time.
type fileStamp struct{ cert, key os.FileInfo }

func (s fileStamp) same(o fileStamp) bool { return sameFile(s.cert, o.cert) && sameFile(s.key, o.key) }

func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == b
	}
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

func loadCertFiles(certPath, keyPath string, logger *slog.Logger) (*certFiles, error) {
	c := &certFiles{certPath: certPath, keyPath: keyPath, logger: logger}
	c.stamp = c.currentStamp()
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *certFiles) currentStamp() fileStamp {
	var s fileStamp
	s.cert, _ = os.Stat(c.certPath)
	s.key, _ = os.Stat(c.keyPath)
	return s
}

func (c *certFiles) load() error {
	pair, err := tls.LoadX509KeyPair(c.certPath, c.keyPath)
	if err != nil {
		return fmt.Errorf("loading --tls-cert %s and --tls-key %s: %w", c.certPath, c.keyPath, err)
	}
	c.cur.Store(&pair)
	if pair.Leaf != nil {
		c.logger.Info("serving TLS certificate", "subject", pair.Leaf.Subject.String(),
			"names", pair.Leaf.DNSNames, "notAfter", pair.Leaf.NotAfter)
	}
	return nil
}

// GetCertificate is tls.Config.GetCertificate.
func (c *certFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cur.Load(), nil
}

// reload rereads the files; force rereads them even when they look
// unchanged (SIGHUP).
func (c *certFiles) reload(force bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.currentStamp()
	if !force && s.same(c.stamp) {
		return
	}
	c.stamp = s
	if err := c.load(); err != nil {
		c.logger.Warn("keeping the previous TLS certificate", "err", err)
	}
}

// watch reloads on every signal from hup and whenever the files change,
// checked every poll, until ctx ends.
func (c *certFiles) watch(ctx context.Context, poll time.Duration, hup <-chan os.Signal) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			c.reload(true)
		case <-t.C:
			c.reload(false)
		}
	}
}

// newACME returns the manager of automatic certificates, which keeps its
// account key and certificates in dataDir/acme and gets them only for the
// configured domains, whatever name a client asks for.
func newACME(c *TransportConfig, dataDir string) *autocert.Manager {
	return &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(filepath.Join(dataDir, "acme")),
		HostPolicy: autocert.HostWhitelist(c.ACMEDomains...),
		Email:      c.ACMEEmail,
		Client:     &acme.Client{DirectoryURL: c.ACMEDirectory},
	}
}

// selfTrust lets the hub's own HTTP clients (the demo publishers) reach it
// over TLS: they accept exactly the certificates this hub has just served,
// whoever signed them (a self-signed certificate on a laptop, an ACME one
// for a name that does not resolve to the loopback address).
type selfTrust struct {
	mu   sync.Mutex
	seen [8][sha256.Size]byte // the last certificates served, a ring
	next int
}

// wrap records each certificate that get returns.
func (s *selfTrust) wrap(get func(*tls.ClientHelloInfo) (*tls.Certificate, error)) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		cert, err := get(hello)
		if err == nil && cert != nil && len(cert.Certificate) > 0 {
			sum := sha256.Sum256(cert.Certificate[0])
			s.mu.Lock()
			if !s.has(sum) {
				s.seen[s.next] = sum
				s.next = (s.next + 1) % len(s.seen)
			}
			s.mu.Unlock()
		}
		return cert, err
	}
}

func (s *selfTrust) has(sum [sha256.Size]byte) bool {
	for _, v := range s.seen {
		if v == sum {
			return true
		}
	}
	return false
}

// client returns an HTTP client for this hub's own address: it checks
// that the certificate is one the hub served rather than its signer.
func (s *selfTrust) client(serverName string) *http.Client {
	cfg := &tls.Config{
		ServerName: serverName,
		MinVersion: tls.VersionTLS12,
		// The chain is not checked against roots, VerifyConnection
		// checks the certificate itself instead.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no certificate")
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			s.mu.Lock()
			defer s.mu.Unlock()
			if !s.has(sum) {
				return errors.New("not a certificate this hub served")
			}
			return nil
		},
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
}
