package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
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
	// URL is the hub's base URL; with several hubs (--url A,B,…), the one
	// a subscriber or publisher uses, from URLs.
	URL         string
	URLs        []string
	PublishTo   string // "first" or "spread" over URLs
	Token       string
	Subscribers int
	Rate        int
	Batch       int
	Duration    time.Duration
	Drain       time.Duration
	Payload     int
	Topic       string
	Sources     listFlag
	CPUProfile  string
	Reader      string
	Protocol    string
	Publishers  int
	IdlePID     int
	// CPUPID, when set, is the hub's process: its CPU time over the run
	// is reported, per delivery.
	CPUPID int
	// A reconnect storm (--resumers): that many streams open at once
	// while the others are live, each resuming ResumeBehind events back.
	Resumers     int
	ResumeBehind int
	StormAt      time.Duration
	// StormProcess is where the resumers are opened and read: "child"
	// (a process of their own) or "same".
	StormProcess string
	// StormDetail prints each publish of the storm with its deliveries.
	StormDetail bool
	// After the idle measurement, a burst of Burst events to every idle
	// stream, then the memory once the hub had Settle to let go of it;
	// PprofURL, when set, is the hub's profiler: the live heap is read
	// from it after a collection, besides the resident memory.
	Burst    int
	Settle   time.Duration
	PprofURL string
	// lastEventID is what one stream being opened resumes after.
	lastEventID string
	// publishTimes, when set, collects each publish request's latency.
	publishTimes *publishTimes
}

