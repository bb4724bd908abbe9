package epoch

import (
	"regexp"
	"testing"
)

func TestNew(t *testing.T) {
	form := regexp.MustCompile(`^[a-z2-7]{8}$`)
	seen := map[string]bool{}
	for range 100 {
		e := New()
		if !form.MatchString(e) {
			t.Fatalf("epoch %q is not 8 lowercase base32 characters", e)
		}
		if seen[e] {
			t.Fatalf("epoch %q made twice", e)
		}
		seen[e] = true
	}
}
