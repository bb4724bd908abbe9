package sseclient

import (
	"testing"
	"time"
)

// FuzzParseRetryAfter: any header value gives a wait from zero to a day.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "5", "-1", "86401", "99999999999999999999", "Wed, 21 Oct 2015 07:28:00 GMT", "1.5", " 5"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d := parseRetryAfter(v, now); d < 0 || d > maxRetryAfter*time.Second {
			t.Fatalf("parseRetryAfter(%q) = %v", v, d)
		}
	})
}
