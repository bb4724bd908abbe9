package redis

import (
	"maps"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub/logtest"
	"github.com/ssehub/ssehub/internal/testclock"
	"github.com/ssehub/ssehub/internal/testserver"
	"github.com/ssehub/ssehub/store/internal/epoch"
)

func TestNodesLapseAfterTheirTTL(t *testing.T) {
	srv := testserver.Redis(t, testserver.RedisOptions{})
	c := testclock.New(time.Unix(1_000_000, 0))
	stream := "nodes-" + epoch.New()
	a, err := open(t, srv, stream, logtest.Config{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := open(t, srv, stream, logtest.Config{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.ReportNode(t.Context(), "a", 3, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.ReportNode(t.Context(), "b", 5, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		after time.Duration
		want  map[string]int64
	}{
		{0, map[string]int64{"a": 3, "b": 5}},
		{20 * time.Second, map[string]int64{"b": 5}},
		{20 * time.Second, map[string]int64{}},
	} {
		c.Advance(tc.after)
		got, err := b.Nodes(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, tc.want) {
			t.Errorf("Nodes after %v more = %v, want %v", tc.after, got, tc.want)
		}
	}
}
