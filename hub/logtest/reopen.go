package logtest

import (
	"reflect"
	"testing"

	"github.com/ssehub/ssehub/hub"
)

func (s *suite) testReopenKeepsEvents(t *testing.T) {
	s.needReopen(t)
	c := newClock()
	cfg := Config{Now: c.Now}
	l, err := s.f.Open(t, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	appendOK(t, l, ev("a", "1"), ev("", "2"))
	appendOK(t, l, events(c, "e", 8)...)
	before := info(t, l)
	want := readAll(t, l, 0, 100)

	l = s.reopen(t, l, cfg)
	if after := info(t, l); after != before {
		t.Errorf("Info after reopening = %+v, want %+v", after, before)
	}
	got := readAll(t, l, 0, 100)
	if !reflect.DeepEqual(summaries(got), summaries(want)) {
		t.Errorf("events after reopening:\n %v\nwant %v", summaries(got), summaries(want))
	}
	if seq, err := l.Lookup(ctx(t), "a"); err != nil || seq != 1 {
		t.Errorf(`Lookup("a") after reopening = %d, %v; want 1`, seq, err)
	}
	wantErr(t, "Append of a held id after reopening", l.Append(ctx(t), []*hub.Event{ev("a", "again")}), hub.ErrDuplicateID)
	next := events(c, "next", 1)
	appendOK(t, l, next...)
	if next[0].Seq != 11 {
		t.Errorf("first Append after reopening got Seq %d, want 11", next[0].Seq)
	}
}

func (s *suite) testReopenContinuesSeqAfterTrim(t *testing.T) {
	s.needReopen(t)
	c := newClock()
	// A bound smaller than any event: every append is trimmed away at once,
	// so only the log's metadata remembers where Seq stands.
	cfg := Config{Retention: hub.Retention{MaxBytes: 1}, Now: c.Now}
	l, err := s.f.Open(t, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	appendOK(t, l, events(c, "e", 3)...)
	epoch := info(t, l).Epoch
	wantRetained(t, l, 4, 3)

	l = s.reopen(t, l, cfg)
	if e := info(t, l).Epoch; e != epoch {
		t.Errorf("Epoch after reopening = %q, want %q", e, epoch)
	}
	wantRetained(t, l, 4, 3)
	next := events(c, "next", 2)
	appendOK(t, l, next...)
	if next[0].Seq != 4 || next[1].Seq != 5 {
		t.Errorf("Appends after reopening got Seqs %d, %d; want 4, 5", next[0].Seq, next[1].Seq)
	}

	cfg.Retention = hub.Retention{}
	l = s.reopen(t, l, cfg)
	appendOK(t, l, events(c, "kept", 1)...)
	wantRetained(t, l, 6, 6)
}

// summaries reduce events to what the comparison needs, Time compared as an
// instant (a durable log may not keep its location).
func summaries(evs []*hub.Event) []hub.Event {
	out := make([]hub.Event, len(evs))
	for i, e := range evs {
		out[i] = *e
		out[i].Time = e.Time.UTC()
	}
	return out
}
