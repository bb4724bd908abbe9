package auth

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var key = []byte("auth-test-key")

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

func TestVerifyRejects(t *testing.T) {
	var old Claims
	old.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
	expired, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, old).SignedString(key)
	otherKey, _ := Sign([]byte("another key"), []string{"*"}, nil, 0)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"mercure": map[string]any{"publish": []string{"*"}}}).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	for _, tc := range []struct{ name, token string }{
		{"expired", expired},
		{"signed with another key", otherKey},
		{"alg none", none},
		{"not a token", "abc.def.ghi"},
	} {
		if _, err := NewVerifier(key).Verify(context.Background(), tc.token); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: err = %v, want ErrInvalidToken", tc.name, err)
		}
	}
	if _, err := NewVerifier(key).Verify(context.Background(), ""); !errors.Is(err, ErrNoToken) {
		t.Errorf("empty token: err = %v, want ErrNoToken", err)
	}
}

func TestFromRequest(t *testing.T) {
	for _, tc := range []struct{ name, header, cookie, want string }{
		{"bearer header", "Bearer abc", "", "abc"},
		{"scheme is case-insensitive", "bearer abc", "", "abc"},
		{"other scheme", "Basic abc", "", ""},
		{"cookie", "", "xyz", "xyz"},
		{"header wins", "Bearer abc", "xyz", "abc"},
	} {
		r := httptest.NewRequest("GET", "/events", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		if tc.cookie != "" {
			r.Header.Set("Cookie", "mercureAuthorization="+tc.cookie)
		}
		if got, _ := FromRequest(r); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
