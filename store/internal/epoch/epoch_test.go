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

func TestMarkOnlyRises(t *testing.T) {
	m := NewMark("e", 5)
	m.Saw(3)
	if m.Seq() != 5 {
		t.Fatalf("after Saw(3) from 5: %d", m.Seq())
	}
	m.Saw(9)
	if m.Seq() != 9 || m.Epoch != "e" {
		t.Fatalf("after Saw(9): %d in %q", m.Seq(), m.Epoch)
	}
}
