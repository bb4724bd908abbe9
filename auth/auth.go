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
package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
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
	} `json:"mercure"`
	jwt.RegisteredClaims
}

// Verifier checks tokens signed with one HMAC key. Only HS256, HS384 and
// HS512 are accepted: an explicit allow-list, so a token cannot choose
// "none" or an asymmetric algorithm to confuse the check.
type Verifier struct {
	key    []byte
	parser *jwt.Parser
}

// NewVerifier returns a verifier for tokens signed with key.
func NewVerifier(key []byte) *Verifier {
	return &Verifier{
		key: key,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{"HS256", "HS384", "HS512"}),
			jwt.WithLeeway(30*time.Second),
		),
	}
}

// Verify parses and checks a token: signature, algorithm, expiry and
// not-before times.
func (v *Verifier) Verify(token string) (*Claims, error) {
	if token == "" {
		return nil, ErrNoToken
	}
	var c Claims
	_, err := v.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return v.key, nil })
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	return &c, nil
}

// FromRequest returns the token of an HTTP request: the bearer token of the
// Authorization header, else the mercureAuthorization cookie (what browsers
// can send with EventSource), else "".
func FromRequest(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
		return ""
	}
	if c, err := r.Cookie("mercureAuthorization"); err == nil {
		return c.Value
	}
	return ""
}

// Sign makes an HS256 token granting the given selectors, expiring after ttl
// (0: never).
func Sign(key []byte, publish, subscribe []string, ttl time.Duration) (string, error) {
	var c Claims
	c.Mercure.Publish = publish
	c.Mercure.Subscribe = subscribe
	if ttl > 0 {
		c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(ttl))
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
}
