package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/auth"
)

// request sends method path with headers and body to base and returns
// the response, its body read.
func request(t *testing.T, base, method, path, body string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

// TestCORSStarAnswersStarWithoutCredentials is the reproduction:
// with --cors-origins '*' an arbitrary origin was echoed together with
// Access-Control-Allow-Credentials.
func TestCORSStarAnswersStarWithoutCredentials(t *testing.T) {
	cfg := testConfig(t, "memory:")
	cfg.Auth.CORSOrigins = listFlag{"*"}
	base, _ := startHub(t, cfg)
	evil := http.Header{"Origin": {"https://evil.example"}}
	resp, _ := request(t, base, http.MethodGet, "/history?topic=t", "", evil)
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("Allow-Origin = %q, want *", got)
	}
	if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != "" {
		t.Errorf("Allow-Credentials = %q for any origin", got)
	}
	// Publishing has its own list, empty here.
	evil.Set("Access-Control-Request-Method", "POST")
	resp, _ = request(t, base, http.MethodOptions, "/publish", "", evil)
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("publish preflight: Allow-Origin = %q, want none", got)
	}
}

// TestCookiePublishFromAnotherSite is the reproduction: a
// text/plain POST carrying the cookie from another site's page.
func TestCookiePublishFromAnotherSite(t *testing.T) {
	cfg := testConfig(t, "memory:")
	cfg.Auth.PublishOrigins = listFlag{"https://admin.example"}
	base, _ := startHub(t, cfg)
	header := func(origin string) http.Header {
		return http.Header{
			"Cookie":       {auth.CookieName + "=" + publisherToken(t)},
			"Content-Type": {"text/plain"},
			"Origin":       {origin},
		}
	}
	resp, body := request(t, base, http.MethodPost, "/publish", `{"topic":"t","data":"forged"}`, header("https://evil.example"))
	if resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("cookie publish from evil.example: %d %s, want 403 JSON", resp.StatusCode, body)
	}
	resp, body = request(t, base, http.MethodPost, "/publish", `{"topic":"t","data":"ok"}`, header("https://admin.example"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("cookie publish from the listed origin: %d %s", resp.StatusCode, body)
	}
	resp, body = request(t, base, http.MethodGet, "/history?topic=t", "", nil)
	if strings.Contains(body, "forged") || !strings.Contains(body, `"ok"`) {
		t.Fatalf("history %s: want only the allowed publish", body)
	}
}

