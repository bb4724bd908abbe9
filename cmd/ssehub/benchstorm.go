package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// storm is a reconnect storm in a bench run: what a deploy or a restart
// does to a hub, when every client comes back at once with its
// Last-Event-ID. While the live subscribers receive the published events,
// c.Resumers more streams open at once, each resuming c.ResumeBehind events
// back; the run then reports the live latency during the storm and when
// the last resumer had its backlog.
type storm struct {
	c benchConfig

	mu  sync.Mutex
	ids []string // every acknowledged id, in order (one publisher)

	at       time.Time // when the resumers started connecting
	base     int64     // events acknowledged before the resumption point
	resumers []*benchSubscriber
	failed   atomic.Int64
	// connected is how long opening every resumer took.
	connected time.Duration
	opened    chan struct{} // closed when every resumer connected or failed
	// child, with --storm-process child, is the process that opens and
	// reads the resumers.
	child *stormChild
}

func newStorm(c benchConfig) *storm {
	if c.StormAt <= 0 {
		// Half-way, and late enough to have the backlog plus a few
		// seconds of live latency to compare with.
		need := time.Duration(float64(c.ResumeBehind)/float64(c.Rate)*float64(time.Second)) + 2*time.Second
		c.StormAt = max(c.Duration/2, need)
	}
	return &storm{c: c, opened: make(chan struct{})}
}

// acked records the ids of a publish.
func (st *storm) acked(ids []string) {
	st.mu.Lock()
	st.ids = append(st.ids, ids...)
	st.mu.Unlock()
}

func (st *storm) published() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.ids)
}

