package auth

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/internal/testclock"
)

// TestCachedTokensStillExpire: a token verified (and so cached) is refused
// once its exp has passed, by the verifier's clock and with its leeway,
// and is not accepted before its nbf either.
func TestCachedTokensStillExpire(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	clk := testclock.New(start)
	v := newVerifier(t, Options{Keys: []Key{{Key: key}}, Now: clk.Now, Leeway: 5 * time.Second})
	c := claims([]string{"a"}, nil)
	c.ExpiresAt = jwt.NewNumericDate(start.Add(time.Minute))
	c.NotBefore = jwt.NewNumericDate(start.Add(10 * time.Second))
	token := must(SignClaims("HS256", key, "", c))
	ctx := context.Background()

	if _, err := v.Verify(ctx, token); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("before nbf-leeway: %v, want invalid", err)
	}
	for _, at := range []time.Duration{5 * time.Second, 30 * time.Second, time.Minute + 4*time.Second} {
		clk.Set(start.Add(at))
		for range 3 { // the first verifies, the others hit the cache
			got, err := v.Verify(ctx, token)
			if err != nil || len(got.Mercure.Publish) != 1 || got.Mercure.Publish[0] != "a" {
				t.Fatalf("at +%v: %v, %v", at, got, err)
			}
		}
	}
	clk.Set(start.Add(time.Minute + 5*time.Second))
	if _, err := v.Verify(ctx, token); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("at exp+leeway, cached: %v, want invalid", err)
	}
	// Going back in time (a clock step) makes it not valid yet again.
	clk.Set(start)
	if _, err := v.Verify(ctx, token); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("before nbf after being cached: %v, want invalid", err)
	}
}

// TestCacheKeysOnTheWholeToken: a token that differs from a cached one
// in its signature alone is checked, and refused.
func TestCacheKeysOnTheWholeToken(t *testing.T) {
	v := newVerifier(t, Options{Keys: []Key{{Key: key}}})
	token := must(SignClaims("HS256", key, "", claims([]string{"*"}, nil)))
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	last := token[len(token)-1]
	forged := token[:len(token)-1] + string(rune(map[bool]byte{true: 'A', false: 'B'}[last != 'A']))
	if _, err := v.Verify(context.Background(), forged); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a token with another signature: %v, want invalid", err)
	}
	other := must(SignClaims("HS256", []byte("another key"), "", claims([]string{"*"}, nil)))
	if _, err := v.Verify(context.Background(), other); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a token signed with another key: %v, want invalid", err)
	}
}

// TestCacheIsBounded: however many distinct tokens are verified, the cache
// holds at most cacheSize, and a token too long is not kept.
func TestCacheIsBounded(t *testing.T) {
	v := newVerifier(t, Options{Keys: []Key{{Key: key}}})
	for i := range cacheSize + 100 {
		c := claims([]string{"t" + strconv.Itoa(i)}, nil)
		if _, err := v.Verify(context.Background(), must(SignClaims("HS256", key, "", c))); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(v.cache.entries); n != cacheSize {
		t.Fatalf("cache holds %d tokens, want %d", n, cacheSize)
	}
	v = newVerifier(t, Options{Keys: []Key{{Key: key}}})
	long := claims([]string{string(make([]byte, cacheMaxToken))}, nil)
	if _, err := v.Verify(context.Background(), must(SignClaims("HS256", key, "", long))); err != nil {
		t.Fatal(err)
	}
	if n := len(v.cache.entries); n != 0 {
		t.Fatalf("a token over %d bytes was cached", cacheMaxToken)
	}
}

// TestCacheEntriesAgeOut: an entry is used for cacheTTL at most, then the
// token is verified again (here: with a JWKS-like change simulated by
// removing the verifier's key).
func TestCacheEntriesAgeOut(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	clk := testclock.New(start)
	v := newVerifier(t, Options{Keys: []Key{{Key: key}}, Now: clk.Now})
	token := must(SignClaims("HS256", key, "", claims([]string{"*"}, nil)))
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	v.keys = nil // what a JWKS refresh that dropped the key does
	clk.Set(start.Add(cacheTTL - time.Second))
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Fatalf("within the TTL: %v", err)
	}
	clk.Set(start.Add(cacheTTL + time.Second))
	if _, err := v.Verify(context.Background(), token); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("after the TTL, without the key: %v, want invalid", err)
	}
}

// TestCachedClaimsCannotBeAppendedInto: the claims a hit returns are
// shared, so their lists have no spare room: two callers appending to
// them get lists of their own.
func TestCachedClaimsCannotBeAppendedInto(t *testing.T) {
	v := newVerifier(t, Options{Keys: []Key{{Key: key}}})
	token := must(SignClaims("HS256", key, "", claims([]string{"a", "b", "c"}, []string{"x", "y", "z"})))
	first, err := v.Verify(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	second, _ := v.Verify(context.Background(), token)
	mine := append(first.Mercure.Publish, "mine")
	theirs := append(second.Mercure.Publish, "theirs")
	subMine := append(first.Mercure.Subscribe, "mine")
	_ = append(second.Mercure.Subscribe, "theirs")
	if mine[3] != "mine" || theirs[3] != "theirs" || subMine[3] != "mine" {
		t.Fatalf("appends through the shared claims wrote into each other: %v, %v, %v", mine, theirs, subMine)
	}
}

func BenchmarkVerify(b *testing.B) {
	v := NewVerifier(key)
	token := must(SignClaims("HS256", key, "", claims([]string{"*"}, nil)))
	for b.Loop() {
		if _, err := v.Verify(context.Background(), token); err != nil {
			b.Fatal(err)
		}
	}
}