// benchCmd is the project's load tool: it opens subscribers to a running
// hub, publishes at a fixed rate over HTTP, and reports deliveries per
// second, publish-to-receive latency and events missed.
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var c benchConfig
	fs := newFlagSet("bench", stderr)
	fs.StringVar(&c.URL, "url", "http://localhost:8080", "the hub's base URL; several hubs of one cluster as URL,URL,…: subscribers are spread over them in turn")
	fs.StringVar(&c.PublishTo, "publish-to", "first", "with several --url: publish to the first hub, or spread the publishers over them in turn (spread)")
	fs.StringVar(&c.Token, "token", "", "publisher token")
	fs.IntVar(&c.Subscribers, "subscribers", 1000, "event streams to open")
	fs.IntVar(&c.Rate, "rate", 300, "events published per second")
	fs.IntVar(&c.Batch, "batch", 10, "events per publish request")
	fs.IntVar(&c.Publishers, "publishers", 1, "concurrent publishers sharing the rate")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long to publish")
	fs.DurationVar(&c.Drain, "drain", 10*time.Second, "how long to wait for the last deliveries")
	fs.IntVar(&c.Payload, "payload", 64, "bytes of data per event")
	fs.StringVar(&c.Topic, "topic", "bench", "topic to publish to and subscribe to")
	fs.Var(&c.Sources, "source-addrs", "local addresses to spread connections over (127.0.0.2,127.0.0.3,…), past one address's port range")
	fs.StringVar(&c.Reader, "reader", defaultBenchReader, "how the subscribers read: epoll (one thread per core reads every stream; Linux) or goroutine (net/http, a goroutine per stream)")
	fs.StringVar(&c.Protocol, "protocol", "ssehub", "the hub's API: ssehub (GET /events, POST /publish), mercure (/.well-known/mercure, one form POST per event) or centrifugo (/connection/uni_sse, POST /api/publish per event to channel bench:TOPIC, --token is the API key), to measure a peer the same way")
	fs.IntVar(&c.IdlePID, "idle-memory-of", 0, "instead of publishing, open --subscribers idle streams and report how much the resident memory of the hub process with this pid grew per stream")
	fs.IntVar(&c.CPUPID, "cpu-of", 0, "report the CPU time (user and system, /proc/PID/stat) the hub process with this pid spent from the first publish until the last delivery, per delivery and per event")
	fs.IntVar(&c.Burst, "burst", 0, "with --idle-memory-of: then publish this many events at once to the idle streams, read them, and report the memory per stream once the hub settled")
	fs.DurationVar(&c.Settle, "settle", 5*time.Second, "with --burst: how long the streams stay idle after it before measuring (more than two of the hub's --heartbeat)")
	fs.StringVar(&c.PprofURL, "pprof-url", "", "with --idle-memory-of: the hub's profiler (its --pprof), e.g. http://127.0.0.1:6060, to report its live heap after a collection too; resident memory also counts what the Go runtime freed but has not yet returned to the system")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write the load tool's own CPU profile to this file, to see what it spends")
	fs.IntVar(&c.Resumers, "resumers", 0, "a reconnect storm: while publishing, open this many more streams at once, each resuming --resume-behind events back, and report the live latency during the storm and when the last resumer caught up")
	fs.IntVar(&c.ResumeBehind, "resume-behind", 1000, "how many events back each of the --resumers resumes")
	fs.DurationVar(&c.StormAt, "storm-at", 0, "when the storm starts after publishing began (default: half of --duration, and never before --resume-behind events were published)")
	fs.BoolVar(&c.StormDetail, "storm-detail", false, "with --resumers: also print each publish from the storm's start until the last resumer caught up, with its request's latency and its live deliveries' p50, p92 and max, to see which batches make the storm's p99")
	fs.StringVar(&c.StormProcess, "storm-process", "child", "where the --resumers are opened and read: child (a process of their own, started by this one, so the storm's connects and reads do not queue ahead of the publisher and the live readers in this process, as clients on other machines would not) or same (this process)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if c.StormProcess != "child" && c.StormProcess != "same" {
		fmt.Fprintln(stderr, "ssehub bench: --storm-process must be child or same")
		return errUsage
	}
	if c.Subscribers < 1 || c.Rate < 1 || c.Batch < 1 || c.Publishers < 1 || c.Duration <= 0 {
		fmt.Fprintln(stderr, "ssehub bench: --subscribers, --rate, --batch, --publishers and --duration must be positive")
		return errUsage
	}
	c.URLs = strings.Split(c.URL, ",")
	c.URL = c.URLs[0]
	if c.PublishTo != "first" && c.PublishTo != "spread" {
		fmt.Fprintln(stderr, "ssehub bench: --publish-to must be first or spread")
		return errUsage
	}
	if c.Reader != "epoll" && c.Reader != "goroutine" {
		fmt.Fprintln(stderr, "ssehub bench: --reader must be epoll or goroutine")
		return errUsage
	}
	if !slices.Contains(benchProtocols, c.Protocol) {
		fmt.Fprintln(stderr, errBenchProtocol)
		return errUsage
	}
	if c.Resumers < 0 || (c.Resumers > 0 && (c.ResumeBehind < 1 || c.Protocol != "ssehub" || c.Publishers != 1)) {
		fmt.Fprintln(stderr, "ssehub bench: --resumers needs --resume-behind ≥ 1, one publisher and the ssehub protocol")
		return errUsage
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(benchProcs(c, getenv("GOMAXPROCS"))))
	if c.CPUProfile != "" {
		f, err := os.Create(c.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if c.IdlePID != 0 {
		m, err := measureIdleMemory(ctx, c)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "idle streams     %d\n", c.Subscribers)
		fmt.Fprintf(stdout, "hub memory       %.0f bytes per stream (resident, from %d to %d KiB)\n",
			m.perStream, m.before>>10, m.after>>10)
		if c.PprofURL != "" {
			fmt.Fprintf(stdout, "live heap        %.0f bytes per stream (after a collection, from %d to %d KiB)\n",
				perStream(m.heapBefore, m.heapAfter, c), m.heapBefore>>10, m.heapAfter>>10)
		}
		if c.Burst > 0 {
			fmt.Fprintf(stdout, "after a burst    %.0f bytes per stream (resident, %d KiB at most during it, %d KiB after %v idle)\n",
				m.perStreamAfterBurst, m.peak>>10, m.afterBurst>>10, c.Settle)
		}
		if c.Burst > 0 && c.PprofURL != "" {
			fmt.Fprintf(stdout, "live heap after  %.0f bytes per stream (after a collection, %d KiB)\n",
				perStream(m.heapBefore, m.heapAfterBurst, c), m.heapAfterBurst>>10)
		}
		return nil
	}
	r, err := runBench(ctx, c, stderr)
	if err != nil {
		return err
	}
	r.print(stdout, c)
	return nil
}

