package auth

import (
	"slices"
	"sync"
	"time"
)

// verifiedCache remembers tokens whose signature and claims checked out, so
// that a publisher sending the same token with every request pays for
// parsing it and checking its signature once, not per request. Both are
// pure functions of the token and the keys, so a hit needs no
// invalidation; what changes with time is checked on every hit: exp and
// nbf against the verifier's clock, with its leeway. An entry also lives
// at most cacheTTL, so that a key dropped from a JWKS stops being honoured
// within that time, as a fresh fetch would make it.
//
// It is bounded: at most cacheSize tokens, each at most cacheMaxToken
// bytes; when full, an arbitrary entry makes room (Go's map order), which
// costs nothing to track and, for the few tokens a hub's publishers use,
// evicts rarely.
type verifiedCache struct {
	mu      sync.Mutex
	entries map[string]cachedClaims
}

const (
	cacheSize     = 1024
	cacheMaxToken = 4096
	cacheTTL      = time.Minute
)

type cachedClaims struct {
	claims *Claims
	until  time.Time // cacheTTL after it was verified
}

func newVerifiedCache() *verifiedCache {
	return &verifiedCache{entries: make(map[string]cachedClaims)}
}

// get returns the claims of a token verified before, if they are still
// valid at now.
func (c *verifiedCache) get(token string, now time.Time, leeway time.Duration) (*Claims, bool) {
	c.mu.Lock()
	e, ok := c.entries[token]
	c.mu.Unlock()
	if !ok || now.After(e.until) || !timely(e.claims, now, leeway) {
		return nil, false
	}
	return e.claims, true
}

// put remembers a token that was just verified at now.
func (c *verifiedCache) put(token string, claims *Claims, now time.Time) {
	if len(token) > cacheMaxToken {
		return
	}
	// Callers share the claims: an append to their lists must copy.
	claims.Mercure.Publish = slices.Clip(claims.Mercure.Publish)
	claims.Mercure.Subscribe = slices.Clip(claims.Mercure.Subscribe)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[token]; !ok && len(c.entries) >= cacheSize {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[token] = cachedClaims{claims: claims, until: now.Add(cacheTTL)}
}

// timely applies the parser's time rules again: not expired (exp) and
// already valid (nbf), each with the leeway.
func timely(c *Claims, now time.Time, leeway time.Duration) bool {
	if c.ExpiresAt != nil && !now.Before(c.ExpiresAt.Add(leeway)) {
		return false
	}
	if c.NotBefore != nil && now.Add(leeway).Before(c.NotBefore.Time) {
		return false
	}
	return true
}
