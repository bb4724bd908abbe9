package auth

import (
	"crypto"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Sign makes an HS256 token granting the given selectors, expiring after ttl
// (0: never).
func Sign(secret []byte, publish, subscribe []string, ttl time.Duration) (string, error) {
	var c Claims
	c.Mercure.Publish = publish
	c.Mercure.Subscribe = subscribe
	if ttl > 0 {
		c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(ttl))
	}
	return SignClaims("HS256", secret, "", &c)
}

// SignClaims makes a token of claims signed with alg. key is an HMAC
// secret ([]byte) for HS*, or a private key (*rsa.PrivateKey,
// *ecdsa.PrivateKey, ed25519.PrivateKey) of the kind alg needs. kid, when
// set, goes into the header so a verifier with several keys picks this
// one.
func SignClaims(alg string, key any, kid string, c *Claims) (string, error) {
	if !slices.Contains(supported, alg) {
		return "", fmt.Errorf("unsupported algorithm %q", alg)
	}
	method := jwt.GetSigningMethod(alg)
	var pub any
	switch k := key.(type) {
	case []byte:
		pub = k
	case crypto.Signer:
		pub = k.Public()
	default:
		return "", fmt.Errorf("cannot sign with a %T", key)
	}
	if k := (Key{Key: pub}); !k.fits(alg) {
		return "", fmt.Errorf("an %s cannot sign %s", k.kind(), alg)
	}
	t := jwt.NewWithClaims(method, c)
	if kid != "" {
		t.Header["kid"] = kid
	}
	return t.SignedString(key)
}
