package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// maxJWKSBytes bounds a fetched key set: a real one is a few KiB.
const maxJWKSBytes = 1 << 20

// jwks is a key set fetched from a URL and kept. Fetches are serialised;
// verifies read the current set without waiting for them, except a verify
// whose kid is unknown, which waits for the fetch it caused.
type jwks struct {
	opts Options

	mu          sync.Mutex // guards the fields below
	set         []Key
	fetched     time.Time // last successful fetch
	attempted   time.Time // last fetch, successful or not
	fetching    chan struct{}
	fetchFailed error
}

func newJWKS(opts Options) *jwks { return &jwks{opts: opts} }

// keys returns the keys fitting alg and kid, fetching the set again when it
// is older than JWKSRefresh, or when kid is unknown and the last fetch is
// older than JWKSMinRefresh.
func (j *jwks) keys(ctx context.Context, alg, kid string) []jwt.VerificationKey {
	j.mu.Lock()
	now := j.opts.Now()
	mayFetch := now.Sub(j.attempted) >= j.opts.JWKSMinRefresh
	stale := now.Sub(j.fetched) >= j.opts.JWKSRefresh && mayFetch
	// An unknown kid waits for a fetch under way (another verify may have
	// started it for the same new key) or starts one if the rate allows.
	unknown := kid != "" && !hasKID(j.set, kid) && (mayFetch || j.fetching != nil)
	set := j.set
	j.mu.Unlock()
	if stale || unknown {
		// A fetch that fails keeps the set we have: the key server being
		// down must not lock out tokens it signed before. Only a token
		// with an unknown kid waits for a fetch under way; the others go
		// on with the set they have.
		_ = j.fetch(ctx, unknown)
		j.mu.Lock()
		set = j.set
		j.mu.Unlock()
	}
	return matching(set, alg, kid)
}

func hasKID(keys []Key, kid string) bool {
	for _, k := range keys {
		if k.ID == kid {
			return true
		}
	}
	return false
}

// fetch gets the set. If a fetch is under way it waits for that one and
// returns its result, or, when wait is false, returns at once.
func (j *jwks) fetch(ctx context.Context, wait bool) error {
	j.mu.Lock()
	if inFlight := j.fetching; inFlight != nil {
		j.mu.Unlock()
		if !wait {
			return nil
		}
		select {
		case <-inFlight:
		case <-ctx.Done():
			return ctx.Err()
		}
		j.mu.Lock()
		defer j.mu.Unlock()
		return j.fetchFailed
	}
	done := make(chan struct{})
	j.fetching = done
	j.attempted = j.opts.Now()
	j.mu.Unlock()

	// The fetch is the set's, not the caller's: it counts against
	// JWKSMinRefresh, so were it cut short when the caller goes away, any
	// client could keep the set from ever being refreshed by sending a
	// made-up kid and hanging up. It runs to its own bound instead, and the
	// caller waits for it as long as its ctx allows.
	go func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksFetchTimeout)
		defer cancel()
		set, err := j.get(fctx)
		j.mu.Lock()
		defer j.mu.Unlock()
		j.fetching, j.fetchFailed = nil, err
		close(done)
		if err != nil {
			j.opts.Logger.Warn("fetching the JWKS failed; keeping the keys fetched before", "url", RedactURL(j.opts.JWKSURL), "err", err)
			return
		}
		j.set, j.fetched = set, j.opts.Now()
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.fetchFailed
}

// jwksFetchTimeout bounds one fetch of the set, whatever the HTTP client's
// own timeout.
const jwksFetchTimeout = 10 * time.Second

