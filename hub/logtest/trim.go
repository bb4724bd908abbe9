package logtest

import (
	"testing"

	"github.com/ssehub/ssehub/hub"
)

// testTrimThrough checks a log that implements hub.Trimmer: trimming on
// demand removes exactly the events asked for, forgets their ids, reports
// ErrTrimmed to readers from before them, never goes past the newest event
// and keeps Seq growing after it.
func (s *suite) testTrimThrough(t *testing.T) {
	l, c := s.open(t, hub.Retention{})
	tr, ok := l.(hub.Trimmer)
	if !ok {
		t.Skip("the log is not a hub.Trimmer")
	}
	appendOK(t, l, ev("first", "1"), ev("", "2"), ev("third", "3"))
	appendOK(t, l, events(c, "x", 5)...)
	n, err := tr.TrimThrough(ctx(t), 3)
	if err != nil || n != 3 {
		t.Fatalf("TrimThrough(3) = %d, %v; want 3, nil", n, err)
	}
	wantRetained(t, l, 4, 8)
	_, err = l.Lookup(ctx(t), "third")
	wantErr(t, "Lookup of a trimmed id", err, hub.ErrNotFound)
	if n, err := tr.TrimThrough(ctx(t), 2); err != nil || n != 0 {
		t.Errorf("TrimThrough(2) again = %d, %v; want 0, nil", n, err)
	}
	if n, err := tr.TrimThrough(ctx(t), 100); err != nil || n != 5 {
		t.Fatalf("TrimThrough(100) = %d, %v; want 5 (every event), nil", n, err)
	}
	if i := info(t, l); i.First != 9 || i.Last != 8 || i.Events != 0 {
		t.Fatalf("after trimming all: Info %+v, want First 9, Last 8, Events 0", i)
	}
	appendOK(t, l, events(c, "y", 1)...)
	wantRetained(t, l, 9, 9)
}
