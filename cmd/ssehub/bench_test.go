package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/testserver"
)

// TestBenchDecodersTakeBytesCutAnywhere: the epoll reader's chunk decoder
// and frame scanner give the same events however the bytes are cut, and a
// resumer's counter counts as many.
func TestBenchDecodersTakeBytesCutAnywhere(t *testing.T) {
	body := ":\nretry: 3000\nid: x-0\n\nid: x-1\ndata: 111|aaa\n\n: heartbeat\n\nid: x-2\nevent: t\ndata: 222|b\n\n"
	want := []string{"111|aaa", "222|b"}
	// The same body in chunks of 7 bytes, as net/http would send it.
	var chunked strings.Builder
	for rest := body; rest != ""; {
		n := min(7, len(rest))
		fmt.Fprintf(&chunked, "%x\r\n%s\r\n", n, rest[:n])
		rest = rest[n:]
	}
	chunked.WriteString("0\r\n\r\n")
	for _, tc := range []struct {
		name    string
		stream  string
		chunked bool
	}{{"plain", body, false}, {"chunked", chunked.String(), true}} {
		for cut := 1; cut <= len(tc.stream); cut++ {
			s := &benchSubscriber{}
			if tc.chunked {
				s.chunks = &chunkDecoder{}
			}
			var got []string
			deliver := func(data string) { got = append(got, data) }
			counted := 0
			scan := func(p []byte) {
				s.frames.scan(p, deliver)
				counted += s.counter.count(p)
			}
			var err error
			for rest := tc.stream; rest != "" && err == nil; {
				n := min(cut, len(rest))
				if s.chunks == nil {
					scan([]byte(rest[:n]))
				} else {
					err = s.chunks.decode([]byte(rest[:n]), scan)
				}
				rest = rest[n:]
			}
			if counted != len(want) {
				t.Errorf("%s, pieces of %d: a resumer counted %d events, want %d", tc.name, cut, counted, len(want))
			}
			if tc.chunked && err != errChunkedEnd {
				t.Errorf("%s, pieces of %d: decode ended with %v, want the end of the body", tc.name, cut, err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s, pieces of %d: got %q, want %q", tc.name, cut, got, want)
			}
		}
	}
	if err := (&chunkDecoder{}).decode([]byte("zz\r\n"), func([]byte) {}); err == nil || err == errChunkedEnd {
		t.Errorf("a bad chunk size gave %v", err)
	}
}

func TestBenchMeasuresIdleMemory(t *testing.T) {
	base, _ := startHub(t, testConfig(t, "memory:"))
	var out, errOut bytes.Buffer
	// The hub runs in this process, so this process's memory is the hub's.
	args := []string{"bench", "--url", base, "--subscribers", "20", "--idle-memory-of", strconv.Itoa(os.Getpid())}
	if code := run(context.Background(), args, nil, &out, &errOut, func(string) string { return "" }); code != 0 {
		t.Fatalf("bench exited %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "idle streams     20\n") || !strings.Contains(out.String(), " bytes per stream (resident, from ") {
		t.Fatalf("bench printed:\n%s", out.String())
	}
	args = []string{"bench", "--url", base, "--subscribers", "1", "--idle-memory-of", "999999999"}
	if code := run(context.Background(), args, nil, &out, &errOut, func(string) string { return "" }); code == 0 {
		t.Fatal("bench measured a process that does not exist")
	}
}

func TestBenchMeasuresMemoryAfterABurst(t *testing.T) {
	base, _ := startHub(t, testConfig(t, "memory:"))
	var out, errOut bytes.Buffer
	args := []string{"bench", "--url", base, "--token", publisherToken(t), "--subscribers", "20",
		"--idle-memory-of", strconv.Itoa(os.Getpid()), "--burst", "300", "--settle", "10ms"}
	if code := run(context.Background(), args, nil, &out, &errOut, func(string) string { return "" }); code != 0 {
		t.Fatalf("bench exited %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "after a burst    ") {
		t.Fatalf("bench printed:\n%s", out.String())
	}
}

// TestBenchReconnectStorm: --resumers opens streams resuming behind while
// the others are live, and every resumer gets exactly its backlog and
// what follows, whether the resumers are read by a child process (the
// default) or by the load tool itself.
func TestBenchReconnectStorm(t *testing.T) {
	for _, process := range []string{"child", "same"} {
		t.Run(process, func(t *testing.T) {
			base, _ := startHub(t, testConfig(t, "memory:"))
			var out, errOut bytes.Buffer
			args := []string{"bench", "--url", base, "--token", publisherToken(t), "--subscribers", "5",
				"--rate", "200", "--batch", "10", "--duration", "1s", "--resumers", "20", "--resume-behind", "50",
				"--storm-at", "500ms", "--storm-process", process, "--storm-detail"}
			if code := run(context.Background(), args, nil, &out, &errOut, func(string) string { return "" }); code != 0 {
				t.Fatalf("bench exited %d: %s", code, errOut.String())
			}
			for _, want := range []string{"connected within ", "(0 failed)", "caught up        20, the last ",
				"resumers missed  0 (and 0 received twice)", "live p99 storm   "} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("bench output lacks %q:\n%s", want, out.String())
				}
			}
			// --storm-detail: the storm's batches hold every delivery the
			// storm's p99 is taken over, ten events to each of 5 streams.
			m := regexp.MustCompile(`live p99 storm   \S+ \((\d+) deliveries`).FindStringSubmatch(out.String())
			if m == nil {
				t.Fatalf("no storm p99 line:\n%s", out.String())
			}
			during, _ := strconv.Atoi(m[1])
			sum := 0
			batches := regexp.MustCompile(`storm batch +\+\d+ms: publish \S+, (\d+) live deliveries p50 \S+ p92 \S+ max \S+\n`).FindAllStringSubmatch(out.String(), -1)
			for _, b := range batches {
				n, _ := strconv.Atoi(b[1])
				if n != 50 {
					t.Errorf("a storm batch of %d deliveries, want 10 events to each of 5 streams:\n%s", n, out.String())
				}
				sum += n
			}
			// (A hub in this process may catch the resumers up before the
			// next publish: then both are empty; TestStormBatches checks
			// the grouping itself.)
			if sum != during {
				t.Errorf("%d storm batches with %d deliveries, want the %d of the storm's p99:\n%s", len(batches), sum, during, out.String())
			}
		})
	}
}

// TestStormBatches: --storm-detail groups the live deliveries by publish,
// also when a batch's events were stamped across a millisecond boundary,
// pairs each with its request's latency, and leaves out what was
// published before the storm or after its end.
func TestStormBatches(t *testing.T) {
	ms := int64(time.Millisecond)
	at := int64(1_000_000) * ms // the storm's start, unix nanos
	sub := func(sent []int64, lat ...time.Duration) *benchSubscriber {
		return &benchSubscriber{sent: sent, latencies: lat}
	}
	live := []*benchSubscriber{
		// before the storm; batch 1 at +10 ms; batch 2 at +10.4 ms, in the
		// same millisecond from another publisher; batch 3 at +110 ms;
		// after the end
		sub([]int64{at - 50*ms, at + 10*ms, at + 10*ms, at + 10*ms + 400_000, at + 110*ms, at + 500*ms},
			1*time.Millisecond, 5*time.Millisecond, 7*time.Millisecond, 8*time.Millisecond, 20*time.Millisecond, time.Millisecond),
		sub([]int64{at + 10*ms, at + 10*ms + 400_000, at + 110*ms}, 3*time.Millisecond, 6*time.Millisecond, 40*time.Millisecond),
	}
	pt := &publishTimes{
		starts: []int64{at - 50*ms, at + 10*ms + 500_000, at + 10*ms + 100_000, at + 110*ms + 200_000},
		times:  []time.Duration{time.Millisecond, 4 * time.Millisecond, 2 * time.Millisecond, 9 * time.Millisecond},
	}
	got := stormBatches(live, pt, at, at+200*ms)
	if len(got) != 3 {
		t.Fatalf("%d batches, want 3: %+v", len(got), got)
	}
	for i, want := range []stormBatch{
		{at: 10 * time.Millisecond, publish: 2 * time.Millisecond, p50: 5 * time.Millisecond, p92: 7 * time.Millisecond, tail: 7 * time.Millisecond},
		{at: 10*time.Millisecond + 400*time.Microsecond, publish: 4 * time.Millisecond, p50: 8 * time.Millisecond, p92: 8 * time.Millisecond, tail: 8 * time.Millisecond},
		{at: 110 * time.Millisecond, publish: 9 * time.Millisecond, p50: 40 * time.Millisecond, p92: 40 * time.Millisecond, tail: 40 * time.Millisecond},
	} {
		b := got[i]
		if b.at != want.at || b.publish != want.publish || b.p50 != want.p50 || b.p92 != want.p92 || b.tail != want.tail {
			t.Errorf("batch %d: at %v publish %v p50 %v p92 %v max %v, want %v %v %v %v %v", i,
				b.at, b.publish, b.p50, b.p92, b.tail, want.at, want.publish, want.p50, want.p92, want.tail)
		}
	}
	if len(got[0].deliveries) != 3 || len(got[1].deliveries) != 2 || len(got[2].deliveries) != 2 {
		t.Errorf("deliveries per batch %d, %d, %d; want 3, 2, 2", len(got[0].deliveries), len(got[1].deliveries), len(got[2].deliveries))
	}
}

// TestBenchStormChildReportsFailedResumers: resumers the child could not
// open (the hub refuses them over its connection limit) are reported as
// failed, and the others are still measured and caught up.
func TestBenchStormChildReportsFailedResumers(t *testing.T) {
	cfg := testConfig(t, "memory:")
	cfg.Limits.MaxConns = 15 // 5 live streams, the publisher, and some of the 20 resumers
	base, _ := startHub(t, cfg)
	var out, errOut bytes.Buffer
	args := []string{"bench", "--url", base, "--token", publisherToken(t), "--subscribers", "5",
		"--rate", "200", "--batch", "10", "--duration", "1s", "--resumers", "20", "--resume-behind", "50",
		"--storm-at", "500ms"}
	if code := run(context.Background(), args, nil, &out, &errOut, func(string) string { return "" }); code != 0 {
		t.Fatalf("bench exited %d: %s", code, errOut.String())
	}
	m := regexp.MustCompile(`\((\d+) failed\)\ncaught up +(\d+), the last `).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("bench output lacks the failed and caught-up counts:\n%s", out.String())
	}
	failed, _ := strconv.Atoi(m[1])
	caught, _ := strconv.Atoi(m[2])
	if failed == 0 || failed == 20 || caught != 20-failed {
		t.Errorf("%d failed and %d caught up of 20, want some failed and every other one caught up:\n%s", failed, caught, out.String())
	}
	if !strings.Contains(out.String(), "resumers missed  0 (and 0 received twice)") {
		t.Errorf("the open resumers missed events:\n%s", out.String())
	}
}

// TestBenchStormChildEndsWithoutItsTool: a child whose load tool is gone
// before asking (its standard input ends) closes its streams, stops its
// readers and exits with an error, instead of reading on forever.
func TestBenchStormChildEndsWithoutItsTool(t *testing.T) {
	base, _ := startHub(t, testConfig(t, "memory:"))
	id := mustPublish(t, base, `{"topic":"bench","data":"1|x"}`)
	mustPublish(t, base, `{"topic":"bench","data":"2|x"}`)
	done := make(chan int, 1)
	var out, errOut bytes.Buffer
	go func() {
		done <- run(context.Background(), []string{"bench-resumers", "--url", base, "--resumers", "3", "--resume-behind", "1",
			"--last-event-id", id}, strings.NewReader(""), &out, &errOut, func(string) string { return "" })
	}()
	select {
	case code := <-done:
		if code != 1 || !strings.Contains(errOut.String(), "reading what to wait for") || !strings.Contains(out.String(), "opened ") {
			t.Fatalf("exited %d; stdout %q, stderr %q; want 1 after opening, for the missing request", code, out.String(), errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the child still runs 10 s after its standard input ended")
	}
}

// TestBenchStormChildRefusesBadArguments: the child run without what the
// load tool passes it, and a bench given an unknown --storm-process, stop
// with a usage error.
func TestBenchStormChildRefusesBadArguments(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"bench-resumers", "--url", "http://127.0.0.1:1"}, strings.NewReader(""), &out, &errOut, func(string) string { return "" }); code != 2 {
		t.Fatalf("bench-resumers without its arguments exited %d, want 2: %s", code, errOut.String())
	}
	var bad bytes.Buffer
	if code := run(context.Background(), []string{"bench", "--storm-process", "elsewhere"}, nil, &out, &bad, func(string) string { return "" }); code != 2 ||
		!strings.Contains(bad.String(), "--storm-process must be child or same") {
		t.Fatalf("bench --storm-process elsewhere exited %d: %s", code, bad.String())
	}
}

// TestBenchSpreadsOverSeveralHubs: with two hubs of one Redis log in
// --url (and --publish-to spread), subscribers alternate between them,
// every subscriber receives every event, and each hub's share is
// reported.
func TestBenchSpreadsOverSeveralHubs(t *testing.T) {
	srv := testserver.Redis(t, testserver.RedisOptions{})
	store := "redis://" + srv.Addr + "/0?stream=bench-spread"
	a, _ := startHub(t, testConfig(t, store))
	b, _ := startHub(t, testConfig(t, store))
	var out, errOut bytes.Buffer
	args := []string{"bench", "--url", a + "," + b, "--publish-to", "spread", "--token", publisherToken(t),
		"--subscribers", "6", "--publishers", "2", "--rate", "200", "--batch", "5", "--duration", "500ms"}
	if code := run(context.Background(), args, nil, &out, &errOut, func(string) string { return "" }); code != 0 {
		t.Fatalf("bench exited %d: %s", code, errOut.String())
	}
	for _, want := range []string{"published        100 events", "delivered        600 ", "missed           0\n",
		"hub " + a + "  3 subscribers, ", "hub " + b + "  3 subscribers, "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("bench output lacks %q:\n%s", want, out.String())
		}
	}
	args = []string{"bench", "--url", a + "," + b, "--publish-to", "nowhere"}
	if code := run(context.Background(), args, nil, &out, &errOut, func(string) string { return "" }); code == 0 {
		t.Error("bench took --publish-to nowhere")
	}
}