// measureIdleMemory opens idle streams to the hub and reports the growth of
// its resident memory per stream. The first 50 streams warm the hub up
// (pools, code paths) and are not counted. Run it against a freshly started
// hub: a Go process keeps the memory it once used, so a hub that already
// served many streams grows less.
func measureIdleMemory(ctx context.Context, c benchConfig) (idleMemory, error) {
	var subs []*benchSubscriber
	defer func() {
		for _, s := range subs {
			s.close()
		}
	}()
	open := func(n int) error {
		for range n {
			s, err := openRawSubscriber(ctx, c, len(subs))
			if err != nil {
				return fmt.Errorf("subscriber %d: %w", len(subs), err)
			}
			subs = append(subs, s)
		}
		return nil
	}
	var m idleMemory
	if err := open(50); err != nil {
		return m, err
	}
	var err error
	if m.heapBefore, err = liveHeap(ctx, c); err != nil {
		return m, err
	}
	if m.before, err = processRSS(c.IdlePID); err != nil {
		return m, err
	}
	if err := open(c.Subscribers); err != nil {
		return m, err
	}
	if m.after, err = processRSS(c.IdlePID); err != nil {
		return m, err
	}
	if m.heapAfter, err = liveHeap(ctx, c); err != nil {
		return m, err
	}
	m.perStream = float64(m.after-m.before) / float64(c.Subscribers)
	if c.Burst > 0 {
		if err := measureAfterBurst(ctx, c, subs, &m); err != nil {
			return m, err
		}
	}
	return m, nil
}

// idleMemory is the resident memory of a hub before and after idle streams
// were opened, and the growth per stream.
type idleMemory struct {
	before, after int64
	perStream     float64
	// With a burst: the most seen while it was delivered, and after.
	peak, afterBurst    int64
	perStreamAfterBurst float64
	// With --pprof-url: the live heap after a collection at each point.
	heapBefore, heapAfter, heapAfterBurst int64
}

func perStream(from, to int64, c benchConfig) float64 {
	return float64(to-from) / float64(c.Subscribers)
}

