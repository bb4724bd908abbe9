// Package auth verifies the JSON Web Tokens that publishers and subscribers
// present, and turns their claims into rights: which topics a token may
// publish to and which private topics it may receive.
//
// Claims follow the Mercure shape, so tokens made for a Mercure hub work
// unchanged:
//
//	{"mercure": {"publish": ["chat/{room}", "https://example.com/books/{id}"], "subscribe": ["*"]}}
//
// Each entry is a topic selector (exact topic, URI template, or "*").
//
// A Verifier accepts only the algorithms of its allow-list, and checks each
// token only with keys of the kind its algorithm needs: HMAC secrets for
// HS*, RSA keys for RS*/PS*, ECDSA keys of the matching curve for ES*,
// Ed25519 keys for EdDSA. Keys are given directly or fetched from a JWKS
// URL.
package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Errors from Verify. ErrNoToken means the request carried none.
var (
	ErrNoToken      = errors.New("no token")
	ErrInvalidToken = errors.New("invalid token")
)

// Claims are the rights a token grants.
type Claims struct {
	Mercure struct {
		Publish   []string `json:"publish,omitempty"`
		Subscribe []string `json:"subscribe,omitempty"`
		// Payload is any JSON the token's issuer attached; the Mercure
		// door shows it in subscription events.
		Payload json.RawMessage `json:"payload,omitempty"`
	} `json:"mercure"`
	jwt.RegisteredClaims
}

// Options configure a Verifier. Keys, JWKSURL or both must be given.
type Options struct {
	// Algorithms is the allow-list of signing algorithms (default: every
	// one of Algorithms()). A token signed otherwise is refused before any
	// key is looked at.
	Algorithms []string
	// Keys are static keys: HMAC secrets or public keys.
	Keys []Key
	// JWKSURL, when set, is a JSON Web Key Set fetched when the Verifier is
	// made, again every JWKSRefresh, and when a token names a kid the set
	// does not hold (at most once per JWKSMinRefresh).
	JWKSURL string
	// JWKSRefresh is how old the fetched set may grow before a verify
	// fetches it again (default 15m).
	JWKSRefresh time.Duration
	// JWKSMinRefresh bounds how often a token with an unknown kid may cause
	// a fetch, so made-up kids cannot make the hub hammer the key server
	// (default 1m).
	JWKSMinRefresh time.Duration
	// HTTPClient fetches the JWKS (default: a client with a 10s timeout).
	HTTPClient *http.Client
	// Audience, when set, must be one of a token's "aud" values.
	Audience string
	// Issuer, when set, must be a token's "iss".
	Issuer string
	// Leeway is the clock skew allowed for exp, nbf and iat (default 30s;
	// negative: none).
	Leeway time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives failed JWKS fetches (default: discarded).
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if len(o.Algorithms) == 0 {
		o.Algorithms = Algorithms()
	}
	if o.JWKSRefresh <= 0 {
		o.JWKSRefresh = 15 * time.Minute
	}
	if o.JWKSMinRefresh <= 0 {
		o.JWKSMinRefresh = time.Minute
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Leeway == 0 {
		o.Leeway = 30 * time.Second
	} else if o.Leeway < 0 {
		o.Leeway = 0
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	opts   Options
	keys   []Key // static keys
	jwks   *jwks // nil without a JWKS URL
	parser *jwt.Parser
	cache  *verifiedCache
}

// New returns a verifier. With a JWKSURL it fetches the set once before
// returning, so a wrong URL or an unreachable key server is reported now.
func New(ctx context.Context, opts Options) (*Verifier, error) {
	opts.Algorithms = slices.Clone(opts.Algorithms)
	opts.setDefaults()
	for _, alg := range opts.Algorithms {
		if !slices.Contains(supported, alg) {
			return nil, fmt.Errorf("unsupported algorithm %q (supported: %v)", alg, supported)
		}
	}
	if len(opts.Keys) == 0 && opts.JWKSURL == "" {
		return nil, errors.New("no key: give keys or a JWKS URL")
	}
	for _, k := range opts.Keys {
		if err := k.check(); err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(opts.Algorithms, k.fits) {
			return nil, fmt.Errorf("an %s verifies none of the allowed algorithms %v", k.kind(), opts.Algorithms)
		}
	}
	parserOpts := []jwt.ParserOption{
		jwt.WithStrictDecoding(), // the unused bits of a part's last character are zero
		jwt.WithValidMethods(opts.Algorithms),
		jwt.WithLeeway(opts.Leeway),
		jwt.WithTimeFunc(opts.Now),
	}
	if opts.Audience != "" {
		parserOpts = append(parserOpts, jwt.WithAudience(opts.Audience))
	}
	if opts.Issuer != "" {
		parserOpts = append(parserOpts, jwt.WithIssuer(opts.Issuer))
	}
	v := &Verifier{opts: opts, keys: slices.Clone(opts.Keys), parser: jwt.NewParser(parserOpts...), cache: newVerifiedCache()}
	if opts.JWKSURL != "" {
		v.jwks = newJWKS(opts)
		if err := v.jwks.fetch(ctx, true); err != nil {
			return nil, fmt.Errorf("fetching the JWKS: %w", err)
		}
	}
	return v, nil
}

// NewVerifier returns a verifier of tokens signed with one HMAC secret
// (HS256, HS384 or HS512), the hub's default. It panics on an empty key.
func NewVerifier(secret []byte) *Verifier {
	v, err := New(context.Background(), Options{
		Algorithms: []string{"HS256", "HS384", "HS512"},
		Keys:       []Key{{Key: secret}},
	})
	if err != nil {
		panic("auth.NewVerifier: " + err.Error())
	}
	return v
}

// Verify parses and checks a token: algorithm, signature, expiry and
// not-before times, and audience and issuer when configured. ctx bounds a
// JWKS fetch the token may cause. A token verified before is not parsed
// again (see verifiedCache); its times are still checked. The claims
// returned are shared: callers must not change them.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if token == "" {
		return nil, ErrNoToken
	}
	if !compact(token) {
		return nil, fmt.Errorf("%w: token is malformed: a token is three base64url parts joined by dots, without padding or white space", ErrInvalidToken)
	}
	now := v.opts.Now()
	if c, ok := v.cache.get(token, now, v.opts.Leeway); ok {
		return c, nil
	}
	var c Claims
	_, err := v.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		return v.keyFor(ctx, t)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	v.cache.put(token, &c, now)
	return &c, nil
}

