package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssehub/ssehub/publisher"
	"github.com/ssehub/ssehub/sse"
)

// benchConfig is what `ssehub bench` is told.
type benchConfig struct {
	URL         string
	Token       string
	Subscribers int
	Rate        int
	Batch       int
	Duration    time.Duration
	Drain       time.Duration
	Payload     int
	Topic       string
	Sources     listFlag
}

// benchCmd is the project's load tool: it opens subscribers to a running
// hub, publishes at a fixed rate over HTTP, and reports deliveries per
// second, publish-to-receive latency and events missed.
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var c benchConfig
	fs := newFlagSet("bench", stderr)
	fs.StringVar(&c.URL, "url", "http://localhost:8080", "the hub's base URL")
	fs.StringVar(&c.Token, "token", "", "publisher token")
	fs.IntVar(&c.Subscribers, "subscribers", 1000, "event streams to open")
	fs.IntVar(&c.Rate, "rate", 300, "events published per second")
	fs.IntVar(&c.Batch, "batch", 10, "events per publish request")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long to publish")
	fs.DurationVar(&c.Drain, "drain", 10*time.Second, "how long to wait for the last deliveries")
	fs.IntVar(&c.Payload, "payload", 64, "bytes of data per event")
	fs.StringVar(&c.Topic, "topic", "bench", "topic to publish to and subscribe to")
	fs.Var(&c.Sources, "source-addrs", "local addresses to spread connections over (127.0.0.2,127.0.0.3,…), past one address's port range")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if c.Subscribers < 1 || c.Rate < 1 || c.Batch < 1 || c.Duration <= 0 {
		fmt.Fprintln(stderr, "ssehub bench: --subscribers, --rate, --batch and --duration must be positive")
		return errUsage
	}
	r, err := runBench(ctx, c, stderr)
	if err != nil {
		return err
	}
	r.print(stdout, c)
	return nil
}

// benchResult is what one run measured.
type benchResult struct {
	published  int64
	delivered  int64
	missed     int64
	latencies  []time.Duration // sorted
	publishFor time.Duration
	elapsed    time.Duration // from the first publish to the last delivery
}

func runBench(ctx context.Context, c benchConfig, stderr io.Writer) (benchResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	subs := make([]*benchSubscriber, c.Subscribers)
	var wg sync.WaitGroup
	var lastDelivery atomic.Int64
	for i := range subs {
		s, err := openBenchSubscriber(ctx, c, i)
		if err != nil {
			return benchResult{}, fmt.Errorf("subscriber %d: %w", i, err)
		}
		subs[i] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.read(&lastDelivery)
		}()
	}
	fmt.Fprintf(stderr, "ssehub bench: %d subscribers connected; publishing %d events/s for %v\n", c.Subscribers, c.Rate, c.Duration)
	start := time.Now()
	published, err := publishAtRate(ctx, c)
	publishFor := time.Since(start)
	if err != nil {
		return benchResult{}, err
	}
	// Wait for every subscriber to have everything, or the drain bound.
	deadline := time.Now().Add(c.Drain)
	for _, s := range subs {
		for s.got.Load() < published && time.Now().Before(deadline) && s.err.Load() == nil {
			<-time.After(10 * time.Millisecond)
		}
	}
	cancel()
	wg.Wait()
	var r benchResult
	r.published = published
	r.publishFor = publishFor
	r.elapsed = time.Duration(lastDelivery.Load() - start.UnixNano())
	for _, s := range subs {
		got := s.got.Load()
		r.delivered += got
		r.missed += max(published-got, 0)
		r.latencies = append(r.latencies, s.latencies...)
	}
	slices.Sort(r.latencies)
	return r, nil
}

// publishAtRate publishes c.Rate events a second in batches until
// c.Duration has passed, and returns how many were acknowledged.
func publishAtRate(ctx context.Context, c benchConfig) (int64, error) {
	client := publisher.New(c.URL, c.Token, &http.Client{Timeout: 30 * time.Second})
	interval := time.Duration(float64(time.Second) * float64(c.Batch) / float64(c.Rate))
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	end := time.Now().Add(c.Duration)
	filler := strings.Repeat("x", max(c.Payload-20, 0))
	var published int64
	for time.Now().Before(end) {
		batch := make([]publisher.Event, c.Batch)
		for i := range batch {
			// The data starts with the publish time, for the latency.
			batch[i] = publisher.Event{Topic: c.Topic, Data: strconv.FormatInt(time.Now().UnixNano(), 10) + "|" + filler}
		}
		if _, err := client.PublishBatch(ctx, batch); err != nil {
			return published, err
		}
		published += int64(len(batch))
		select {
		case <-ctx.Done():
			return published, ctx.Err()
		case <-ticker.C:
		}
	}
	return published, nil
}

// benchSubscriber is one event stream and what it received.
type benchSubscriber struct {
	body      io.ReadCloser
	got       atomic.Int64
	err       atomic.Pointer[error]
	latencies []time.Duration
}

func openBenchSubscriber(ctx context.Context, c benchConfig, i int) (*benchSubscriber, error) {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if len(c.Sources) > 0 {
		dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(c.Sources[i%len(c.Sources)])}
	}
	client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext, DisableCompression: true}}
	u := strings.TrimSuffix(c.URL, "/") + "/events?" + url.Values{"topic": {c.Topic}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, errors.New(resp.Status)
	}
	return &benchSubscriber{body: resp.Body}, nil
}

// read counts events and their latency until the stream ends.
func (s *benchSubscriber) read(lastDelivery *atomic.Int64) {
	defer s.body.Close()
	p := sse.NewParser(s.body)
	for {
		ev, err := p.Next()
		if err != nil {
			s.err.Store(&err)
			return
		}
		now := time.Now().UnixNano()
		stamp, _, _ := strings.Cut(ev.Data, "|")
		sent, err := strconv.ParseInt(stamp, 10, 64)
		if err != nil {
			continue // not a bench event
		}
		s.latencies = append(s.latencies, time.Duration(now-sent))
		s.got.Add(1)
		for {
			last := lastDelivery.Load()
			if now <= last || lastDelivery.CompareAndSwap(last, now) {
				break
			}
		}
	}
}

func (r benchResult) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[min(int(p*float64(len(r.latencies))), len(r.latencies)-1)]
}

func (r benchResult) print(w io.Writer, c benchConfig) {
	rate := float64(r.delivered) / r.elapsed.Seconds()
	fmt.Fprintf(w, "subscribers      %d\n", c.Subscribers)
	fmt.Fprintf(w, "published        %d events in %v (%.0f/s)\n", r.published, r.publishFor.Round(time.Millisecond), float64(r.published)/r.publishFor.Seconds())
	fmt.Fprintf(w, "delivered        %d (%.0f deliveries/s)\n", r.delivered, rate)
	fmt.Fprintf(w, "missed           %d\n", r.missed)
	fmt.Fprintf(w, "latency p50      %v\n", r.percentile(0.50).Round(10*time.Microsecond))
	fmt.Fprintf(w, "latency p99      %v\n", r.percentile(0.99).Round(10*time.Microsecond))
	fmt.Fprintf(w, "latency max      %v\n", r.percentile(1).Round(10*time.Microsecond))
}