// processRSS returns a process's resident memory in bytes (Linux).
func processRSS(pid int) (int64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("reading VmRSS of %d: %w", pid, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS for process %d", pid)
}

// benchResult is what one run measured.
type benchResult struct {
	published  int64
	delivered  int64
	missed     int64
	latencies  []time.Duration // sorted
	publishFor time.Duration
	elapsed    time.Duration // from the first publish to the last delivery
	hubCPU     *cpuTime      // with --cpu-of: what the hub spent meanwhile
	toolCPU    cpuTime       // and what this process spent
	storm      *stormResult

	publishLatencies []time.Duration // sorted; each publish request's

	nodes []benchNode // with several hubs: each one's share
}

// benchNode is what the subscribers of one hub of several received.
type benchNode struct {
	url         string
	subscribers int
	delivered   int64
	latencies   []time.Duration // sorted
}

func runBench(ctx context.Context, c benchConfig, stderr io.Writer) (benchResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	subs := make([]*benchSubscriber, c.Subscribers)
	for i := range subs {
		s, err := openBenchStream(ctx, c, i)
		if err != nil {
			for _, s := range subs[:i] {
				s.close()
			}
			return benchResult{}, fmt.Errorf("subscriber %d: %w", i, err)
		}
		s.unwrap = benchUnwrap(c)
		subs[i] = s
	}
	var lastDelivery atomic.Int64
	var wg sync.WaitGroup
	if err := readBenchStreams(ctx, c, subs, &lastDelivery, &wg); err != nil {
		for _, s := range subs {
			s.close()
		}
		return benchResult{}, err
	}
	fmt.Fprintf(stderr, "ssehub bench: %d subscribers connected; publishing %d events/s for %v\n", c.Subscribers, c.Rate, c.Duration)
	var st *storm
	var acked func([]string)
	c.publishTimes = &publishTimes{}
	var cpuBefore, toolBefore cpuTime
	if c.CPUPID != 0 {
		var err error
		if cpuBefore, err = processCPU(c.CPUPID); err != nil {
			return benchResult{}, err
		}
		toolBefore, _ = processCPU(os.Getpid())
	}
	start := time.Now()
	if c.Resumers > 0 {
		st = newStorm(c)
		acked = st.acked
		go st.run(ctx, start, &wg, stderr)
	}
	published, err := publishAtRate(ctx, c, acked)
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
	if st != nil {
		st.wait(deadline, published)
	}
	var r benchResult
	if c.CPUPID != 0 {
		after, err := processCPU(c.CPUPID)
		if err != nil {
			return benchResult{}, err
		}
		used := after.sub(cpuBefore)
		r.hubCPU = &used
		if tool, err := processCPU(os.Getpid()); err == nil {
			r.toolCPU = tool.sub(toolBefore)
		}
	}
	cancel()
	if st != nil {
		<-st.opened // no reader starts after wg.Wait
	}
	wg.Wait()
	if st != nil {
		sr := st.result(subs, published, c.publishTimes)
		r.storm = &sr
	}
	r.published = published
	r.publishFor = publishFor
	r.publishLatencies = c.publishTimes.sorted()
	r.elapsed = time.Duration(lastDelivery.Load() - start.UnixNano())
	if len(c.URLs) > 1 {
		r.nodes = make([]benchNode, len(c.URLs))
		for i := range r.nodes {
			r.nodes[i].url = c.URLs[i]
		}
	}
	for i, s := range subs {
		got := s.got.Load()
		r.delivered += got
		r.missed += max(published-got, 0)
		r.latencies = append(r.latencies, s.latencies...)
		if r.nodes != nil {
			n := &r.nodes[i%len(r.nodes)]
			n.subscribers++
			n.delivered += got
			n.latencies = append(n.latencies, s.latencies...)
		}
	}
	slices.Sort(r.latencies)
	for _, n := range r.nodes {
		slices.Sort(n.latencies)
	}
	return r, nil
}

// publishAtRate publishes c.Rate events a second in batches for
// c.Duration, from c.Publishers concurrent publishers, and returns how
// many were acknowledged. Batch k is due at k times the interval; a
// publisher that falls behind sends the next batch at once, so a slow
// response delays batches but drops none.
func publishAtRate(ctx context.Context, c benchConfig, acked func(ids []string)) (int64, error) {
	publishers := make([]func(context.Context, []publisher.Event) ([]string, error), c.Publishers)
	for p := range publishers {
		pc := c
		if c.PublishTo == "spread" {
			pc.URL = c.nodeURL(p)
		}
		publishers[p] = benchPublisher(pc)
		if c.publishTimes != nil {
			publishers[p] = c.publishTimes.timed(c, publishers[p])
		}
	}
	interval := max(time.Duration(float64(time.Second)*float64(c.Batch)/float64(c.Rate)), time.Nanosecond)
	batches := int(c.Duration / interval)
	filler := strings.Repeat("x", max(c.Payload-20, 0))
	start := time.Now()
	var published atomic.Int64
	errs := make(chan error, c.Publishers)
	for p := range c.Publishers {
		publish := publishers[p]
		go func() {
			for k := p; k < batches; k += c.Publishers {
				if wait := time.Until(start.Add(time.Duration(k) * interval)); wait > 0 {
					select {
					case <-ctx.Done():
						errs <- ctx.Err()
						return
					case <-time.After(wait):
					}
				}
				// The data starts with the publish time, for the latency:
				// one for the batch, which is what names its events as one
				// (--storm-detail).
				data := strconv.FormatInt(time.Now().UnixNano(), 10) + "|" + filler
				batch := make([]publisher.Event, c.Batch)
				for i := range batch {
					batch[i] = publisher.Event{Topic: c.Topic, Data: data}
				}
				ids, err := publish(ctx, batch)
				if err != nil {
					errs <- err
					return
				}
				if acked != nil {
					acked(ids)
				}
				published.Add(int64(len(batch)))
			}
			errs <- nil
		}()
	}
	var err error
	for range c.Publishers {
		err = cmp.Or(err, <-errs)
	}
	return published.Load(), err
}

// benchSubscriber is one event stream and what it received.
type benchSubscriber struct {
	got       atomic.Int64
	err       atomic.Pointer[error]
	latencies []time.Duration
	sent      []int64 // the publish time of each latency, unix nanos

	// A resumer of a storm counts its events but not their latency (it
	// asked for old ones) and notes when it had target of them.
	resumer  bool
	target   int64
	caughtUp atomic.Int64 // unix nanos; 0: not yet

	// unwrap, when set, finds the bench's text in an event's data (a
	// peer's stream wraps it).
	unwrap func(string) string

	body io.ReadCloser // --reader goroutine

	// --reader epoll: the raw connection, the body bytes read with the
	// response head, and the state of the decoding.
	conn    net.Conn
	initial []byte
	chunks  *chunkDecoder // nil: the body is not chunked
	frames  frameScanner
	counter eventCounter // a resumer's, instead of frames
}

func (s *benchSubscriber) close() {
	if s.body != nil {
		s.body.Close()
	}
	if s.conn != nil {
		s.conn.Close()
	}
}

func benchDialer(c benchConfig, i int) *net.Dialer {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if len(c.Sources) > 0 {
		dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(c.Sources[i%len(c.Sources)])}
	}
	return dialer
}

