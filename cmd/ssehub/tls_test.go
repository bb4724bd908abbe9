package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCert is a self-signed certificate made for one test; its key is
// never written anywhere but the test's temporary folder.
type testCert struct {
	leaf            *x509.Certificate
	certPEM, keyPEM []byte
}

func newTestCert(t testing.TB, cn string, names ...string) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(90 * 24 * time.Hour),
		DNSNames:              append([]string{"localhost"}, names...),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true, // its own root, so a client can trust just it
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return testCert{
		leaf:    leaf,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
}

// write puts the pair at certPath and keyPath, each by a rename, as a
// careful renewal tool does.
func (c testCert) write(t testing.TB, certPath, keyPath string) {
	t.Helper()
	for path, data := range map[string][]byte{keyPath: c.keyPEM, certPath: c.certPEM} {
		tmp := path + ".new"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
}

func certPool(certs ...testCert) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c.leaf)
	}
	return pool
}

// tlsClient is an HTTP client that trusts only certs and speaks HTTP/2
// when the server offers it, as browsers do.
func tlsClient(serverName string, certs ...testCert) *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: certPool(certs...), ServerName: serverName},
		ForceAttemptHTTP2: true,
	}}
}

// tlsHub writes a fresh certificate and returns a configuration serving
// it, with the pair's paths.
func tlsHub(t *testing.T, store string) (Config, testCert, string, string) {
	dir := t.TempDir()
	cfg := testConfig(t, store)
	cert := newTestCert(t, "first")
	cfg.TLSCert, cfg.TLSKey = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert.write(t, cfg.TLSCert, cfg.TLSKey)
	return cfg, cert, cfg.TLSCert, cfg.TLSKey
}

// runMain opens Main with cfg, lets tweak adjust it, and runs it until the
// test ends or the returned stop is called.
func runMain(t *testing.T, cfg Config, logger *slog.Logger, tweak func(*Main)) (*Main, func()) {
	t.Helper()
	m := &Main{Config: cfg, Logger: logger}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return m, stop
}

// rawLines reads a response body line by line, comments included.
func rawLines(t *testing.T, resp *http.Response) <-chan string {
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		resp.Body.Close()
		for range lines {
		}
	})
	return lines
}

// nextLine returns the next line starting with prefix, skipping others.
func nextLine(t *testing.T, lines <-chan string, prefix string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended before a line starting %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-deadline:
			t.Fatalf("no line starting %q within 10s", prefix)
		}
	}
}

func getStream(t *testing.T, c *http.Client, url string, header http.Header) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if header != nil {
		req.Header = header
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return resp
}

func publishWith(t *testing.T, c *http.Client, base, body string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/publish", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+publisherToken(t))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("publish over %s: %s %s", resp.Proto, resp.Status, b)
	}
	_, id, _ := strings.Cut(string(b), `"id":"`)
	id, _, _ = strings.Cut(id, `"`)
	return id
}

// TestTLSServesHTTP2Streams: with --tls-cert and --tls-key the hub speaks
// HTTPS, a client that offers h2 gets HTTP/2, and a stream over it gets
// its first line, heartbeats and events at once (each flushed), resumes
// with Last-Event-ID, and is told when to come back at shutdown.
func TestTLSServesHTTP2Streams(t *testing.T) {
	for _, loop := range []bool{true, false} {
		t.Run(map[bool]string{true: "event-loop", false: "goroutines"}[loop], func(t *testing.T) {
			cfg, cert, _, _ := tlsHub(t, "memory:")
			cfg.EventLoop = loop
			cfg.Heartbeat = 100 * time.Millisecond
			cfg.ShutdownRetry, cfg.ShutdownJitter = 2*time.Second, time.Millisecond
			m, stop := runMain(t, cfg, nil, nil)
			base := "https://" + m.Addr().String()
			c := tlsClient("", cert)

			resp := getStream(t, c, base+"/events?topic=t", nil)
			if resp.ProtoMajor != 2 || resp.TLS == nil {
				t.Fatalf("stream over %s (TLS %v), want HTTP/2 over TLS", resp.Proto, resp.TLS != nil)
			}
			lines := rawLines(t, resp)
			nextLine(t, lines, ":") // the first line, flushed with the headers
			nextLine(t, lines, ":") // a heartbeat
			first := publishWith(t, c, base, `{"topic":"t","data":"one"}`)
			second := publishWith(t, c, base, `{"topic":"t","data":"two"}`)
			for _, want := range []string{"id: " + first, "data: one", "id: " + second, "data: two"} {
				if got := nextLine(t, lines, want[:3]); got != want {
					t.Fatalf("got %q, want %q", got, want)
				}
			}

			resumed := getStream(t, c, base+"/events?topic=t", http.Header{"Last-Event-ID": {first}})
			rl := rawLines(t, resumed)
			if got := nextLine(t, rl, "data: "); got != "data: two" {
				t.Fatalf("resumed after %s: got %q, want the second event", first, got)
			}

			stop()
			if got := nextLine(t, lines, "retry: "); got != "retry: 2000" {
				t.Errorf("at shutdown the HTTP/2 stream got %q, want retry: 2000", got)
			}
		})
	}
}

