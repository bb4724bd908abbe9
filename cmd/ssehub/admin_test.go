package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
)

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// firstStatsFrame reads the first "stats" event of GET url.
func firstStatsFrame(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == "event: stats" && sc.Scan() {
			return sc.Text()
		}
	}
	t.Fatalf("GET %s: no stats frame (%v)", url, sc.Err())
	return ""
}

// TestAdminListenerTakesOperatorEndpointsOffThePublicOne: with
// --admin-listen, /metrics, /api/stats and pprof are served there without a
// token and no longer on the public listener; without it the public
// listener keeps /metrics and /api/stats (the dashboard on a laptop) and
// serves no profiler. --pprof, the old flag, now means --admin-listen.
func TestAdminListenerTakesOperatorEndpointsOffThePublicOne(t *testing.T) {
	operator := []string{"/metrics", "/api/stats", "/debug/pprof/"}
	t.Run("admin-listen", func(t *testing.T) {
		cfg := testConfig(t, "memory:")
		cfg.AdminListen = "127.0.0.1:0"
		m, _ := runMain(t, cfg, nil, nil)
		public, admin := "http://"+m.Addr().String(), "http://"+m.AdminAddr().String()
		for _, path := range operator {
			if status, _ := get(t, http.DefaultClient, public+path); status != http.StatusNotFound {
				t.Errorf("public %s: %d, want 404 with an admin listener", path, status)
			}
		}
		if status, _ := get(t, http.DefaultClient, public+"/healthz"); status != http.StatusOK {
			t.Errorf("public /healthz: %d", status)
		}
		mustPublish(t, public, `{"topic":"t","data":"x"}`)
		if status, body := get(t, http.DefaultClient, admin+"/metrics"); status != http.StatusOK || !strings.Contains(body, "ssehub_") {
			t.Errorf("admin /metrics: %d %.200q", status, body)
		}
		if frame := firstStatsFrame(t, admin+"/api/stats"); !strings.Contains(frame, `"published":1`) {
			t.Errorf("admin /api/stats frame %q, want 1 published", frame)
		}
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline", "/"} {
			if status, body := get(t, http.DefaultClient, admin+path); status != http.StatusOK || body == "" {
				t.Errorf("admin %s: %d, %d bytes", path, status, len(body))
			}
		}
		if _, body := get(t, http.DefaultClient, admin+"/"); !strings.Contains(body, `id="admin-login"`) || !strings.Contains(body, `id="figures"`) {
			t.Errorf("admin / is not the admin dashboard: %.300q", body)
		}
		if _, body := get(t, http.DefaultClient, public+"/"); !strings.Contains(body, `id="stats-elsewhere"`) || strings.Contains(body, `id="figures"`) {
			t.Errorf("public / shows figures it cannot fill, or does not say where they are: %.300q", body)
		}
		if status, _ := get(t, http.DefaultClient, admin+"/events?topic=t"); status != http.StatusNotFound {
			t.Errorf("the admin listener serves the public API: /events %d", status)
		}
		if resp, err := http.Post(admin+"/publish", "application/json", strings.NewReader(`{"topic":"t"}`)); err != nil {
			t.Fatal(err)
		} else if resp.Body.Close(); resp.StatusCode != http.StatusNotFound {
			t.Errorf("the admin listener answers POST /publish with %d, want 404", resp.StatusCode)
		}
	})
	t.Run("none", func(t *testing.T) {
		m, _ := runMain(t, testConfig(t, "memory:"), nil, nil)
		public := "http://" + m.Addr().String()
		if m.AdminAddr() != nil {
			t.Fatal("an admin listener without --admin-listen")
		}
		if status, _ := get(t, http.DefaultClient, public+"/metrics"); status != http.StatusOK {
			t.Errorf("public /metrics: %d, want 200 without an admin listener", status)
		}
		firstStatsFrame(t, public+"/api/stats")
		if status, _ := get(t, http.DefaultClient, public+"/debug/pprof/"); status != http.StatusNotFound {
			t.Errorf("public /debug/pprof/: %d, want 404: the profiler is never public", status)
		}
	})
	t.Run("pprof alias", func(t *testing.T) {
		cfg := testConfig(t, "memory:")
		cfg.Pprof = "127.0.0.1:0"
		m, _ := runMain(t, cfg, nil, nil)
		if m.AdminAddr() == nil {
			t.Fatal("--pprof opened no admin listener")
		}
		if status, _ := get(t, http.DefaultClient, "http://"+m.AdminAddr().String()+"/debug/pprof/"); status != http.StatusOK {
			t.Errorf("pprof on the --pprof address: %d", status)
		}
		if status, _ := get(t, http.DefaultClient, "http://"+m.Addr().String()+"/metrics"); status != http.StatusNotFound {
			t.Errorf("public /metrics with --pprof: %d, want 404", status)
		}
	})
}