func benchStreamURL(c benchConfig) string {
	if c.Protocol == "centrifugo" {
		return centrifugoStreamURL(c)
	}
	path := "/events?"
	if c.Protocol == "mercure" {
		path = "/.well-known/mercure?"
	}
	return strings.TrimSuffix(c.URL, "/") + path + url.Values{"topic": {c.Topic}}.Encode()
}

// benchPublisher returns how the load tool publishes a batch: in one
// request to ssehub, or one form POST per event to a Mercure hub (the
// Mercure protocol has no batches).
func benchPublisher(c benchConfig) func(context.Context, []publisher.Event) ([]string, error) {
	if publish, err := rawPublisher(c); err == nil {
		return publish // plain http: see benchpublish.go
	}
	httpClient := benchHTTPClient(c)
	if c.Protocol == "centrifugo" {
		return centrifugoPublisher(c, httpClient)
	}
	if c.Protocol != "mercure" {
		client := publisher.New(c.URL, c.Token, httpClient)
		return client.PublishBatch
	}
	endpoint := strings.TrimSuffix(c.URL, "/") + "/.well-known/mercure"
	return func(ctx context.Context, batch []publisher.Event) ([]string, error) {
		return nil, publishMercure(ctx, c, httpClient, endpoint, batch)
	}
}

// publishMercure sends batch as one form POST per event.
func publishMercure(ctx context.Context, c benchConfig, httpClient *http.Client, endpoint string, batch []publisher.Event) error {
	for _, ev := range batch {
		data, _ := ev.Data.(string) // the load tool publishes strings
		form := url.Values{"topic": {ev.Topic}, "data": {data}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+c.Token)
		resp, err := httpClient.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("publishing to %s: %s", endpoint, resp.Status)
		}
	}
	return nil
}

// nodeURL is the hub the i-th subscriber or publisher uses: the hubs of
// --url in turn.
func (c benchConfig) nodeURL(i int) string {
	if len(c.URLs) == 0 {
		return c.URL
	}
	return c.URLs[i%len(c.URLs)]
}

// openBenchStream opens stream i the way c.Reader reads it, on its hub.
func openBenchStream(ctx context.Context, c benchConfig, i int) (*benchSubscriber, error) {
	c.URL = c.nodeURL(i)
	if c.Reader == "epoll" {
		return openRawSubscriber(ctx, c, i)
	}
	return openBenchSubscriber(ctx, c, i)
}

