package auth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var key = []byte("auth-test-key")

// Test keys, made once: RSA generation is slow under -race.
var (
	rsaKey = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 2048)) })
	ecKeys = sync.OnceValue(func() map[string]*ecdsa.PrivateKey {
		return map[string]*ecdsa.PrivateKey{
			"ES256": must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)),
			"ES384": must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader)),
			"ES512": must(ecdsa.GenerateKey(elliptic.P521(), rand.Reader)),
		}
	})
	edKey = sync.OnceValue(func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return must(k, err)
	})
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// signer returns a private key (or secret) for alg.
func signer(alg string) any {
	switch {
	case strings.HasPrefix(alg, "HS"):
		return key
	case strings.HasPrefix(alg, "RS"), strings.HasPrefix(alg, "PS"):
		return rsaKey()
	case strings.HasPrefix(alg, "ES"):
		return ecKeys()[alg]
	}
	return edKey()
}

// public returns the verifying half of signer(alg).
func public(alg string) any {
	switch k := signer(alg).(type) {
	case []byte:
		return k
	case crypto.Signer:
		return k.Public()
	}
	panic(alg)
}

func claims(publish, subscribe []string) *Claims {
	var c Claims
	c.Mercure.Publish, c.Mercure.Subscribe = publish, subscribe
	return &c
}

func newVerifier(t *testing.T, opts Options) *Verifier {
	t.Helper()
	v, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifyAcceptsSignedTokens(t *testing.T) {
	tok, err := Sign(key, []string{"chat/{room}"}, []string{"users/7"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewVerifier(key).Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Mercure.Publish) != 1 || c.Mercure.Publish[0] != "chat/{room}" || c.Mercure.Subscribe[0] != "users/7" {
		t.Errorf("claims = %+v", c.Mercure)
	}
}

// TestVerifyEveryAlgorithm: a token of each supported algorithm verifies
// with the matching public key, and is refused when its algorithm is not
// on the allow-list.
func TestVerifyEveryAlgorithm(t *testing.T) {
	for _, alg := range Algorithms() {
		t.Run(alg, func(t *testing.T) {
			tok, err := SignClaims(alg, signer(alg), "", claims([]string{"t"}, nil))
			if err != nil {
				t.Fatal(err)
			}
			v := newVerifier(t, Options{Algorithms: []string{alg}, Keys: []Key{{Key: public(alg)}}})
			c, err := v.Verify(context.Background(), tok)
			if err != nil || c.Mercure.Publish[0] != "t" {
				t.Fatalf("Verify = %+v, %v", c, err)
			}
			// Every other algorithm allowed, and the same key where it
			// serves one of them: the token is still refused.
			others := slices.DeleteFunc(Algorithms(), func(a string) bool { return a == alg })
			k := Key{Key: public(alg)}
			if !slices.ContainsFunc(others, k.fits) {
				k = Key{Key: key} // Ed25519 serves EdDSA alone
			}
			v = newVerifier(t, Options{Algorithms: others, Keys: []Key{k}})
			if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("%s token with %s not allowed: err = %v, want ErrInvalidToken", alg, alg, err)
			}
		})
	}
}

func pemOf(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestVerifyRejects(t *testing.T) {
	now := time.Now()
	hs := func(mod func(*Claims)) string {
		c := claims([]string{"*"}, nil)
		mod(c)
		return must(SignClaims("HS256", key, "", c))
	}
	rsaPEM := pemOf(t, rsaKey().Public())
	for _, tc := range []struct {
		name  string
		opts  Options
		token string
	}{
		{"expired", Options{}, hs(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Hour)) })},
		{"not yet valid", Options{}, hs(func(c *Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour)) })},
		{"signed with another key", Options{}, must(Sign([]byte("another key"), []string{"*"}, nil, 0))},
		{"alg none", Options{}, must(jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"mercure": map[string]any{"publish": []string{"*"}}}).
			SignedString(jwt.UnsafeAllowNoneSignatureType))},
		{"not a token", Options{}, "abc.def.ghi"},
		{"wrong audience", Options{Audience: "https://hub.example"}, hs(func(c *Claims) { c.Audience = jwt.ClaimStrings{"https://other.example"} })},
		{"no audience", Options{Audience: "https://hub.example"}, hs(func(*Claims) {})},
		{"wrong issuer", Options{Issuer: "https://idp.example"}, hs(func(c *Claims) { c.Issuer = "https://evil.example" })},
		{"no issuer", Options{Issuer: "https://idp.example"}, hs(func(*Claims) {})},
		{"unknown kid on a key with an id", Options{Keys: []Key{{ID: "k1", Key: key}}},
			must(SignClaims("HS256", key, "k2", claims([]string{"*"}, nil)))},
		// Algorithm confusion: the hub verifies RS256 with a public key,
		// which anyone has; an HS256 token signed with the key's PEM bytes
		// as HMAC secret must not pass, even with HS256 allowed.
		{"HS256 signed with the RSA public key", Options{Keys: []Key{must(ParseKey(rsaPEM))}},
			must(SignClaims("HS256", rsaPEM, "", claims([]string{"*"}, nil)))},
		{"HS256 signed with the RSA key's DER", Options{Keys: []Key{must(ParseKey(rsaPEM))}},
			must(SignClaims("HS256", must(x509.MarshalPKIXPublicKey(rsaKey().Public())), "", claims([]string{"*"}, nil)))},
		{"RS256 token for an HMAC hub", Options{},
			must(SignClaims("RS256", rsaKey(), "", claims([]string{"*"}, nil)))},
		{"ES256 token for a P-384 key", Options{Keys: []Key{{Key: ecKeys()["ES384"].Public()}}},
			must(SignClaims("ES256", ecKeys()["ES256"], "", claims([]string{"*"}, nil)))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opts.Keys == nil {
				tc.opts.Keys = []Key{{Key: key}}
			}
			if _, err := newVerifier(t, tc.opts).Verify(context.Background(), tc.token); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("err = %v, want ErrInvalidToken", err)
			}
		})
	}
	if _, err := NewVerifier(key).Verify(context.Background(), ""); !errors.Is(err, ErrNoToken) {
		t.Errorf("empty token: err = %v, want ErrNoToken", err)
	}
}