// TestAdminCmdlineHidesSecrets: /debug/pprof/cmdline on the admin
// listener, which asks for no token, shows the command line masked by
// maskArgs, not as pprof would, with the keys given as flags.
func TestAdminCmdlineHidesSecrets(t *testing.T) {
	// The handler reads os.Args, as pprof's does. No test of this package
	// runs in parallel, and cleanups run last first, so the hub has
	// stopped when os.Args is restored.
	args := os.Args
	t.Cleanup(func() { os.Args = args })
	os.Args = append(slices.Clone(args), "--jwt-key", "hunter2", "--store=redis://:hunter2@h:6379")
	cfg := testConfig(t, "memory:")
	cfg.AdminListen = "127.0.0.1:0"
	m, _ := runMain(t, cfg, nil, nil)
	status, body := get(t, http.DefaultClient, "http://"+m.AdminAddr().String()+"/debug/pprof/cmdline")
	if status != http.StatusOK || strings.Contains(body, "hunter2") {
		t.Fatalf("admin /debug/pprof/cmdline: %d %q, want the command line without the secrets", status, body)
	}
	if want := strings.Join(maskArgs(os.Args), "\x00"); body != want {
		t.Errorf("admin /debug/pprof/cmdline: %q, want %q", body, want)
	}
}

// TestACMEWiring checks, without a network or a CA, what the hub does
// with --acme-domains: it serves the certificates kept in the data folder
// (acme/) over TLS with HTTP/2, refuses names it was not given, and
// answers HTTP-01 challenges on --acme-http-listen while sending other
// requests there to https. Getting a certificate from a CA is
// golang.org/x/crypto/acme/autocert's and is not tested here.
func TestACMEWiring(t *testing.T) {
	dir := t.TempDir()
	cert := newTestCert(t, "push.example", "push.example")
	// A certificate as autocert keeps it: the key, then the chain, in the
	// file named after the domain.
	block, _ := pem.Decode(cert.keyPEM)
	if _, err := x509.ParseECPrivateKey(block.Bytes); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "acme"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "acme", "push.example"), append(cert.keyPEM, cert.certPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "file:"+dir)
	cfg.ACMEDomains = listFlag{"push.example"}
	cfg.ACMEHTTPListen = "127.0.0.1:0"
	m, _ := runMain(t, cfg, nil, nil)
	addr := m.Addr().String()
	if !slices.Contains(m.tr.tlsConfig.NextProtos, acme.ALPNProto) {
		t.Errorf("the TLS listener does not offer %s for TLS-ALPN-01 challenges: %v", acme.ALPNProto, m.tr.tlsConfig.NextProtos)
	}

	c := tlsClient("push.example", cert)
	resp := getStream(t, c, "https://"+addr+"/events?topic=t", nil)
	if resp.ProtoMajor != 2 || !resp.TLS.PeerCertificates[0].Equal(cert.leaf) {
		t.Fatalf("stream over %s with certificate %v, want HTTP/2 with the kept certificate", resp.Proto, resp.TLS.PeerCertificates[0].Subject)
	}
	lines := rawLines(t, resp)
	nextLine(t, lines, ":")
	id := publishWith(t, c, "https://"+addr, `{"topic":"t","data":"acme"}`)
	nextLine(t, lines, "id: "+id)

	if conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "evil.example", InsecureSkipVerify: true}); err == nil {
		conn.Close()
		t.Error("a handshake for a name not in --acme-domains succeeded")
	}

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	httpAddr := "http://" + m.ACMEHTTPAddr().String()
	req, _ := http.NewRequest(http.MethodGet, httpAddr+"/events?topic=t", nil)
	req.Host = "push.example"
	r, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if loc := r.Header.Get("Location"); r.StatusCode != http.StatusFound || loc != "https://push.example/events?topic=t" {
		t.Errorf("plain HTTP request: %d to %q, want a redirect to https", r.StatusCode, loc)
	}
	req, _ = http.NewRequest(http.MethodGet, httpAddr+"/.well-known/acme-challenge/unknown-token", nil)
	req.Host = "push.example"
	if r, err = noFollow.Do(req); err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown HTTP-01 token: %d, want 404 from the challenge handler", r.StatusCode)
	}
}
