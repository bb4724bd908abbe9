package pebble

import (
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// TestGroupsWaitOnlyForReturningPublishers: a group waits for as many more
// Appends as the last commit answered, only under SyncAlways, and never
// after a commit that answered one (a lone publisher).
func TestGroupsWaitOnlyForReturningPublishers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answered int
		policy   SyncPolicy
		have     int
		want     int
		wait     time.Duration
	}{
		{"a lone publisher", 1, SyncAlways, 1, 1, 0},
		{"the first commit", 0, SyncAlways, 1, 1, 0},
		{"many publishers", 8, SyncAlways, 3, 11, 300 * time.Microsecond},
		{"many publishers, batch", 8, SyncBatch, 3, 3, 0},
		{"many publishers, none", 8, SyncNone, 3, 3, 0},
	} {
		g := grouping{answered: tc.answered, took: 300 * time.Microsecond}
		want, wait := g.more(tc.have, tc.policy)
		if want != tc.want || wait != tc.wait {
			t.Errorf("%s: more(%d) = %d, %v; want %d, %v", tc.name, tc.have, want, wait, tc.want, tc.wait)
		}
	}
	slow := grouping{answered: 8, took: time.Second}
	if _, wait := slow.more(1, SyncAlways); wait != maxGroupWait {
		t.Errorf("after a commit of 1s a group waits %v, want at most %v", wait, maxGroupWait)
	}
}

// TestAGroupTakesTheAppendsItWaitsFor: a waiting group commits as soon as
// the Appends it waits for arrived, and after its wait without them.
// (await, not gather: which requests gather finds already queued, and so
// how many more it waits for, depends on when the senders ran.)
func TestAGroupTakesTheAppendsItWaitsFor(t *testing.T) {
	l := &Log{reqs: make(chan *request), quit: make(chan struct{}), opts: Options{MaxGroup: 4096}}
	req := func() *request { return &request{events: []*hub.Event{{}}} }
	// The wait is long enough that only the three Appends can end it.
	go func() {
		for range 3 {
			l.reqs <- req()
		}
	}()
	if group := l.await([]*request{req()}, 1, 4, time.Hour); len(group) != 4 {
		t.Fatalf("a group waiting for 3 more took %d requests, want 4", len(group))
	}
	// Nobody comes: the group commits alone once its wait is over.
	if group := l.await([]*request{req()}, 1, 4, time.Millisecond); len(group) != 1 {
		t.Fatalf("a group with nobody coming took %d requests, want 1", len(group))
	}
	// MaxGroup events end the wait too.
	l.opts.MaxGroup = 3
	go func() { l.reqs <- &request{events: []*hub.Event{{}, {}}} }()
	if group := l.await([]*request{req()}, 1, 10, time.Hour); len(group) != 2 {
		t.Fatalf("a group reaching MaxGroup took %d requests, want 2", len(group))
	}
	// Close ends a wait at once.
	close(l.quit)
	if group := l.await([]*request{req()}, 1, 4, time.Hour); len(group) != 1 {
		t.Fatalf("a group at Close took %d requests, want 1", len(group))
	}
}

// TestGatherTakesWhatIsQueuedAndWaitsOnlyUnderSyncAlways: gather takes every
// Append already queued, and with nothing to wait for returns at once.
func TestGatherTakesWhatIsQueuedAndWaitsOnlyUnderSyncAlways(t *testing.T) {
	l := &Log{reqs: make(chan *request, 8), quit: make(chan struct{}), opts: Options{MaxGroup: 4096, Sync: SyncBatch}}
	req := func() *request { return &request{events: []*hub.Event{{}}} }
	for range 3 {
		l.reqs <- req()
	}
	g := grouping{answered: 8, took: time.Hour, most: time.Hour}
	if group := l.gather([]*request{req()}, &g); len(group) != 4 {
		t.Fatalf("gather took %d requests of 1 and 3 queued, want 4", len(group))
	}
}