// run waits for the storm's time, then opens every resumer and starts
// reading it, all in parallel, as clients coming back at once would.
func (st *storm) run(ctx context.Context, start time.Time, wg *sync.WaitGroup, stderr io.Writer) {
	defer close(st.opened)
	t := time.NewTimer(time.Until(start.Add(st.c.StormAt)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	// A publisher held back (by a loaded machine) may not have published
	// the backlog yet at the storm's time: the storm waits for it.
	for st.published() <= st.c.ResumeBehind {
		select {
		case <-ctx.Done():
			fmt.Fprintf(stderr, "ssehub bench: only %d events published, not more than --resume-behind; no storm\n", st.published())
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	st.mu.Lock()
	n := len(st.ids)
	st.base = int64(n - st.c.ResumeBehind)
	resumeAfter := st.ids[st.base-1]
	st.mu.Unlock()
	fmt.Fprintf(stderr, "ssehub bench: storm: %d streams resume %d events back\n", st.c.Resumers, st.c.ResumeBehind)
	if st.c.StormProcess == "child" {
		if err := st.startChild(ctx, resumeAfter, stderr); err != nil {
			fmt.Fprintf(stderr, "ssehub bench: %v; no storm\n", err)
		}
		return
	}
	st.at = time.Now()
	resumers, failed, err := openResumers(ctx, st.c, resumeAfter, wg)
	if err != nil {
		st.at = time.Time{}
		fmt.Fprintf(stderr, "ssehub bench: %v; no storm\n", err)
		return
	}
	st.resumers = resumers
	st.failed.Store(failed)
	st.connected = time.Since(st.at)
}

// openResumers opens c.Resumers streams at once, each resuming after
// resumeAfter, and starts reading them; it returns when every one is open
// or failed (a nil entry). Resumer i is stream c.Subscribers+i of the run,
// for the spread over hubs and source addresses.
func openResumers(ctx context.Context, c benchConfig, resumeAfter string, wg *sync.WaitGroup) ([]*benchSubscriber, int64, error) {
	var poller *streamPoller
	if c.Reader == "epoll" {
		var err error
		if poller, err = newStreamPoller(ctx, c.Resumers, wg); err != nil {
			return nil, 0, err
		}
	}
	resumers := make([]*benchSubscriber, c.Resumers)
	var failed atomic.Int64
	// At most this many connections are being opened at a time, so the
	// hub's listen backlog does not overflow into SYN retries, which
	// would measure the kernel's retry timer instead of the hub.
	sem := make(chan struct{}, 1000)
	var opening sync.WaitGroup
	for i := range c.Resumers {
		opening.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c := c
			c.lastEventID = resumeAfter
			s, err := openBenchStream(ctx, c, c.Subscribers+i)
			if err != nil {
				failed.Add(1)
				return
			}
			s.resumer, s.target = true, int64(c.ResumeBehind)
			resumers[i] = s
			if poller == nil {
				wg.Go(func() { s.read(new(atomic.Int64)) })
			} else if err := poller.add(i, s); err != nil {
				s.err.Store(&err)
				s.close()
			}
		})
	}
	opening.Wait()
	return resumers, failed.Load(), nil
}

// waitForResumers returns when every resumer has want events, has
// failed, or at the deadline.
func waitForResumers(resumers []*benchSubscriber, want int64, deadline time.Time) {
	for _, s := range resumers {
		for s != nil && s.got.Load() < want && s.err.Load() == nil && time.Now().Before(deadline) {
			<-time.After(10 * time.Millisecond)
		}
	}
}

// wait returns when every resumer has every event after its resumption
// point (of the published ones), or at the deadline.
func (st *storm) wait(deadline time.Time, published int64) {
	select {
	case <-st.opened:
	case <-time.After(time.Until(deadline)):
		return
	}
	if st.child != nil {
		st.child.wait(st, published-st.base, deadline)
		return
	}
	waitForResumers(st.resumers, published-st.base, deadline)
}

// stormResult is what a storm measured.
type stormResult struct {
	resumers, failed, caughtUp int
	connected                  time.Duration
	last                       time.Duration // from the storm's start to the last catch-up
	missed, extra              int64         // events the resumers lacked or got twice
	before, during             []time.Duration
	// publishDuring: the publish requests' own latency over the same
	// span as during, to tell a slow publish from a slow delivery.
	publishDuring []time.Duration
	// batches, with --storm-detail: each publish from the storm's start
	// until the last resumer caught up, with its live deliveries.
	batches []stormBatch
}

// stormBatch is one publish of a storm and what its live deliveries took.
type stormBatch struct {
	at             time.Duration // after the storm began
	publish        time.Duration // the request's own latency; 0 when unknown
	deliveries     []time.Duration
	p50, p92, tail time.Duration // of deliveries; tail is the slowest
}

// result is read after the run's readers stopped.
func (st *storm) result(live []*benchSubscriber, published int64, pt *publishTimes) stormResult {
	r := stormResult{resumers: st.c.Resumers, failed: int(st.failed.Load()), connected: st.connected}
	if st.at.IsZero() {
		return r
	}
	if st.child != nil && st.resumers == nil {
		// The child was never asked (the run's deadline came first): none
		// of its resumers counts as caught up.
		st.resumers = unreported(st.c.Resumers - int(st.failed.Load()))
	}
	end := time.Now().UnixNano()
	lastCatch := int64(0)
	for _, s := range st.resumers {
		if s == nil {
			continue
		}
		if at := s.caughtUp.Load(); at != 0 {
			r.caughtUp++
			lastCatch = max(lastCatch, at)
		}
		want := published - st.base
		got := s.got.Load()
		r.missed += max(want-got, 0)
		r.extra += max(got-want, 0)
	}
	if r.caughtUp == r.resumers-r.failed && lastCatch != 0 {
		end = lastCatch
		r.last = time.Duration(lastCatch - st.at.UnixNano())
	}
	// Live latency of the events published before the storm, and of
	// those published from its start until the last resumer caught up.
	at := st.at.UnixNano()
	for _, s := range live {
		for i, sent := range s.sent {
			switch {
			case sent < at:
				r.before = append(r.before, s.latencies[i])
			case sent <= end:
				r.during = append(r.during, s.latencies[i])
			}
		}
	}
	slices.Sort(r.before)
	slices.Sort(r.during)
	r.publishDuring = pt.between(at, end)
	if st.c.StormDetail {
		r.batches = stormBatches(live, pt, at, end)
	}
	return r
}

// stormBatches groups the live deliveries of what was published in
// [at, end] (unix nanos) by publish: the events of one batch carry the one
// publish time their batch was stamped with, just before its request.
func stormBatches(live []*benchSubscriber, pt *publishTimes, at, end int64) []stormBatch {
	var starts []int64
	var took []time.Duration
	if pt != nil {
		pt.mu.Lock()
		for i, s := range pt.starts {
			if s >= at && s <= end+int64(time.Millisecond) {
				starts, took = append(starts, s), append(took, pt.times[i])
			}
		}
		pt.mu.Unlock()
	}
	byStamp := map[int64][]time.Duration{}
	for _, s := range live {
		for i, sent := range s.sent {
			if sent >= at && sent <= end {
				byStamp[sent] = append(byStamp[sent], s.latencies[i])
			}
		}
	}
	var out []stormBatch
	for _, sent := range slices.Sorted(maps.Keys(byStamp)) {
		b := stormBatch{at: time.Duration(sent - at), deliveries: byStamp[sent]}
		// The batch's request is the first to start after its stamp,
		// within a millisecond.
		first := -1
		for i, s := range starts {
			if s >= sent && s <= sent+int64(time.Millisecond) && (first < 0 || s < starts[first]) {
				first = i
			}
		}
		if first >= 0 {
			b.publish = took[first]
		}
		d := b.deliveries
		slices.Sort(d)
		b.p50, b.p92, b.tail = percentileOf(d, 0.5), percentileOf(d, 0.92), percentileOf(d, 1)
		out = append(out, b)
	}
	return out
}

func (r stormResult) print(w io.Writer, c benchConfig) {
	p99 := func(l []time.Duration) string {
		if len(l) == 0 {
			return "-"
		}
		return l[min(int(0.99*float64(len(l))), len(l)-1)].Round(10 * time.Microsecond).String()
	}
	fmt.Fprintf(w, "resumers         %d, each %d events back, connected within %v (%d failed)\n",
		r.resumers, c.ResumeBehind, r.connected.Round(time.Millisecond), r.failed)
	last := "never"
	if r.last > 0 {
		last = r.last.Round(time.Millisecond).String()
	}
	fmt.Fprintf(w, "caught up        %d, the last %s after the storm began\n", r.caughtUp, last)
	fmt.Fprintf(w, "resumers missed  %d (and %d received twice)\n", r.missed, r.extra)
	fmt.Fprintf(w, "live p99 before  %s (%d deliveries)\n", p99(r.before), len(r.before))
	fmt.Fprintf(w, "live p99 storm   %s (%d deliveries, published until the last resumer caught up)\n", p99(r.during), len(r.during))
	fmt.Fprintf(w, "publish p99 storm %s (%d requests, in the same span)\n", p99(r.publishDuring), len(r.publishDuring))
	ms := func(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }
	for _, b := range r.batches {
		publish := "?"
		if b.publish > 0 {
			publish = ms(b.publish)
		}
		fmt.Fprintf(w, "storm batch      +%dms: publish %s, %d live deliveries p50 %s p92 %s max %s\n",
			b.at.Milliseconds(), publish, len(b.deliveries), ms(b.p50), ms(b.p92), ms(b.tail))
	}
}
