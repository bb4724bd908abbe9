package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/testclock"
)

// jwkOf encodes a public key as a JWK.
func jwkOf(kid, alg string, pub any) map[string]string {
	b64 := base64.RawURLEncoding.EncodeToString
	m := map[string]string{"kid": kid, "use": "sig"}
	if alg != "" {
		m["alg"] = alg
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", b64(k.N.Bytes()), b64(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PublicKey:
		raw, err := k.Bytes()
		if err != nil {
			panic(err)
		}
		size := (len(raw) - 1) / 2
		m["kty"], m["crv"] = "EC", k.Curve.Params().Name
		m["x"], m["y"] = b64(raw[1:1+size]), b64(raw[1+size:])
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", b64(k)
	default:
		panic(fmt.Sprintf("%T", pub))
	}
	return m
}

// keyServer is a JWKS endpoint whose set a test changes, counting fetches.
type keyServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []map[string]string
	status  int
	fetches atomic.Int64
}

func newKeyServer(t *testing.T, keys ...map[string]string) *keyServer {
	s := &keyServer{keys: keys, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.status != http.StatusOK {
			w.WriteHeader(s.status)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		json.NewEncoder(w).Encode(map[string]any{"keys": s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *keyServer) set(status int, keys ...map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.keys = status, keys
}

func token(t *testing.T, alg, kid string) string {
	t.Helper()
	return must(SignClaims(alg, signer(alg), kid, claims(nil, []string{"users/1"})))
}

func TestJWKSVerifiesEveryKeyType(t *testing.T) {
	srv := newKeyServer(t,
		jwkOf("rsa", "RS256", rsaKey().Public()),
		jwkOf("pss", "PS256", rsaKey().Public()),
		jwkOf("p256", "", ecKeys()["ES256"].Public()),
		jwkOf("p384", "ES384", ecKeys()["ES384"].Public()),
		jwkOf("p521", "ES512", ecKeys()["ES512"].Public()),
		jwkOf("ed", "EdDSA", edKey().Public()),
	)
	v := newVerifier(t, Options{JWKSURL: srv.URL})
	for _, tc := range []struct{ alg, kid string }{
		{"RS256", "rsa"}, {"PS256", "pss"}, {"ES256", "p256"}, {"ES384", "p384"}, {"ES512", "p521"}, {"EdDSA", "ed"},
		{"RS256", ""}, // no kid: every fitting key is tried
	} {
		if _, err := v.Verify(context.Background(), token(t, tc.alg, tc.kid)); err != nil {
			t.Errorf("%s kid %q: %v", tc.alg, tc.kid, err)
		}
	}
	// A JWK's alg binds the key: the RSA key published for RS256 does not
	// verify RS384 under kid "rsa".
	if _, err := v.Verify(context.Background(), token(t, "RS384", "rsa")); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("RS384 with the RS256 key: err = %v", err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Errorf("%d fetches, want 1 (the set is cached)", n)
	}
}

// TestJWKSRotation: a key added to the set is fetched when a token names
// it, a key removed stops working once the set is refetched on its
// interval, and made-up kids cause at most one fetch per JWKSMinRefresh.
func TestJWKSRotation(t *testing.T) {
	clock := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	k1 := jwkOf("k1", "ES256", ecKeys()["ES256"].Public())
	k2 := jwkOf("k2", "EdDSA", edKey().Public())
	srv := newKeyServer(t, k1)
	v := newVerifier(t, Options{JWKSURL: srv.URL, JWKSRefresh: time.Hour, JWKSMinRefresh: time.Minute, Now: clock.Now})
	ctx := context.Background()
	if _, err := v.Verify(ctx, token(t, "ES256", "k1")); err != nil {
		t.Fatal(err)
	}

	// The issuer publishes k2 next to k1 and starts signing with it.
	srv.set(http.StatusOK, k1, k2)
	if _, err := v.Verify(ctx, token(t, "EdDSA", "k2")); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("k2 within JWKSMinRefresh of the first fetch: err = %v, want refused", err)
	}
	clock.Advance(time.Minute)
	if _, err := v.Verify(ctx, token(t, "EdDSA", "k2")); err != nil {
		t.Fatalf("k2 after it was published: %v", err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}

	// Tokens with made-up kids: one fetch at most, however many come.
	clock.Advance(time.Minute)
	for i := range 100 {
		if _, err := v.Verify(ctx, token(t, "EdDSA", fmt.Sprintf("made-up-%d", i))); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("made-up kid: err = %v", err)
		}
	}
	if n := srv.fetches.Load(); n != 3 {
		t.Fatalf("%d fetches after 100 unknown kids, want 3", n)
	}

	// k1 is retired; once the set is an interval old it is fetched again
	// and k1 no longer verifies.
	srv.set(http.StatusOK, k2)
	if _, err := v.Verify(ctx, token(t, "ES256", "k1")); err != nil {
		t.Fatalf("k1 before the refresh interval: %v", err)
	}
	clock.Advance(time.Hour)
	if _, err := v.Verify(ctx, token(t, "ES256", "k1")); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("k1 after it was retired: err = %v, want refused", err)
	}
	if _, err := v.Verify(ctx, token(t, "EdDSA", "k2")); err != nil {
		t.Fatalf("k2 after the refresh: %v", err)
	}
	if n := srv.fetches.Load(); n != 4 {
		t.Fatalf("%d fetches, want 4", n)
	}
}

// TestJWKSKeepsKeysWhenTheServerFails: the key server being down does not
// lock out tokens signed with keys fetched before, and is retried at most
// once per JWKSMinRefresh.
func TestJWKSKeepsKeysWhenTheServerFails(t *testing.T) {
	clock := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := newKeyServer(t, jwkOf("k1", "RS256", rsaKey().Public()))
	v := newVerifier(t, Options{JWKSURL: srv.URL, JWKSRefresh: time.Hour, JWKSMinRefresh: time.Minute, Now: clock.Now})
	srv.set(http.StatusInternalServerError)
	clock.Advance(2 * time.Hour)
	for range 3 {
		if _, err := v.Verify(context.Background(), token(t, "RS256", "k1")); err != nil {
			t.Fatalf("while the key server fails: %v", err)
		}
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2 (one failed retry)", n)
	}
}

// TestJWKSConcurrentUnknownKidShareOneFetch: verifies racing on a new kid
// wait for one fetch and all pass.
func TestJWKSConcurrentUnknownKidShareOneFetch(t *testing.T) {
	clock := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := newKeyServer(t, jwkOf("k1", "ES256", ecKeys()["ES256"].Public()))
	v := newVerifier(t, Options{JWKSURL: srv.URL, JWKSMinRefresh: time.Minute, Now: clock.Now})
	srv.set(http.StatusOK, jwkOf("k2", "ES256", ecKeys()["ES256"].Public()))
	clock.Advance(time.Minute)
	tok := token(t, "ES256", "k2")
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := v.Verify(context.Background(), tok)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("verify: %v", err)
		}
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
}

// TestJWKSFetchOutlivesTheRequestThatCausedIt: anyone may send a token
// with a made-up kid, and the fetch it causes counts against
// JWKSMinRefresh. Were that fetch cut short when its client hangs up, one
// such request a minute would keep the set from ever being refreshed:
// newly published keys refused, revoked ones still accepted. The fetch
// runs to its end, and a token signed with the key it brought verifies.
func TestJWKSFetchOutlivesTheRequestThatCausedIt(t *testing.T) {
	clock := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := newKeyServer(t, jwkOf("k1", "ES256", ecKeys()["ES256"].Public()))
	v := newVerifier(t, Options{JWKSURL: srv.URL, JWKSMinRefresh: time.Minute, Now: clock.Now})
	srv.set(http.StatusOK, jwkOf("k2", "ES256", ecKeys()["ES256"].Public()))
	clock.Advance(time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client hung up
	if _, err := v.Verify(ctx, token(t, "ES256", "made-up")); err == nil {
		t.Fatal("a token with a made-up kid verified")
	}
	if _, err := v.Verify(context.Background(), token(t, "ES256", "k2")); err != nil {
		t.Fatalf("a token signed with the key published before the hung-up fetch: %v", err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2 (the first at New, the one the hung-up request caused)", n)
	}
}

func TestNewFailsWhenTheJWKSCannotBeFetched(t *testing.T) {
	bad := newKeyServer(t)
	bad.set(http.StatusNotFound)
	empty := newKeyServer(t)
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte(" "), maxJWKSBytes+1))
	}))
	defer huge.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for name, url := range map[string]string{"404": bad.URL, "no keys": empty.URL, "too large": huge.URL, "unreachable": closed.URL} {
		if _, err := New(context.Background(), Options{JWKSURL: url}); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

// logLines is a log destination that hands each line to the test, which
// can so wait for the line a fetch logs after New has returned.
type logLines chan string

func (l logLines) Write(p []byte) (int, error) {
	l <- string(p)
	return len(p), nil
}

// TestJWKSURLCredentialsStayOutOfLogsAndErrors: a JWKS URL may carry the
// key server's credentials (user:password@, a token as the user name, or
// one in the query). A failed fetch is logged, and New returns it as its
// error, which serve prints; neither shows the credentials, and both still
// name the host, so an operator can tell which URL failed.
func TestJWKSURLCredentialsStayOutOfLogsAndErrors(t *testing.T) {
	refusing := newKeyServer(t)
	refusing.set(http.StatusUnauthorized)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	// withSecrets puts every kind of credential into the URL of a server.
	withSecrets := func(base, user string) string {
		return strings.Replace(base, "//", "//"+user+"@", 1) + "/jwks.json?access_token=s3cr3t&b4reToken"
	}
	secrets := []string{"hunter2", "s3cr3t", "b4reToken", "us3rT0ken"}
	for _, tc := range []struct{ name, url, host string }{
		{"refused", withSecrets(refusing.URL, "alice:hunter2"), strings.TrimPrefix(refusing.URL, "http://")},
		{"unreachable", withSecrets(closed.URL, "alice:hunter2"), strings.TrimPrefix(closed.URL, "http://")},
		{"token as the user", withSecrets(refusing.URL, "us3rT0ken"), strings.TrimPrefix(refusing.URL, "http://")},
		// Which part of a URL that does not parse is secret cannot be
		// told, so none of it is shown, not even the host.
		{"unparsable", "http://alice:hunter2@bad host/jwks.json?access_token=s3cr3t", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := make(logLines, 10)
			_, err := New(context.Background(), Options{JWKSURL: tc.url, Logger: slog.New(slog.NewTextHandler(lines, nil))})
			if err == nil {
				t.Fatal("New succeeded")
			}
			var line string
			select {
			case line = <-lines:
			case <-time.After(10 * time.Second):
				t.Fatal("the failed fetch was not logged")
			}
			for what, text := range map[string]string{"the log": line, "New's error": err.Error()} {
				for _, secret := range secrets {
					if strings.Contains(text, secret) {
						t.Errorf("%s shows %q: %s", what, secret, text)
					}
				}
				if !strings.Contains(text, tc.host) {
					t.Errorf("%s does not name the host %s: %s", what, tc.host, text)
				}
			}
		})
	}
}