// Lapsed reports whether c, the claims of a token v accepted, has expired
// since: its exp and the leeway have passed on v's clock, so v would now
// refuse the token. Claims without exp never lapse.
func (v *Verifier) Lapsed(c *Claims) bool {
	return c != nil && c.ExpiresAt != nil && v.opts.Now().After(c.ExpiresAt.Add(v.opts.Leeway))
}

// compact reports whether token is spelled as a JWS compact serialisation
// strictly is: three parts of base64url characters, no padding. Go's
// base64 decoder skips CR and LF anywhere, and the parser takes any
// spelling it decodes; so one token had endless spellings, each a token of
// its own to the per-token publish rate and to the verified-token cache.
// With this and strict decoding a token has exactly one.
func compact(token string) bool {
	dots := 0
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case c == '.':
			dots++
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return dots == 2
}

// keyFor returns the keys that may check t: those fitting its algorithm
// and naming its kid, if it has one.
func (v *Verifier) keyFor(ctx context.Context, t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	kid, _ := t.Header["kid"].(string)
	found := matching(v.keys, alg, kid)
	if v.jwks != nil {
		found = append(found, v.jwks.keys(ctx, alg, kid)...)
	}
	if len(found) == 0 {
		if kid != "" {
			return nil, fmt.Errorf("no %s key with kid %q", alg, kid)
		}
		return nil, fmt.Errorf("no key for %s", alg)
	}
	return jwt.VerificationKeySet{Keys: found}, nil
}

// matching returns the keys of keys that fit alg and kid.
func matching(keys []Key, alg, kid string) []jwt.VerificationKey {
	var out []jwt.VerificationKey
	for _, k := range keys {
		if (k.ID == "" || kid == "" || k.ID == kid) && k.fits(alg) {
			out = append(out, k.Key)
		}
	}
	return out
}
