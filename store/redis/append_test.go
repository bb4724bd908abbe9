package redis

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/logtest"
	"github.com/ssehub/ssehub/internal/testserver"
	"github.com/ssehub/ssehub/store/internal/epoch"
)

// One group call answers each of its requests on its own: a request
// holding an id the log has, or one an earlier request of the same group
// takes, is refused whole, and the others get dense Seqs in group order.
func TestGroupAnswersEachAppendOnItsOwn(t *testing.T) {
	srv := testserver.Redis(t, testserver.RedisOptions{})
	l, err := open(t, srv, "group-"+epoch.New(), logtest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append(t.Context(), []*hub.Event{{ID: "held", Data: "0"}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	batches := [][]*hub.Event{
		{{ID: "x", Data: "a1"}, {Data: "a2"}},
		{{ID: "x", Data: "b1"}},                           // x: taken by the first request
		{{Data: "c1"}, {Data: "c2"}, {Data: "c3"}},        // accepted
		{{ID: "y", Data: "d1"}, {ID: "held", Data: "d2"}}, // held: refused whole, y too
		{{ID: "y", Data: "e1"}},                           // y is free: d took nothing
	}
	group := make([]*appendReq, len(batches))
	for i, b := range batches {
		group[i] = newAppendReq(b, now)
	}
	l.commitGroup(group)
	want := []struct {
		last uint64
		dup  bool
	}{{3, false}, {0, true}, {6, false}, {0, true}, {7, false}}
	for i, r := range group {
		rep := <-r.reply
		if w := want[i]; errors.Is(rep.err, hub.ErrDuplicateID) != w.dup || rep.last != w.last || (rep.err != nil && !w.dup) {
			t.Errorf("request %d: last %d, err %v; want last %d, duplicate %v", i, rep.last, rep.err, w.last, w.dup)
		}
	}
	evs, err := l.Read(t.Context(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Errorf("event %d has Seq %d", i, ev.Seq)
		}
		got = append(got, ev.Data)
	}
	if w := []string{"0", "a1", "a2", "c1", "c2", "c3", "e1"}; !slices.Equal(got, w) {
		t.Errorf("log holds %q, want %q", got, w)
	}
	for id, seq := range map[string]uint64{"held": 1, "x": 2, "y": 7} {
		if s, err := l.Lookup(t.Context(), id); err != nil || s != seq {
			t.Errorf("Lookup(%q) = %d, %v; want %d", id, s, err, seq)
		}
	}
}