// TestTLSHTTP11StreamsKeepTheirConnection: over TLS an HTTP/1.1 stream
// is served through net/http, not the event loop, so its answer says
// keep-alive (docs/api.md), and the connection does serve the client's
// next request once the stream ended.
func TestTLSHTTP11StreamsKeepTheirConnection(t *testing.T) {
	cfg, cert, _, _ := tlsHub(t, "memory:")
	m, stop := runMain(t, cfg, nil, nil)
	defer stop()
	base := "https://" + m.Addr().String()
	conns := 0
	c := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: certPool(cert)},
		TLSNextProto:    map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1 only
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conns++
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	resp := getStream(t, c, base+"/events?topic=t", nil)
	if resp.ProtoMajor != 1 || resp.Close || resp.Header.Get("Connection") != "keep-alive" {
		t.Fatalf("stream over %s, Close %v, Connection %q; want HTTP/1.1 kept alive", resp.Proto, resp.Close, resp.Header.Get("Connection"))
	}
	lines := rawLines(t, resp)
	nextLine(t, lines, ":")
	subs := m.hub.Subscribers()
	if len(subs) != 1 || !m.hub.Disconnect(subs[0].ID) {
		t.Fatalf("subscribers %+v: want one to disconnect", subs)
	}
	for range lines { // the stream's end, after its last chunk
	}
	publishWith(t, c, base, `{"topic":"t","data":"after"}`)
	if conns != 1 {
		t.Errorf("%d connections for a stream and the publish after it, want the one kept alive", conns)
	}
}

// TestTLSReloadsCertificateWithoutRestart: SIGHUP rereads the certificate
// files, and so does a change of the files themselves; a broken pair is
// refused and the served certificate kept.
func TestTLSReloadsCertificateWithoutRestart(t *testing.T) {
	served := func(t *testing.T, addr string, trust ...testCert) *x509.Certificate {
		t.Helper()
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: certPool(trust...), ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0]
	}
	waitServed := func(t *testing.T, addr string, want testCert, trust ...testCert) {
		t.Helper()
		waitUntil(t, 10*time.Second, func() bool {
			return served(t, addr, trust...).Equal(want.leaf)
		}, "the new certificate is served")
	}

	t.Run("SIGHUP", func(t *testing.T) {
		cfg, first, certPath, keyPath := tlsHub(t, "memory:")
		// Files are checked once an hour here, so only the signal can
		// make the hub see the new pair soon.
		m, _ := runMain(t, cfg, nil, func(m *Main) { m.tr.certPoll = time.Hour })
		addr := m.Addr().String()
		if !served(t, addr, first).Equal(first.leaf) {
			t.Fatal("the configured certificate is not served")
		}
		second := newTestCert(t, "second")
		second.write(t, certPath, keyPath)
		raiseSIGHUP(t)
		waitServed(t, addr, second, first, second)
	})

	t.Run("file change", func(t *testing.T) {
		// The files are laid out as Kubernetes mounts a secret: links
		// to a folder that one link swap replaces.
		dir := t.TempDir()
		first, second := newTestCert(t, "first"), newTestCert(t, "second")
		for i, c := range []testCert{first, second} {
			v := filepath.Join(dir, fmt.Sprint("v", i+1))
			if err := os.Mkdir(v, 0o700); err != nil {
				t.Fatal(err)
			}
			c.write(t, filepath.Join(v, "cert.pem"), filepath.Join(v, "key.pem"))
		}
		link := func(target, name string) {
			t.Helper()
			if err := os.Symlink(target, name+".tmp"); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(name+".tmp", name); err != nil {
				t.Fatal(err)
			}
		}
		link("v1", filepath.Join(dir, "..data"))
		certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		link("..data/cert.pem", certPath)
		link("..data/key.pem", keyPath)
		cfg := testConfig(t, "memory:")
		cfg.TLSCert, cfg.TLSKey = certPath, keyPath

		logs := &syncBuffer{}
		logger := slog.New(slog.NewTextHandler(logs, nil))
		m, _ := runMain(t, cfg, logger, func(m *Main) { m.tr.certPoll = 10 * time.Millisecond })
		addr := m.Addr().String()
		base := "https://" + addr
		c := tlsClient("", first, second)
		stream := rawLines(t, getStream(t, c, base+"/events?topic=t", nil))
		nextLine(t, stream, ":")

		link("v2", filepath.Join(dir, "..data"))
		waitServed(t, addr, second, first, second)
		// A stream opened with the old certificate is not cut.
		id := publishWith(t, tlsClient("", second), base, `{"topic":"t","data":"after the reload"}`)
		nextLine(t, stream, "id: "+id)

		// A broken certificate file is refused, loudly, and the
		// working pair kept.
		if err := os.WriteFile(certPath, []byte("not a certificate"), 0o600); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 10*time.Second, func() bool {
			return strings.Contains(logs.String(), "keeping the previous TLS certificate")
		}, "the broken pair is reported")
		if !served(t, addr, first, second).Equal(second.leaf) {
			t.Error("after a broken renewal the working certificate is no longer served")
		}
	})
}