func TestRedactURLHidesCredentialsAndKeepsTheRest(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://keys.example/jwks.json", "https://keys.example/jwks.json"},
		{"https://alice:hunter2@keys.example/jwks.json", "https://alice:********@keys.example/jwks.json"},
		{"https://t0ken@keys.example/jwks.json", "https://********@keys.example/jwks.json"},
		{"https://keys.example/jwks.json?token=t0ken&tenant=acme", "https://keys.example/jwks.json?token=********&tenant=********"},
		{"https://keys.example/jwks.json?t0ken", "https://keys.example/jwks.json?********"},
		{"https://keys.example/jwks.json#t0ken", "https://keys.example/jwks.json"},
		{"https://alice:hunter2@bad host/", "(unparsable URL)"},
	} {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseJWKSSkipsWhatItCannotUse(t *testing.T) {
	good := jwkOf("good", "ES256", ecKeys()["ES256"].Public())
	offCurve := jwkOf("off", "ES256", ecKeys()["ES256"].Public())
	offCurve["y"] = base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	enc := jwkOf("enc", "", rsaKey().Public())
	enc["use"] = "enc"
	set := map[string]any{"keys": []any{
		good, offCurve, enc,
		map[string]string{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
		map[string]string{"kty": "EC", "crv": "P-192", "x": "AA", "y": "AA"},
		map[string]string{"kty": "RSA", "n": "AQAB", "e": "AQAB"}, // far too short
		map[string]string{"kty": "OKP", "crv": "X25519", "x": "AA"},
		"not an object",
	}}
	keys, err := ParseJWKS(must(json.Marshal(set)))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].ID != "good" {
		t.Fatalf("keys = %+v, want only the good one", keys)
	}
	for _, bad := range []string{`{}`, `{"keys":[]}`, `[`, `{"keys":[{"kty":"oct","k":"AA"}]}`} {
		if _, err := ParseJWKS([]byte(bad)); err == nil {
			t.Errorf("ParseJWKS(%s) succeeded", bad)
		}
	}
}

// FuzzParseJWKS: no input makes the parser panic, and every key it returns
// passes the checks a Verifier makes.
func FuzzParseJWKS(f *testing.F) {
	f.Add(must(json.Marshal(map[string]any{"keys": []any{jwkOf("a", "ES256", ecKeys()["ES256"].Public())}})))
	f.Add(must(json.Marshal(map[string]any{"keys": []any{jwkOf("r", "", rsaKey().Public()), jwkOf("e", "", edKey().Public())}})))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"","y":""}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := ParseJWKS(b)
		if err != nil {
			if !strings.Contains(err.Error(), "JWKS") {
				t.Fatalf("error %q does not say what failed", err)
			}
			return
		}
		for _, k := range keys {
			if err := k.check(); err != nil {
				t.Fatalf("returned a key that fails its check: %v", err)
			}
		}
	})
}