// TestATokenHasOneSpelling: base64 decoders skip line ends and ignore the
// unused bits of a part's last character, so one signed token could be
// sent in many spellings, each new to the per-token publish rate and to
// the verified-token cache. Only the token as signed verifies.
func TestATokenHasOneSpelling(t *testing.T) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, alg := range []string{"HS256", "EdDSA"} {
		tok := must(SignClaims(alg, signer(alg), "", claims([]string{"*"}, nil)))
		v := newVerifier(t, Options{Algorithms: []string{alg}, Keys: []Key{{Key: public(alg)}}})
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatalf("%s: the token as signed: %v", alg, err)
		}
		dot := strings.LastIndexByte(tok, '.')
		last := strings.IndexByte(alphabet, tok[len(tok)-1])
		sameBits := tok[:len(tok)-1] + string(alphabet[last^1]) // the lowest bit is unused
		a, errA := base64.RawURLEncoding.DecodeString(tok[dot+1:])
		b, errB := base64.RawURLEncoding.DecodeString(sameBits[dot+1:])
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Fatalf("%s: the respelt signature decodes to other bytes (%v, %v)", alg, errA, errB)
		}
		for name, other := range map[string]string{
			"a line end in the payload": tok[:dot-4] + "\n" + tok[dot-4:],
			"CR LF after the signature": tok + "\r\n",
			"padding":                   tok + "=",
			"unused bits set":           sameBits,
			"a space inside":            tok[:dot] + " " + tok[dot:],
		} {
			if _, err := v.Verify(context.Background(), other); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("%s, %s: err = %v, want ErrInvalidToken", alg, name, err)
			}
		}
	}
}

func TestVerifyChecksAudienceAndIssuerWhenConfigured(t *testing.T) {
	c := claims(nil, []string{"users/1"})
	c.Audience = jwt.ClaimStrings{"https://other.example", "https://hub.example"}
	c.Issuer = "https://idp.example"
	tok := must(SignClaims("HS256", key, "", c))
	v := newVerifier(t, Options{Keys: []Key{{Key: key}}, Audience: "https://hub.example", Issuer: "https://idp.example"})
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("a token naming the hub among its audiences: %v", err)
	}
}

