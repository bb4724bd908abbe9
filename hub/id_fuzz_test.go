package hub

import "testing"

// FuzzParseID: ParseID never panics, and an id it accepts is exactly the
// id FormatID gives for what it parsed, so a position can be read back
// only from the one spelling the hub hands out ("e-01" is not "e-1").
func FuzzParseID(f *testing.F) {
	for _, s := range []string{"abc-1", "abc-0", "a-b-18446744073709551615", "-1", "x-", "x-01", "x-+1",
		"x-18446744073709551616", "x- 1", "", "-", "\u00fc-7", "a\n-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		epoch, seq, ok := ParseID(id)
		if !ok {
			return
		}
		if epoch == "" || FormatID(epoch, seq) != id {
			t.Fatalf("ParseID(%q) = %q, %d: FormatID gives %q", id, epoch, seq, FormatID(epoch, seq))
		}
		if e2, s2, ok2 := ParseID(FormatID(epoch, seq)); !ok2 || e2 != epoch || s2 != seq {
			t.Fatalf("round trip of %q", id)
		}
	})
}