// TestTLSRefusesOldVersions: TLS 1.0 and 1.1 are refused.
func TestTLSRefusesOldVersions(t *testing.T) {
	cfg, cert, _, _ := tlsHub(t, "memory:")
	m, _ := runMain(t, cfg, nil, nil)
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		conn, err := tls.Dial("tcp", m.Addr().String(), &tls.Config{RootCAs: certPool(cert), ServerName: "localhost", MinVersion: v, MaxVersion: v})
		if err == nil {
			conn.Close()
			t.Errorf("a TLS %s handshake succeeded", tls.VersionName(v))
		}
	}
}

// TestSelfTrustAcceptsOnlyServedCertificates: the demos' client trusts the
// certificates its own hub served, and no other server's.
func TestSelfTrustAcceptsOnlyServedCertificates(t *testing.T) {
	var trust selfTrust
	mine, other := newTestCert(t, "mine"), newTestCert(t, "other")
	serve := func(c testCert, wrap bool) string {
		pair, err := tls.X509KeyPair(c.certPEM, c.keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		get := func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &pair, nil }
		if wrap {
			get = trust.wrap(get)
		}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		srv.TLS = &tls.Config{GetCertificate: get}
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv.URL
	}
	c := trust.client("localhost")
	if resp, err := c.Get(serve(mine, true)); err != nil {
		t.Errorf("own server refused: %v", err)
	} else {
		resp.Body.Close()
	}
	if resp, err := c.Get(serve(other, false)); err == nil {
		resp.Body.Close()
		t.Error("a server whose certificate the hub never served was trusted")
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitUntil checks cond on a ticker until it holds, failing after within.
func waitUntil(t testing.TB, within time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.After(within)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("not within %v: %s", within, what)
		case <-tick.C:
		}
	}
}

// TestH2CServesHTTP2WithoutTLS: with --h2c a client speaking HTTP/2 with
// prior knowledge (as a proxy configured for h2c does) gets HTTP/2 streams
// and can publish, and HTTP/1 clients are still served.
func TestH2CServesHTTP2WithoutTLS(t *testing.T) {
	cfg := testConfig(t, "memory:")
	cfg.H2C = true
	m, _ := runMain(t, cfg, nil, nil)
	base := "http://" + m.Addr().String()
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	h2c := &http.Client{Transport: &http.Transport{Protocols: &p}}

	resp := getStream(t, h2c, base+"/events?topic=t", nil)
	if resp.ProtoMajor != 2 {
		t.Fatalf("stream over %s, want HTTP/2", resp.Proto)
	}
	lines := rawLines(t, resp)
	nextLine(t, lines, ":")
	id := publishWith(t, h2c, base, `{"topic":"t","data":"over h2c"}`)
	nextLine(t, lines, "id: "+id)
	if got := nextLine(t, lines, "data: "); got != "data: over h2c" {
		t.Fatalf("got %q", got)
	}
	h1 := getStream(t, http.DefaultClient, base+"/events?topic=t", nil)
	if h1.ProtoMajor != 1 {
		t.Errorf("an HTTP/1.1 client got %s", h1.Proto)
	}
	h1.Body.Close()

	// Without --h2c, the same client is refused: HTTP/2 without TLS is
	// only spoken when asked for.
	plain, _ := runMain(t, testConfig(t, "memory:"), nil, nil)
	if resp, err := h2c.Get("http://" + plain.Addr().String() + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("without --h2c an h2c request was answered %s", resp.Proto)
	}
}