func TestVerifyUsesTheInjectedClock(t *testing.T) {
	c := claims([]string{"*"}, nil)
	c.ExpiresAt = jwt.NewNumericDate(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	tok := must(SignClaims("HS256", key, "", c))
	for _, tc := range []struct {
		now   time.Time
		valid bool
	}{
		{time.Date(2029, 12, 31, 23, 59, 0, 0, time.UTC), true},
		{time.Date(2030, 1, 1, 0, 0, 20, 0, time.UTC), true}, // within the leeway
		{time.Date(2030, 1, 1, 0, 1, 0, 0, time.UTC), false},
	} {
		v := newVerifier(t, Options{Keys: []Key{{Key: key}}, Now: func() time.Time { return tc.now }})
		if _, err := v.Verify(context.Background(), tok); (err == nil) != tc.valid {
			t.Errorf("at %v: err = %v, want valid %v", tc.now, err, tc.valid)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	small := must(rsa.GenerateKey(rand.Reader, 1024))
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"no key", Options{}},
		{"alg none", Options{Algorithms: []string{"none"}, Keys: []Key{{Key: key}}}},
		{"unknown algorithm", Options{Algorithms: []string{"HS1"}, Keys: []Key{{Key: key}}}},
		{"empty secret", Options{Keys: []Key{{Key: []byte{}}}}},
		{"short RSA key", Options{Keys: []Key{{Key: &small.PublicKey}}}},
		{"key for the wrong algorithm", Options{Keys: []Key{{Algorithm: "ES256", Key: key}}}},
		{"a private key", Options{Keys: []Key{{Key: rsaKey()}}}},
		{"a key no allowed algorithm fits", Options{Algorithms: []string{"RS256"}, Keys: []Key{{Key: key}}}},
	} {
		if _, err := New(context.Background(), tc.opts); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
}

func TestParseKey(t *testing.T) {
	rsaPriv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey())})
	pkcs8 := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(edKey()))})
	ecPriv := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: must(x509.MarshalECPrivateKey(ecKeys()["ES256"]))})
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey().PublicKey)})
	for _, tc := range []struct {
		name string
		in   []byte
		alg  string // an algorithm the key must verify
	}{
		{"secret", []byte("  s3cret\n"), "HS256"},
		{"RSA PUBLIC KEY (PKIX)", pemOf(t, rsaKey().Public()), "RS256"},
		{"RSA PUBLIC KEY (PKCS #1)", pkcs1, "PS384"},
		{"EC public key", pemOf(t, ecKeys()["ES384"].Public()), "ES384"},
		{"Ed25519 public key", pemOf(t, edKey().Public()), "EdDSA"},
		{"RSA private key: its public half", rsaPriv, "RS512"},
		{"PKCS #8 private key", pkcs8, "EdDSA"},
		{"EC private key", ecPriv, "ES256"},
	} {
		k, err := ParseKey(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !k.fits(tc.alg) {
			t.Errorf("%s: a %s does not verify %s", tc.name, k.kind(), tc.alg)
		}
		if _, private := k.Key.(crypto.Signer); private {
			t.Errorf("%s: kept the private key", tc.name)
		}
	}
	if k, _ := ParseKey([]byte(" s3cret\n")); string(k.Key.([]byte)) != "s3cret" {
		t.Errorf("secret = %q, want it trimmed", k.Key)
	}
	for _, bad := range []string{"", " \n", "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n",
		"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n"} {
		if _, err := ParseKey([]byte(bad)); err == nil {
			t.Errorf("ParseKey(%q) succeeded", bad)
		}
	}
}

func TestSignClaimsRefusesAMismatchedKey(t *testing.T) {
	for _, tc := range []struct {
		alg string
		key any
	}{
		{"RS256", key}, {"HS256", rsaKey()}, {"ES256", ecKeys()["ES384"]}, {"EdDSA", rsaKey()}, {"none", key},
	} {
		if _, err := SignClaims(tc.alg, tc.key, "", claims(nil, nil)); err == nil {
			t.Errorf("signing %s with a %T succeeded", tc.alg, tc.key)
		}
	}
}

func TestFromRequest(t *testing.T) {
	for _, tc := range []struct {
		name, header, query, cookie string
		want                        string
		from                        Source
	}{
		{"nothing", "", "", "", "", NoToken},
		{"bearer header", "Bearer abc", "", "", "abc", FromHeader},
		{"scheme is case-insensitive", "bearer abc", "", "", "abc", FromHeader},
		{"other scheme: no token, no fallback", "Basic abc", "", "xyz", "", FromHeader},
		{"cookie", "", "", "xyz", "xyz", FromCookie},
		{"query", "", "qqq", "", "qqq", FromQuery},
		{"header wins", "Bearer abc", "qqq", "xyz", "abc", FromHeader},
		{"query wins over the cookie", "", "qqq", "xyz", "qqq", FromQuery},
	} {
		target := "/events"
		if tc.query != "" {
			target += "?authorization=" + tc.query
		}
		r := httptest.NewRequest("GET", target, nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		if tc.cookie != "" {
			r.Header.Set("Cookie", "mercureAuthorization="+tc.cookie)
		}
		if got, from := FromRequest(r); got != tc.want || from != tc.from {
			t.Errorf("%s: got %q from %v, want %q from %v", tc.name, got, from, tc.want, tc.from)
		}
	}
}

// FuzzParseKey: no input makes the key reader panic, a key it returns
// passes the checks a Verifier makes, and PEM input never comes back as
// an HMAC secret.
func FuzzParseKey(f *testing.F) {
	der := must(x509.MarshalPKIXPublicKey(ecKeys()["ES256"].Public()))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: []byte{0x30, 0x03, 0x02, 0x01, 0x01}}))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	f.Add([]byte("secret"))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKey(b)
		if err != nil {
			return
		}
		if err := k.check(); err != nil {
			t.Fatalf("returned a key that fails its check: %v", err)
		}
		if _, secret := k.Key.([]byte); secret && strings.HasPrefix(strings.TrimSpace(string(b)), "-----BEGIN") {
			t.Fatalf("PEM input became an HMAC secret")
		}
	})
}
