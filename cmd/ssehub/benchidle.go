package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ssehub/ssehub/publisher"
)

// measureAfterBurst sends a burst of c.Burst events to the idle streams
// subs, reads every one of them, leaves the streams idle for c.Settle and
// measures the hub again: a hub that keeps what a burst grew (queues,
// unsent buffers) stays above its idle figure. The streams' memory since
// m.before is divided by the streams counted in the idle figure.
func measureAfterBurst(ctx context.Context, c benchConfig, subs []*benchSubscriber, m *idleMemory) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	poller, err := newStreamPoller(ctx, len(subs), &wg)
	if err != nil {
		return err
	}
	for i, s := range subs {
		if err := poller.add(i, s); err != nil {
			return err
		}
	}
	peak := m.after
	sample := func() {
		if rss, err := processRSS(c.IdlePID); err == nil {
			peak = max(peak, rss)
		}
	}
	publish := benchPublisher(c)
	filler := strings.Repeat("x", max(c.Payload-20, 0))
	for sent := 0; sent < c.Burst; {
		batch := make([]publisher.Event, min(1000, c.Burst-sent))
		for i := range batch {
			batch[i] = publisher.Event{Topic: c.Topic, Data: strconv.FormatInt(time.Now().UnixNano(), 10) + "|" + filler}
		}
		if _, err := publish(ctx, batch); err != nil {
			return fmt.Errorf("publishing the burst: %w", err)
		}
		sent += len(batch)
		sample()
	}
	deadline := time.Now().Add(time.Minute)
	for i, s := range subs {
		for s.got.Load() < int64(c.Burst) {
			if err := s.err.Load(); err != nil {
				return fmt.Errorf("stream %d ended during the burst: %v", i, *err)
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("stream %d got %d of the burst's %d events within a minute", i, s.got.Load(), c.Burst)
			}
			sample()
			<-time.After(10 * time.Millisecond)
		}
	}
	m.peak = peak
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(c.Settle):
	}
	if m.heapAfterBurst, err = liveHeap(ctx, c); err != nil {
		return err
	}
	// The runtime returns freed memory to the system in the background:
	// take the least of a few readings over two seconds.
	m.afterBurst = peak
	for range 8 {
		if rss, err := processRSS(c.IdlePID); err == nil {
			m.afterBurst = min(m.afterBurst, rss)
		}
		<-time.After(250 * time.Millisecond)
	}
	m.perStreamAfterBurst = float64(m.afterBurst-m.before) / float64(c.Subscribers)
	return nil
}

// liveHeap has the hub collect its garbage and returns the bytes of its
// heap still in use, from its profiler (0 without --pprof-url): unlike
// the resident memory, it does not count memory the runtime freed but
// keeps for later.
func liveHeap(ctx context.Context, c benchConfig) (int64, error) {
	if c.PprofURL == "" {
		return 0, nil
	}
	url := strings.TrimSuffix(c.PprofURL, "/") + "/debug/pprof/heap?gc=1&debug=1"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("--pprof-url: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s %v", url, resp.Status, err)
	}
	// The text profile ends with the runtime's MemStats, "# HeapAlloc = N".
	_, rest, ok := strings.Cut(string(body), "\n# HeapAlloc = ")
	if !ok {
		return 0, fmt.Errorf("GET %s: no HeapAlloc in the profile", url)
	}
	n, _, _ := strings.Cut(rest, "\n")
	return strconv.ParseInt(strings.TrimSpace(n), 10, 64)
}