// readBenchStreams starts reading subs the way c.Reader says, until they
// end or, with epoll, the run's context does (lastDelivery may be nil).
func readBenchStreams(ctx context.Context, c benchConfig, subs []*benchSubscriber, lastDelivery *atomic.Int64, wg *sync.WaitGroup) error {
	if lastDelivery == nil {
		lastDelivery = new(atomic.Int64)
	}
	if c.Reader == "epoll" {
		return pollSubscribers(ctx, subs, lastDelivery, wg)
	}
	for _, s := range subs {
		wg.Go(func() { s.read(lastDelivery) })
	}
	return nil
}

func openBenchSubscriber(ctx context.Context, c benchConfig, i int) (*benchSubscriber, error) {
	client := &http.Client{Transport: &http.Transport{DialContext: benchDialer(c, i).DialContext, DisableCompression: true}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, benchStreamURL(c), nil)
	if err != nil {
		return nil, err
	}
	if c.lastEventID != "" {
		req.Header.Set("Last-Event-ID", c.lastEventID)
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

// openRawSubscriber opens a stream on a connection of its own, reads the
// response head and keeps the connection for the epoll reader.
func openRawSubscriber(ctx context.Context, c benchConfig, i int) (*benchSubscriber, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, benchStreamURL(c), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.lastEventID != "" {
		req.Header.Set("Last-Event-ID", c.lastEventID)
	}
	conn, err := benchDialer(c, i).DialContext(ctx, "tcp", req.URL.Host)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := func() (*http.Response, error) {
		if err := req.Write(conn); err != nil {
			return nil, err
		}
		return http.ReadResponse(br, req)
	}()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = errors.New(resp.Status)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	s := &benchSubscriber{conn: conn}
	// What came with the head is the start of the body.
	s.initial, _ = br.Peek(br.Buffered())
	s.initial = slices.Clone(s.initial)
	if slices.Contains(resp.TransferEncoding, "chunked") {
		s.chunks = &chunkDecoder{}
	}
	return s, nil
}

// read counts events and their latency until the stream ends (--reader
// goroutine).
func (s *benchSubscriber) read(lastDelivery *atomic.Int64) {
	defer s.body.Close()
	p := sse.NewParser(s.body)
	for {
		ev, err := p.Next()
		if err != nil {
			s.err.Store(&err)
			return
		}
		s.deliver(ev.Data, time.Now().UnixNano(), lastDelivery)
	}
}

// deliver counts one event received at now, if it is a bench event: its
// data starts with the publish time.
func (s *benchSubscriber) deliver(data string, now int64, lastDelivery *atomic.Int64) {
	if s.unwrap != nil {
		data = s.unwrap(data)
	}
	stamp, _, _ := strings.Cut(data, "|")
	sent, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil {
		return // not a bench event
	}
	if s.resumer {
		if s.got.Add(1) == s.target {
			s.caughtUp.Store(now)
		}
		return
	}
	s.latencies = append(s.latencies, time.Duration(now-sent))
	s.sent = append(s.sent, sent)
	s.got.Add(1)
	for {
		last := lastDelivery.Load()
		if now <= last || lastDelivery.CompareAndSwap(last, now) {
			return
		}
	}
}

// feed takes body bytes read by the epoll reader.
func (s *benchSubscriber) feed(b []byte, now int64, lastDelivery *atomic.Int64) error {
	scan := func(p []byte) { s.frames.scan(p, func(data string) { s.deliver(data, now, lastDelivery) }) }
	if s.resumer {
		scan = func(p []byte) { s.counted(s.counter.count(p), now) }
	}
	if s.chunks == nil {
		scan(b)
		return nil
	}
	return s.chunks.decode(b, scan)
}

// counted adds n events received at now to a resumer's count.
func (s *benchSubscriber) counted(n int, now int64) {
	if n == 0 {
		return
	}
	if got := s.got.Add(int64(n)); got >= s.target && got-int64(n) < s.target {
		s.caughtUp.Store(now)
	}
}

// eventCounter counts the bench events in a stream cut anywhere, without
// decoding them: a resumer needs only how many it got, and the 5,000
// resumers of a storm read 5 million events, which parsed one by one cost
// the load tool more of its core than the hub spent sending them, so the
// figure measured the tool. A bench event is a data line that starts with
// a digit (its publish time), in the hub's own output (LF line ends).
type eventCounter struct {
	tail    [len(dataLine)]byte // the last bytes seen, where a line may start
	n       int
	started bool
}

const dataLine = "\ndata: "

func (e *eventCounter) count(b []byte) (n int) {
	const k = len(dataLine)
	if !e.started {
		e.started, e.tail[0], e.n = true, '\n', 1 // the stream starts a line
	}
	isDigit := func(c byte) bool { return '0' <= c && c <= '9' }
	// Lines that began in the tail, now that b may complete them.
	var join [2 * k]byte
	j := append(append(join[:0], e.tail[:e.n]...), b[:min(len(b), k)]...)
	for i := range e.n {
		if i+k < len(j) && string(j[i:i+k]) == dataLine && isDigit(j[i+k]) {
			n++
		}
	}
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte(dataLine))
		if i < 0 {
			break
		}
		if p := off + i; p+k < len(b) {
			if isDigit(b[p+k]) {
				n++
			}
		}
		off += i + 1
	}
	// Keep the last k bytes of the stream for the next call.
	if len(b) >= k {
		e.n = copy(e.tail[:], b[len(b)-k:])
	} else {
		keep := j[max(0, len(j)-k):]
		e.n = copy(e.tail[:], keep)
	}
	return n
}