// get fetches and parses the set. Its errors are logged and returned by
// New, so none of them holds the URL as given: it may carry credentials
// (see RedactURL).
func (j *jwks) get(ctx context.Context) ([]Key, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.opts.JWKSURL, nil)
	if err != nil {
		// The URL does not parse. The *url.Error quotes all of it; what
		// is wrong with it is enough to fix it.
		if uerr, ok := errors.AsType[*url.Error](err); ok {
			err = uerr.Err
		}
		return nil, fmt.Errorf("the JWKS URL is invalid: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := j.opts.HTTPClient.Do(req)
	if err != nil {
		// The client's *url.Error hides a password but keeps the query,
		// where a key server may take its token.
		if uerr, ok := errors.AsType[*url.Error](err); ok {
			uerr.URL = RedactURL(uerr.URL)
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", RedactURL(j.opts.JWKSURL), resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("the key set is larger than %d bytes", maxJWKSBytes)
	}
	return ParseJWKS(body)
}

// RedactURL returns a JWKS URL fit for logs, errors and shown
// configuration. A key server may take credentials in the URL itself, as
// user:password@ or as a token in the query, and logs are read by more
// people than the secret's owners: the password, a user name given without
// one (a token passed as the user, as some servers take it) and every query
// value are replaced by "********", which keeps the host, the path and the
// query's names to tell which URL it is. A URL that does not parse is not
// shown at all: which of its parts is a secret cannot be told.
func RedactURL(raw string) string {
	const mark = "********"
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	user := ""
	if u.User != nil {
		name := mark // a user name alone may be the token
		if _, hasPassword := u.User.Password(); hasPassword {
			name = url.User(u.User.Username()).String() + ":" + mark
		}
		user = name + "@"
		u.User = nil
	}
	if u.RawQuery != "" {
		parts := strings.Split(u.RawQuery, "&")
		for i, p := range parts {
			if name, _, ok := strings.Cut(p, "="); ok {
				parts[i] = name + "=" + mark
			} else if p != "" {
				parts[i] = mark // a bare token, not a name
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	u.Fragment, u.RawFragment = "", ""
	s := u.String()
	if user != "" {
		// The marks are written as they are: url.Userinfo would escape
		// them.
		if rest, ok := strings.CutPrefix(s, u.Scheme+"://"); ok {
			s = u.Scheme + "://" + user + rest
		}
	}
	return s
}

// jwk is one JSON Web Key (RFC 7517) with the members of the key types
// used for signatures: RSA, EC and OKP (Ed25519).
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// ParseJWKS reads a JSON Web Key Set. Keys that are not for signatures
// ("use" other than "sig"), or of a type or algorithm a Verifier does not
// support, are skipped, as RFC 7517 asks; a set with no usable key is an
// error.
func ParseJWKS(b []byte) ([]Key, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("invalid JWKS: %v", err)
	}
	var keys []Key
	var skipped []error
	for i, raw := range doc.Keys {
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			skipped = append(skipped, fmt.Errorf("key %d: %v", i, err))
			continue
		}
		key, err := k.key()
		if err == nil {
			err = key.check()
		}
		if err != nil {
			skipped = append(skipped, fmt.Errorf("key %d (%q): %v", i, k.Kid, err))
			continue
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("the JWKS holds no usable signing key: %w", errors.Join(skipped...))
	}
	return keys, nil
}

func (k jwk) key() (Key, error) {
	if k.Use != "" && k.Use != "sig" {
		return Key{}, fmt.Errorf("use %q is not sig", k.Use)
	}
	out := Key{ID: k.Kid, Algorithm: k.Alg}
	switch k.Kty {
	case "RSA":
		n, err1 := b64int(k.N)
		e, err2 := b64int(k.E)
		if err := errors.Join(err1, err2); err != nil {
			return Key{}, err
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
			return Key{}, errors.New("invalid RSA exponent")
		}
		out.Key = &rsa.PublicKey{N: n, E: int(e.Int64())}
	case "EC":
		curve := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}[k.Crv]
		if curve == nil {
			return Key{}, fmt.Errorf("unsupported curve %q", k.Crv)
		}
		pub, err := ecPublicKey(curve, k.X, k.Y)
		if err != nil {
			return Key{}, err
		}
		out.Key = pub
	case "OKP":
		if k.Crv != "Ed25519" {
			return Key{}, fmt.Errorf("unsupported curve %q", k.Crv)
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil {
			return Key{}, fmt.Errorf("x: %v", err)
		}
		out.Key = ed25519.PublicKey(x)
	default:
		return Key{}, fmt.Errorf("unsupported key type %q", k.Kty)
	}
	return out, nil
}

// ecPublicKey builds an ECDSA key from its coordinates, checking the point
// is on the curve (an off-curve point is an invalid-curve attack).
func ecPublicKey(curve elliptic.Curve, xs, ys string) (*ecdsa.PublicKey, error) {
	size := (curve.Params().BitSize + 7) / 8
	x, err1 := base64.RawURLEncoding.DecodeString(xs)
	y, err2 := base64.RawURLEncoding.DecodeString(ys)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	if len(x) != size || len(y) != size {
		return nil, fmt.Errorf("coordinates must have %d bytes", size)
	}
	// The uncompressed point encoding, parsed by crypto/ecdsa, which
	// refuses points that are not on the curve.
	point := append(append([]byte{4}, x...), y...)
	return ecdsa.ParseUncompressedPublicKey(curve, point)
}

func b64int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("invalid base64url integer %q", s)
	}
	return new(big.Int).SetBytes(b), nil
}