// writePEM writes a PEM block to a file in dir and returns its path.
func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// tokenWith runs `ssehub token` with args and returns the token.
func tokenWith(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), append([]string{"token"}, args...), nil, &out, &errOut, func(string) string { return "" }); code != 0 {
		t.Fatalf("ssehub token %q exited %d: %s", args, code, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

// jwksServer serves Ed25519 public keys as a JWKS.
func jwksServer(t *testing.T, keys map[string]ed25519.PublicKey) string {
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	for kid, k := range keys {
		set.Keys = append(set.Keys, map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": kid, "alg": "EdDSA",
			"x": base64.RawURLEncoding.EncodeToString(k)})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestSeparateKeysFromAFileAndAJWKS: publishers are checked against a
// JWKS holding two keys (one retiring, one new: both work during the
// rotation), subscribers against a public key file; tokens made by
// `ssehub token` from the private keys work, and neither side accepts
// the other's or the shared key's tokens.
func TestSeparateKeysFromAFileAndAJWKS(t *testing.T) {
	dir := t.TempDir()
	edKey := func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	oldKey, newKey := edKey(), edKey()
	ecKey := must[*ecdsa.PrivateKey](t)(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	oldFile := writePEM(t, dir, "old.pem", "PRIVATE KEY", must[[]byte](t)(x509.MarshalPKCS8PrivateKey(oldKey)))
	newFile := writePEM(t, dir, "new.pem", "PRIVATE KEY", must[[]byte](t)(x509.MarshalPKCS8PrivateKey(newKey)))
	ecFile := writePEM(t, dir, "ec.pem", "EC PRIVATE KEY", must[[]byte](t)(x509.MarshalECPrivateKey(ecKey)))
	ecPubFile := writePEM(t, dir, "ec.pub.pem", "PUBLIC KEY", must[[]byte](t)(x509.MarshalPKIXPublicKey(ecKey.Public())))

	cfg := testConfig(t, "memory:")
	cfg.Auth.Publisher.JWKSURL = jwksServer(t, map[string]ed25519.PublicKey{
		"old": oldKey.Public().(ed25519.PublicKey), "new": newKey.Public().(ed25519.PublicKey)})
	cfg.Auth.Subscriber.KeyFile = ecPubFile
	base, _ := startHub(t, cfg)

	for _, tc := range []struct {
		name  string
		token string
		want  int
	}{
		{"the retiring key", tokenWith(t, "--key-file", oldFile, "--kid", "old"), http.StatusOK},
		{"the new key", tokenWith(t, "--key-file", newFile, "--kid", "new"), http.StatusOK},
		{"the subscriber key", tokenWith(t, "--key-file", ecFile), http.StatusUnauthorized},
		{"the shared key", publisherToken(t), http.StatusUnauthorized},
	} {
		resp, body := request(t, base, http.MethodPost, "/publish", `{"topic":"users/1","data":"secret","private":true}`, bearer(tc.token))
		if resp.StatusCode != tc.want {
			t.Errorf("publish with %s: %d %s, want %d", tc.name, resp.StatusCode, body, tc.want)
		}
	}
	for _, tc := range []struct {
		name, token string
		want        int
		sees        bool
	}{
		{"the subscriber key", tokenWith(t, "--key-file", ecFile, "--subscribe", "users/1"), http.StatusOK, true},
		{"a publisher key", tokenWith(t, "--key-file", newFile, "--kid", "new", "--subscribe", "users/1"), http.StatusUnauthorized, false},
		{"the shared key", tokenWith(t, "--jwt-key", testKey, "--subscribe", "users/1"), http.StatusUnauthorized, false},
	} {
		resp, body := request(t, base, http.MethodGet, "/history?topic=users/1", "", bearer(tc.token))
		if resp.StatusCode != tc.want || strings.Contains(body, "secret") != tc.sees {
			t.Errorf("history with %s: %d %s, want %d (sees the private event: %v)", tc.name, resp.StatusCode, body, tc.want, tc.sees)
		}
	}
}

// TestEachSideFallsBackToTheSharedKey: a side without a key of its own
// uses --jwt-key.
func TestEachSideFallsBackToTheSharedKey(t *testing.T) {
	cfg := testConfig(t, "memory:")
	cfg.Auth.Publisher.Key = "a publisher secret of its own"
	base, _ := startHub(t, cfg)
	if resp, body := request(t, base, http.MethodPost, "/publish", `{"topic":"t"}`, bearer(publisherToken(t))); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("publish with the shared key: %d %s, want 401", resp.StatusCode, body)
	}
	own := tokenWith(t, "--jwt-key", "a publisher secret of its own")
	if resp, body := request(t, base, http.MethodPost, "/publish", `{"topic":"t"}`, bearer(own)); resp.StatusCode != http.StatusOK {
		t.Errorf("publish with the publisher key: %d %s", resp.StatusCode, body)
	}
	reader := tokenWith(t, "--jwt-key", testKey, "--subscribe", "*")
	if resp, body := request(t, base, http.MethodGet, "/history?topic=t", "", bearer(reader)); resp.StatusCode != http.StatusOK {
		t.Errorf("read with the shared key: %d %s", resp.StatusCode, body)
	}
}

// TestGeneratedKeyServesTheSidesWithoutAKey: with only the subscriber
// key given, publishers use the generated key, and the first start prints
// a publisher token for it; with only the publisher key given, the
// generated key serves subscribers and no publisher token is printed.
func TestGeneratedKeyServesTheSidesWithoutAKey(t *testing.T) {
	for _, tc := range []struct {
		name       string
		set        func(*Config)
		printsCurl bool
	}{
		{"subscriber key given", func(c *Config) { c.Auth.Subscriber.Key = "subscriber secret" }, true},
		{"publisher key given", func(c *Config) { c.Auth.Publisher.Key = "publisher secret" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(t, "file:"+dir)
			cfg.Auth.Shared.Key = ""
			tc.set(&cfg)
			var out bytes.Buffer
			m := &Main{Config: cfg, Out: &out, Terminal: true}
			if err := m.Open(context.Background()); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			defer m.Run(ctx)
			if got := strings.Contains(out.String(), "Authorization: Bearer "); got != tc.printsCurl {
				t.Errorf("printed a publisher token: %v, want %v:\n%s", got, tc.printsCurl, out.String())
			}
			key := strings.TrimSpace(string(must[[]byte](t)(os.ReadFile(filepath.Join(dir, "jwt.key")))))
			if !strings.Contains(out.String(), key) {
				t.Errorf("the generated key was not printed")
			}
			// The printed token, if any, works.
			if tc.printsCurl {
				token := strings.Fields(out.String()[strings.Index(out.String(), "keep it secret):"):])[3]
				if _, err := m.auth.publishers.Verify(context.Background(), token); err != nil {
					t.Errorf("the printed token: %v", err)
				}
			}
		})
	}
}

func TestConflictingKeySourcesAreRefused(t *testing.T) {
	for _, set := range []func(*Config){
		func(c *Config) { c.Auth.Shared.KeyFile = "/nonexistent" },                           // with --jwt-key from testConfig
		func(c *Config) { c.Auth.Publisher.Key, c.Auth.Publisher.JWKSURL = "k", "http://x" }, // two for one side
		func(c *Config) { c.Auth.Algorithms = listFlag{"RS256"} },                            // the HMAC key fits none
		func(c *Config) { c.Auth.Algorithms = listFlag{"none"} },
	} {
		cfg := testConfig(t, "memory:")
		set(&cfg)
		m := &Main{Config: cfg}
		if err := m.Open(context.Background()); err == nil {
			m.Run(canceled())
			t.Errorf("Open accepted %+v", cfg.Auth)
		}
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestAnonymousFalseRefusesSubscribersWithoutAToken(t *testing.T) {
	cfg := testConfig(t, "memory:")
	cfg.Auth.Anonymous = false
	base, _ := startHub(t, cfg)
	for _, path := range []string{"/events?topic=t", "/history?topic=t"} {
		if resp, body := request(t, base, http.MethodGet, path, "", nil); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"error"`) {
			t.Errorf("anonymous GET %s: %d %s, want 401 JSON", path, resp.StatusCode, body)
		}
	}
	reader := tokenWith(t, "--jwt-key", testKey, "--subscribe", "users/1")
	openStreamWith(t, base+"/events?topic=t", bearer(reader)) // fails unless 200
}

// TestAudienceAndIssuer: with both configured, only tokens naming them
// are accepted, and `ssehub token` can make those.
func TestAudienceAndIssuer(t *testing.T) {
	cfg := testConfig(t, "memory:")
	cfg.Auth.Audience, cfg.Auth.Issuer = "https://push.example", "https://app.example"
	base, _ := startHub(t, cfg)
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--audience", "https://push.example", "--issuer", "https://app.example"}, http.StatusOK},
		{[]string{"--audience", "https://other.example", "--issuer", "https://app.example"}, http.StatusUnauthorized},
		{[]string{"--audience", "https://push.example"}, http.StatusUnauthorized},
		{nil, http.StatusUnauthorized},
	} {
		token := tokenWith(t, append([]string{"--jwt-key", testKey}, tc.args...)...)
		if resp, body := request(t, base, http.MethodPost, "/publish", `{"topic":"t"}`, bearer(token)); resp.StatusCode != tc.want {
			t.Errorf("token %q: %d %s, want %d", tc.args, resp.StatusCode, body, tc.want)
		}
	}
}

// TestTokenCommandSignsWithEveryKeyKind: `ssehub token` picks the
// algorithm from the key, or takes --alg, and its tokens verify with the
// public half.
func TestTokenCommandSignsWithEveryKeyKind(t *testing.T) {
	dir := t.TempDir()
	rsaKey := must[*rsa.PrivateKey](t)(rsa.GenerateKey(rand.Reader, 2048))
	ecKey := must[*ecdsa.PrivateKey](t)(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))
	rsaFile := writePEM(t, dir, "rsa.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))
	ecFile := writePEM(t, dir, "ec.pem", "PRIVATE KEY", must[[]byte](t)(x509.MarshalPKCS8PrivateKey(ecKey)))
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte("file secret\n"), 0o600)
	for _, tc := range []struct {
		args []string
		alg  string
		key  any
	}{
		{[]string{"--key-file", rsaFile}, "RS256", rsaKey.Public()},
		{[]string{"--key-file", rsaFile, "--alg", "PS512"}, "PS512", rsaKey.Public()},
		{[]string{"--key-file", ecFile}, "ES384", ecKey.Public()},
		{[]string{"--key-file", secretFile, "--alg", "HS512"}, "HS512", []byte("file secret")},
		{[]string{"--jwt-key", testKey}, "HS256", []byte(testKey)},
	} {
		token := tokenWith(t, append(tc.args, "--publish", "x")...)
		header := must[[]byte](t)(base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0]))
		if !strings.Contains(string(header), `"alg":"`+tc.alg+`"`) {
			t.Errorf("%q: header %s, want alg %s", tc.args, header, tc.alg)
		}
		v := must[*auth.Verifier](t)(auth.New(context.Background(), auth.Options{Keys: []auth.Key{{Key: tc.key}}}))
		if c, err := v.Verify(context.Background(), token); err != nil || c.Mercure.Publish[0] != "x" {
			t.Errorf("%q: %+v, %v", tc.args, c, err)
		}
	}
	var errOut bytes.Buffer
	if code := run(context.Background(), []string{"token", "--key-file", rsaFile, "--alg", "ES256"}, nil, io.Discard, &errOut, func(string) string { return "" }); code == 0 {
		t.Errorf("signing ES256 with an RSA key succeeded")
	}
}

// TestDemosNeedAnHMACPublisherKey: with publisher tokens checked by a
// public key, the hub starts and serves no demos rather than demos whose
// publishes all fail.
func TestDemosNeedAnHMACPublisherKey(t *testing.T) {
	dir := t.TempDir()
	ecKey := must[*ecdsa.PrivateKey](t)(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	cfg := testConfig(t, "memory:")
	cfg.Demo = true
	cfg.Auth.Shared.Key = ""
	cfg.Auth.Shared.KeyFile = writePEM(t, dir, "ec.pub.pem", "PUBLIC KEY", must[[]byte](t)(x509.MarshalPKIXPublicKey(ecKey.Public())))
	base, _ := startHub(t, cfg)
	if resp, _ := request(t, base, http.MethodGet, "/demo/board/tasks", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /demo/board/tasks: %d, want 404 (no demos)", resp.StatusCode)
	}
	if resp, _ := request(t, base, http.MethodGet, "/readyz", "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /readyz: %d", resp.StatusCode)
	}
}