// frameScanner finds the data of the events in a stream of bytes cut
// anywhere. It handles the hub's own output (LF line ends, one data line
// per bench event); the goroutine reader uses the full sse parser.
type frameScanner struct {
	line []byte // an unfinished line
	data string // the data of the event being read
	has  bool
}

func (f *frameScanner) scan(b []byte, deliver func(string)) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			f.line = append(f.line, b...)
			return
		}
		line := b[:i]
		if len(f.line) > 0 {
			f.line = append(f.line, line...)
			line = f.line
		}
		b = b[i+1:]
		switch {
		case len(line) == 0:
			if f.has {
				deliver(f.data)
			}
			f.data, f.has = "", false
		case bytes.HasPrefix(line, []byte("data:")):
			f.data, f.has = string(bytes.TrimPrefix(line[5:], []byte(" "))), true
		}
		f.line = f.line[:0]
	}
}

// chunkDecoder undoes HTTP/1.1 chunked transfer coding incrementally.
type chunkDecoder struct {
	sizeLine []byte
	left     int // bytes of the current chunk still to come
	trailer  int // bytes of the CRLF after the chunk still to skip
	done     bool
}

var errChunkedEnd = errors.New("end of the chunked body")

func (d *chunkDecoder) decode(b []byte, out func([]byte)) error {
	for len(b) > 0 && !d.done {
		switch {
		case d.left > 0:
			n := min(d.left, len(b))
			out(b[:n])
			b, d.left = b[n:], d.left-n
			if d.left == 0 {
				d.trailer = 2
			}
		case d.trailer > 0:
			b, d.trailer = b[1:], d.trailer-1
		default:
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				d.sizeLine = append(d.sizeLine, b...)
				return nil
			}
			line := append(d.sizeLine, b[:i]...)
			b, d.sizeLine = b[i+1:], d.sizeLine[:0]
			hex, _, _ := strings.Cut(strings.TrimSpace(string(line)), ";")
			size, err := strconv.ParseUint(hex, 16, 31)
			if err != nil {
				return fmt.Errorf("bad chunk size line %q", line)
			}
			if size == 0 {
				d.done = true
			}
			d.left = int(size)
		}
	}
	if d.done {
		return errChunkedEnd
	}
	return nil
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
	for _, n := range r.nodes {
		fmt.Fprintf(w, "hub %s  %d subscribers, %.0f deliveries/s, latency p99 %v\n", n.url, n.subscribers,
			float64(n.delivered)/r.elapsed.Seconds(), percentileOf(n.latencies, 0.99).Round(10*time.Microsecond))
	}
	if r.storm != nil {
		r.storm.print(w, c)
	}
	if r.hubCPU != nil {
		printCPU(w, *r.hubCPU, r.toolCPU, r.delivered, r.published)
	}
	printPublishTimes(w, r.publishLatencies)
}