// TestBenchReportsHubCPU: --cpu-of reports what the hub process spent on
// the run, per delivery; a process that does not exist is an error.
func TestBenchReportsHubCPU(t *testing.T) {
	base, _ := startHub(t, testConfig(t, "memory:"))
	var out, errOut bytes.Buffer
	// The hub runs in this process, so this process's CPU is the hub's.
	args := []string{"bench", "--url", base, "--token", publisherToken(t), "--subscribers", "5",
		"--rate", "200", "--batch", "10", "--duration", "300ms", "--cpu-of", strconv.Itoa(os.Getpid())}
	if code := run(context.Background(), args, nil, &out, &errOut, func(string) string { return "" }); code != 0 {
		t.Fatalf("bench exited %d: %s", code, errOut.String())
	}
	for _, want := range []string{"missed           0\n", "hub CPU          ", "hub CPU/delivery ", "hub CPU/event    "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("bench output lacks %q:\n%s", want, out.String())
		}
	}
	args = []string{"bench", "--url", base, "--token", publisherToken(t), "--subscribers", "1",
		"--rate", "10", "--batch", "1", "--duration", "100ms", "--cpu-of", "999999999"}
	if code := run(context.Background(), args, nil, &out, &errOut, func(string) string { return "" }); code == 0 {
		t.Fatal("bench measured the CPU of a process that does not exist")
	}
}

// TestProcessCPUGrowsWithWork: the CPU time read from /proc/PID/stat is
// this process's, in its unit: it grows while the process computes.
func TestProcessCPUGrowsWithWork(t *testing.T) {
	before, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if before.total() <= 0 {
		t.Fatalf("a running test process used %v of CPU", before.total())
	}
	// Compute until the counter moves a few ticks, within a bound.
	deadline := time.Now().Add(20 * time.Second)
	sum := 0
	for time.Now().Before(deadline) {
		for i := range 1_000_000 {
			sum += i ^ sum
		}
		now, err := processCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if d := now.sub(before); d.total() >= 3*clockTick {
			if d.user < 0 || d.system < 0 {
				t.Fatalf("CPU time went back: %+v", d)
			}
			return
		}
	}
	t.Fatalf("20 s of computing (%d) did not move the CPU time from %v", sum, before.total())
}
