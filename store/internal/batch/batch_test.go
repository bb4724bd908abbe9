package batch

import (
	"errors"
	"testing"

	"github.com/ssehub/ssehub/hub"
)

func TestCheckIDs(t *testing.T) {
	ev := func(id string) *hub.Event { return &hub.Event{ID: id} }
	for _, tc := range []struct {
		events []*hub.Event
		dup    bool
	}{
		{nil, false},
		{[]*hub.Event{ev(""), ev(""), ev("a"), ev("b")}, false},
		{[]*hub.Event{ev("a"), ev(""), ev("a")}, true},
	} {
		err := CheckIDs(tc.events)
		if got := errors.Is(err, hub.ErrDuplicateID); got != tc.dup || (err != nil) != tc.dup {
			t.Errorf("CheckIDs(%d events) = %v, want duplicate %v", len(tc.events), err, tc.dup)
		}
	}
}