// TestTLSDemosPublishToTheirOwnHub: the demos publish over HTTP to the hub
// itself, which must work over TLS too, whoever signed the certificate.
func TestTLSDemosPublishToTheirOwnHub(t *testing.T) {
	cfg, cert, _, _ := tlsHub(t, "memory:")
	cfg.Demo = true
	m, _ := runMain(t, cfg, nil, nil)
	base := "https://" + m.Addr().String()
	c := tlsClient("", cert)
	resp, err := c.Post(base+"/demo/chat/rooms/lobby/messages", "application/json",
		strings.NewReader(`{"name":"ada","text":"hello over TLS"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"id"`) {
		t.Fatalf("chat demo over TLS: %s %s", resp.Status, body)
	}
}

// TestTransportFlagsRefuseContradictions: settings that cannot work stop
// the start with a message naming the flags, before anything listens.
func TestTransportFlagsRefuseContradictions(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"cert without key", []string{"--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{"key without cert", []string{"--tls-key", "k.pem"}, "--tls-cert and --tls-key go together"},
		{"missing files", []string{"--tls-cert", filepath.Join(dir, "none.pem"), "--tls-key", filepath.Join(dir, "none.key")}, "none.pem"},
		{"files and acme", []string{"--tls-cert", "c", "--tls-key", "k", "--acme-domains", "push.example"}, "not both"},
		{"h2c over tls", []string{"--tls-cert", "c", "--tls-key", "k", "--h2c"}, "--h2c"},
		{"acme email without domains", []string{"--acme-email", "ops@example.com"}, "need --acme-domains"},
		{"acme directory without domains", []string{"--acme-directory", "https://acme.example/dir"}, "need --acme-domains"},
		{"acme without a data folder", []string{"--acme-domains", "push.example"}, "file store"},
		{"pprof and admin differ", []string{"--pprof", "127.0.0.1:6060", "--admin-listen", "127.0.0.1:6061"}, "--pprof"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--store", "memory:", "--jwt-key", testKey, "--listen", "127.0.0.1:0", "--demo=false"}, tc.args...)
			var stderr bytes.Buffer
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // if it started, it would stop at once
			if code := run(ctx, args, nil, io.Discard, &stderr, func(string) string { return "" }); code != 1 {
				t.Fatalf("exit %d, want 1 (stderr %q)", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q does not say %q", stderr.String(), tc.want)
			}
		})
	}
}

// TestTLSFlagsFromTheEnvironment: SSEHUB_TLS_CERT and SSEHUB_TLS_KEY are
// the twins of --tls-cert and --tls-key.
func TestTLSFlagsFromTheEnvironment(t *testing.T) {
	_, _, certPath, keyPath := tlsHub(t, "memory:")
	for _, tc := range []struct {
		cert string
		code int
	}{{certPath, 0}, {certPath + ".missing", 1}} {
		env := map[string]string{"SSEHUB_TLS_CERT": tc.cert, "SSEHUB_TLS_KEY": keyPath, "SSEHUB_STORE": "memory:",
			"SSEHUB_JWT_KEY": testKey, "SSEHUB_LISTEN": "127.0.0.1:0", "SSEHUB_DEMO": "false"}
		var stderr bytes.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // start, then stop at once
		if code := run(ctx, nil, nil, io.Discard, &stderr, func(k string) string { return env[k] }); code != tc.code {
			t.Errorf("SSEHUB_TLS_CERT=%s: exit %d, want %d (%s)", tc.cert, code, tc.code, stderr.String())
		}
		if tc.code != 0 && !strings.Contains(stderr.String(), ".missing") {
			t.Errorf("the error does not name the file: %s", stderr.String())
		}
	}
}
