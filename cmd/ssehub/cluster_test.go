package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	goredis "github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/testserver"
	"github.com/ssehub/ssehub/sse"
)

// The cluster tests run real hub processes (the binary built once) on one
// real engine, as a deployment does.

var hubBinary = struct {
	once sync.Once
	path string
	err  error
}{}

// buildHub builds the ssehub binary once for the package's tests.
func buildHub(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs real hub processes")
	}
	hubBinary.once.Do(func() {
		dir, err := os.MkdirTemp("", "ssehub-cluster-")
		if err != nil {
			hubBinary.err = err
			return
		}
		hubBinary.path = filepath.Join(dir, "ssehub")
		out, err := exec.Command("go", "build", "-o", hubBinary.path, ".").CombinedOutput()
		if err != nil {
			hubBinary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if hubBinary.err != nil {
		t.Fatal(hubBinary.err)
	}
	return hubBinary.path
}

func TestMain(m *testing.M) {
	if os.Getenv(benchChildEnv) != "" {
		// This test binary was started as a bench storm's child process
		// (TestBenchReconnectStorm): be ssehub.
		os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
	}
	code := m.Run()
	if hubBinary.path != "" {
		os.RemoveAll(filepath.Dir(hubBinary.path))
	}
	os.Exit(code)
}

// node is one hub process of a cluster.
type node struct {
	base string
	cmd  *exec.Cmd
}

// startNode runs a hub process on store and waits until it is ready.
func startNode(t *testing.T, bin, store string) *node {
	t.Helper()
	addr := freeAddr(t)
	cmd := runHub(t, bin, nil, "serve", "--listen", addr, "--store", store,
		"--jwt-key", testKey, "--demo=false", "--log-level", "error", "--heartbeat", "1s")
	n := &node{base: "http://" + addr, cmd: cmd}
	readiness(t, n.base)
	return n
}

// kill stops the node with SIGKILL.
func (n *node) kill() {
	n.cmd.Process.Kill()
	n.cmd.Wait()
}

// clusterStream reads one subscriber's events, reporting the end of the
// stream instead of failing on it.
type clusterStream struct {
	events chan sse.Event
	cancel context.CancelFunc
}

func subscribeTo(t *testing.T, url, lastEventID string) *clusterStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1000))
		resp.Body.Close()
		cancel()
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	s := &clusterStream{events: make(chan sse.Event, 100_000), cancel: cancel}
	go func() {
		defer close(s.events)
		defer resp.Body.Close()
		p := sse.NewParser(resp.Body)
		for {
			ev, err := p.Next()
			if err != nil {
				return
			}
			s.events <- ev
		}
	}()
	t.Cleanup(func() {
		cancel()
		for range s.events {
		}
	})
	return s
}

// next returns the next event with data (heartbeats are skipped), ok false
// when the stream ended. It fails after a bound.
func (s *clusterStream) next(t *testing.T) (sse.Event, bool) {
	t.Helper()
	timer := time.NewTimer(15 * time.Second)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-s.events:
			if ok && ev.Data == "" {
				continue
			}
			return ev, ok
		case <-timer.C:
			t.Fatal("no event within 15s")
			return sse.Event{}, false
		}
	}
}

// publishTo publishes one event and returns its id, or the HTTP status and
// error body when it failed.
func publishTo(ctx context.Context, base, topic, data string) (string, int, error) {
	body, _ := json.Marshal(map[string]string{"topic": topic, "data": data})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/publish", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+crashToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	var answer struct{ ID, Error string }
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return "", resp.StatusCode, fmt.Errorf("answer not JSON: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", resp.StatusCode, fmt.Errorf("%d: %s", resp.StatusCode, answer.Error)
	}
	return answer.ID, resp.StatusCode, nil
}

// engine starts the server of one shared store for a test.
type engine struct {
	name  string
	start func(t *testing.T) (*testserver.Server, string)
}

// engines are the shared stores every cluster test runs on.
var engines = []engine{{"redis", redisStore}, {"nats", natsStore}}

// eachEngine runs test once per shared store.
func eachEngine(t *testing.T, test func(t *testing.T, srv *testserver.Server, store string)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			srv, store := e.start(t)
			test(t, srv, store)
		})
	}
}

// natsStore starts nats-server with JetStream on file storage and returns
// it with the --store value naming a stream.
func natsStore(t *testing.T) (*testserver.Server, string) {
	srv := testserver.NATS(t)
	return srv, srv.URL() + "?stream=cluster"
}

// redisStore starts a Redis server with its AOF fsynced before every
// answer, and returns it with the --store value naming a fresh stream.
func redisStore(t *testing.T) (*testserver.Server, string) {
	t.Helper()
	srv := testserver.Redis(t, testserver.RedisOptions{AppendFsync: "always"})
	return srv, srv.URL() + "/0?stream=cluster"
}

func TestClusterDeliversEveryEventOnEveryNode(t *testing.T) {
	bin := buildHub(t)
	for _, e := range engines {
		for _, nodes := range []int{2, 3} {
			t.Run(fmt.Sprintf("%s/%dnodes", e.name, nodes), func(t *testing.T) {
				_, store := e.start(t)
				testEveryEventOnEveryNode(t, bin, store, nodes)
			})
		}
	}
}

// testEveryEventOnEveryNode publishes through every node at once, to two
// subscribers on each: every subscriber receives every event once, with the
// same id, in the same order.
func testEveryEventOnEveryNode(t *testing.T, bin, store string, nodes int) {
	var cluster []*node
	for range nodes {
		cluster = append(cluster, startNode(t, bin, store))
	}
	var subs []*clusterStream
	for _, n := range cluster {
		for range 2 {
			subs = append(subs, subscribeTo(t, n.base+"/events?topic=c", ""))
		}
	}
	const perNode = 50
	var wg sync.WaitGroup
	errs := make(chan error, nodes)
	for i, n := range cluster {
		wg.Go(func() {
			for k := range perNode {
				if _, _, err := publishTo(t.Context(), n.base, "c", fmt.Sprintf("%d:%d", i, k)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var first []sse.Event
	for si, s := range subs {
		var got []sse.Event
		seen := map[string]bool{}
		for len(got) < nodes*perNode {
			ev, ok := s.next(t)
			if !ok {
				t.Fatalf("subscriber %d: stream ended after %d events", si, len(got))
			}
			if seen[ev.Data] {
				t.Fatalf("subscriber %d received %q twice", si, ev.Data)
			}
			seen[ev.Data] = true
			got = append(got, ev)
		}
		if si == 0 {
			first = got
			continue
		}
		for i := range got {
			if got[i].ID != first[i].ID || got[i].Data != first[i].Data {
				t.Fatalf("subscriber %d: event %d is %s %q, subscriber 0 had %s %q",
					si, i, got[i].ID, got[i].Data, first[i].ID, first[i].Data)
			}
		}
	}
	epoch, _, _ := hub.ParseID(first[0].ID)
	for i, ev := range first {
		if _, seq, _ := hub.ParseID(ev.ID); seq != uint64(i+1) || !strings.HasPrefix(ev.ID, epoch+"-") {
			t.Fatalf("event %d has id %s: ids are not the log's dense positions", i, ev.ID)
		}
	}
}

// flow publishes continuously to the nodes, round robin, from a few
// publishers, and records what was acknowledged. Publishes that fail (a
// node gone, the engine down) are retried on the next node.
type flow struct {
	mu    sync.Mutex
	acked map[string]string // data -> id
	// refused counts the failed publishes by HTTP status (0: no answer,
	// the node gone or the request timed out).
	refused  map[int]int
	noAnswer []string // the errors of the publishes that got no answer
	stop     context.CancelFunc
	done     sync.WaitGroup
}

func startFlow(nodes ...*node) *flow {
	f := &flow{acked: map[string]string{}, refused: map[int]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	f.stop = cancel
	for p := range 3 {
		f.done.Go(func() {
			for k := 0; ctx.Err() == nil; k++ {
				data := fmt.Sprintf("%d:%d", p, k)
				n := nodes[k%len(nodes)]
				pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				id, status, err := publishTo(pctx, n.base, "flow", data)
				cancel()
				if err != nil && ctx.Err() != nil {
					return // cut off by finish, not refused
				}
				f.mu.Lock()
				if err == nil {
					f.acked[data] = id
				} else {
					f.refused[status]++
					if status == 0 {
						f.noAnswer = append(f.noAnswer, err.Error())
					}
				}
				f.mu.Unlock()
				if err != nil {
					pause(ctx, 5*time.Millisecond)
				}
			}
		})
	}
	return f
}

// pause waits d or until ctx ends: pacing a retry loop, not synchronising.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// fails is how many publishes were refused.
func (f *flow) fails() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, k := range f.refused {
		n += k
	}
	return n
}

func (f *flow) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.acked)
}

// waitFor waits (bounded) until cond holds, checking on a ticker.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 20s: %s", what)
		}
		<-tick.C
	}
}

func (f *flow) finish() map[string]string {
	f.stop()
	f.done.Wait()
	return f.acked
}

// lastSeq reads the log's end from a node's /readyz.
func lastSeq(t *testing.T, n *node) (string, uint64) { return readiness(t, n.base) }

// readUntil reads s until the event with id last, failing on a duplicate
// or a gap in the dense ids; it returns what it read and whether the stream
// ended before.
func readUntil(t *testing.T, s *clusterStream, epoch string, from, last uint64, got map[string]string) (uint64, bool) {
	t.Helper()
	pos := from
	for pos < last {
		ev, ok := s.next(t)
		if !ok {
			return pos, false
		}
		e, seq, _ := hub.ParseID(ev.ID)
		if e != epoch || seq != pos+1 {
			t.Fatalf("after %d received id %s (%q): a gap, duplicate or foreign id", pos, ev.ID, ev.Data)
		}
		if _, dup := got[ev.Data]; dup {
			t.Fatalf("received %q twice", ev.Data)
		}
		got[ev.Data] = ev.ID
		pos = seq
	}
	return pos, true
}

// everyStreamGotAll reads each stream (named by its node) from start to
// last and fails unless it went on across what happened and received
// every acknowledged event once.
func everyStreamGotAll(t *testing.T, across string, streams map[string]*clusterStream, epoch string, start, last uint64, acked map[string]string) {
	t.Helper()
	for name, s := range streams {
		got := map[string]string{}
		if _, ok := readUntil(t, s, epoch, start, last, got); !ok {
			t.Fatalf("the stream on %s ended across %s", name, across)
		}
		checkAll(t, acked, got)
	}
}

// checkAll fails unless every acknowledged event was received once, with
// the id its publisher was given.
func checkAll(t *testing.T, acked, got map[string]string) {
	t.Helper()
	for data, id := range acked {
		if got[data] != id {
			t.Fatalf("acknowledged %q as %s, received as %q", data, id, got[data])
		}
	}
}

func TestClusterKill9NodeClientsResumeOnAnother(t *testing.T) {
	bin := buildHub(t)
	eachEngine(t, func(t *testing.T, _ *testserver.Server, store string) { testKill9Node(t, bin, store) })
}

func testKill9Node(t *testing.T, bin, store string) {
	a, b := startNode(t, bin, store), startNode(t, bin, store)
	epoch, start := lastSeq(t, a)
	s := subscribeTo(t, a.base+"/events?topic=flow", "")
	f := startFlow(a, b)
	waitFor(t, "100 events acknowledged", func() bool { return f.count() >= 100 })
	got := map[string]string{}
	pos, _ := readUntil(t, s, epoch, start, start+50, got)
	a.kill()
	// The stream on a ends; its client resumes on b from its last id.
	pos, reached := readUntil(t, s, epoch, pos, 1<<62, got)
	if reached {
		t.Fatal("the stream outlived its node")
	}
	resumed := subscribeTo(t, b.base+"/events?topic=flow", hub.FormatID(epoch, pos))
	waitFor(t, "100 more events acknowledged through b", func() bool { return f.count() >= 200 })
	acked := f.finish()
	_, last := lastSeq(t, b)
	if _, ok := readUntil(t, resumed, epoch, pos, last, got); !ok {
		t.Fatal("the resumed stream ended")
	}
	checkAll(t, acked, got)
	t.Logf("%d events acknowledged, %d received before and after the kill", len(acked), len(got))
}

// TestClusterSurvivesAnEngineRestart kills the engine with SIGKILL while
// publishers run (Redis with its AOF fsynced before every answer, NATS with
// file storage), starts it again and checks that nothing acknowledged was
// lost and the nodes carried on by themselves.
func TestClusterSurvivesAnEngineRestart(t *testing.T) {
	bin := buildHub(t)
	eachEngine(t, func(t *testing.T, srv *testserver.Server, store string) { testEngineRestart(t, bin, srv, store) })
}

func testEngineRestart(t *testing.T, bin string, srv *testserver.Server, store string) {
	a, b := startNode(t, bin, store), startNode(t, bin, store)
	epoch, start := lastSeq(t, a)
	subA := subscribeTo(t, a.base+"/events?topic=flow", "")
	subB := subscribeTo(t, b.base+"/events?topic=flow", "")
	f := startFlow(a, b)
	waitFor(t, "50 events acknowledged", func() bool { return f.count() >= 50 })
	srv.Kill() // SIGKILL: only what the engine stored survives

	// While the engine is down: publishes fail fast and clearly, nodes say they
	// are not ready, and subscribers keep their streams.
	for _, n := range []*node{a, b} {
		began := time.Now()
		_, status, err := publishTo(t.Context(), n.base, "flow", "while down")
		if status != http.StatusServiceUnavailable || err == nil {
			t.Fatalf("publish while the engine is down: status %d, %v; want 503", status, err)
		}
		if took := time.Since(began); took > 8*time.Second {
			t.Errorf("a publish while the engine is down took %v to fail", took)
		}
		resp, err := http.Get(n.base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("/readyz while the engine is down: %d, want 503", resp.StatusCode)
		}
	}
	srv.Start()
	waitFor(t, "50 events acknowledged after the restart", func() bool { return f.count() >= 100 })
	acked := f.finish()
	if e, _ := lastSeq(t, a); e != epoch {
		t.Fatalf("epoch changed across an engine restart: %s, then %s", epoch, e)
	}
	_, last := lastSeq(t, b)
	everyStreamGotAll(t, "the engine restart", map[string]*clusterStream{"a": subA, "b": subB}, epoch, start, last, acked)
	t.Logf("%d events acknowledged, %d publishes refused while the engine was down", len(acked), f.fails())
}

// TestClusterWipedLogResetsClients deletes the log in the engine (Redis
// FLUSHALL, the NATS stream and bucket deleted) under running nodes.
func TestClusterWipedLogResetsClients(t *testing.T) {
	bin := buildHub(t)
	eachEngine(t, func(t *testing.T, srv *testserver.Server, store string) { testWipe(t, bin, srv, store) })
}

func testWipe(t *testing.T, bin string, srv *testserver.Server, store string) {
	if v := srv.Version(); strings.HasPrefix(store, "nats:") && strings.HasPrefix(v, "v2.9.") {
		// nats-server 2.9, with the nodes making the stream again as soon
		// as they notice it gone (within 0.5s): in about half of the runs
		// here the new stream takes up the old one's last sequence (its
		// first event is EPOCH-128, not EPOCH-1) and sometimes cannot open
		// its files ("error opening msg block file", every publish
		// failing; store/nats then deletes that empty stream so that it is
		// made again, a second reset for the clients). The log's own check
		// (logtest WipeMeansNewEpoch in store/nats) runs with one handle.
		// 2.15.3 passes it: .ci/run runs it there.
		t.Skipf("nats-server %s: a stream deleted under running nodes and made again at once may continue the old numbering or break; "+
			"set %s to a newer nats-server (2.15.3 passes it) to run this (docs/cluster.md)", v, testserver.NATSServerEnv)
	}
	a, b := startNode(t, bin, store), startNode(t, bin, store)
	s := subscribeTo(t, b.base+"/events?topic=w", "")
	id, _, err := publishTo(t.Context(), a.base, "w", "one")
	if err != nil {
		t.Fatal(err)
	}
	if ev, ok := s.next(t); !ok || ev.ID != id {
		t.Fatalf("got %+v, want the event %s", ev, id)
	}
	wipe(t, srv)
	// The node notices within a blocking read and ends the stream.
	for {
		if _, ok := s.next(t); !ok {
			break
		}
	}
	resumed := subscribeTo(t, b.base+"/events?topic=w", id)
	ev, ok := resumed.next(t)
	if !ok || ev.Type != hub.ResetType || !strings.Contains(ev.Data, hub.ResetUnknownID) {
		t.Fatalf("resuming from an id of the wiped log: %+v, want a %s event", ev, hub.ResetType)
	}
	var after string
	waitFor(t, "a publish accepted in the new epoch", func() bool {
		after, _, err = publishTo(t.Context(), a.base, "w", "after")
		if err != nil {
			t.Logf("publish after the wipe: %v", err)
		}
		return err == nil
	})
	if e, seq, _ := hub.ParseID(after); seq != 1 || e == strings.Split(id, "-")[0] {
		t.Errorf("first event after the wipe has id %s, want seq 1 of a new epoch", after)
	}
	if ev, ok := resumed.next(t); !ok || ev.ID != after {
		t.Fatalf("after the reset, got %+v, want %s", ev, after)
	}
}

func TestClusterMetricsCountEveryNodesSubscribers(t *testing.T) {
	bin := buildHub(t)
	eachEngine(t, func(t *testing.T, _ *testserver.Server, store string) { testMetricsCountEveryNode(t, bin, store) })
}

func testMetricsCountEveryNode(t *testing.T, bin, store string) {
	a, b := startNode(t, bin, store), startNode(t, bin, store)
	subscribeTo(t, a.base+"/events?topic=m", "")
	subscribeTo(t, a.base+"/events?topic=m", "")
	subscribeTo(t, b.base+"/events?topic=m", "")
	waitFor(t, "/metrics on b counting 3 subscribers on 2 nodes", func() bool {
		m := scrape(t, b.base)
		return m["ssehub_cluster_subscribers"] == "3" && m["ssehub_cluster_nodes"] == "2"
	})
	a.kill()
	waitFor(t, "the killed node leaving the figures", func() bool {
		m := scrape(t, b.base)
		return m["ssehub_cluster_subscribers"] == "1" && m["ssehub_cluster_nodes"] == "1"
	})
}

// scrape returns the unlabelled samples of a node's /metrics.
func scrape(t *testing.T, base string) map[string]string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := map[string]string{}
	for _, line := range strings.Split(string(body), "\n") {
		if name, v, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(line, "#") {
			out[name] = v
		}
	}
	return out
}

// TestClusterSurvivesAPartitionFromTheEngine freezes the engine (SIGSTOP): its
// connections stay open and nothing answers, as in a network partition that
// drops packets. Publishes must still fail within the log's bound, and the
// streams resume where they were once Redis answers again.
func TestClusterSurvivesAPartitionFromTheEngine(t *testing.T) {
	bin := buildHub(t)
	eachEngine(t, func(t *testing.T, srv *testserver.Server, store string) { testPartition(t, bin, srv, store) })
}

func testPartition(t *testing.T, bin string, srv *testserver.Server, store string) {
	a := startNode(t, bin, store)
	epoch, start := lastSeq(t, a)
	s := subscribeTo(t, a.base+"/events?topic=p", "")
	if _, _, err := publishTo(t.Context(), a.base, "p", "before"); err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	began := time.Now()
	_, status, err := publishTo(t.Context(), a.base, "p", "during")
	if status != http.StatusServiceUnavailable || err == nil {
		t.Fatalf("publish during the partition: status %d, %v; want 503", status, err)
	}
	if took := time.Since(began); took > 8*time.Second {
		t.Errorf("a publish during the partition took %v to fail", took)
	}
	resp, err := http.Get(a.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the partition: %d, want 503", resp.StatusCode)
	}
	srv.Resume()
	var after string
	waitFor(t, "a publish accepted after the partition", func() bool {
		after, _, err = publishTo(t.Context(), a.base, "p", "after")
		return err == nil
	})
	_, last := lastSeq(t, a)
	got := map[string]string{}
	if _, ok := readUntil(t, s, epoch, start, last, got); !ok {
		t.Fatal("the stream ended across the partition")
	}
	if got["after"] != after {
		t.Errorf("the stream received %v, want \"after\" as %s", got, after)
	}
}

// wipe deletes everything the engine holds.
func wipe(t *testing.T, srv *testserver.Server) {
	t.Helper()
	if strings.HasPrefix(srv.URL(), "redis:") {
		rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
		defer rdb.Close()
		if err := rdb.FlushAll(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		return
	}
	nc, err := natsgo.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"SSEHUB_CLUSTER", "KV_SSEHUB_CLUSTER_IDS"} {
		if err := js.DeleteStream(t.Context(), name); err != nil {
			t.Fatalf("deleting %s: %v", name, err)
		}
	}
}

// TestClusterSurvivesASentinelFailover kills the Redis primary while
// publishers run on two nodes that found it through a sentinel. The
// sentinel promotes the replica; the nodes follow it without a restart,
// publishes fail with 503 only until it does, and the subscribers' streams
// go on. If the replica had received every acknowledged append the log
// keeps its epoch and every subscriber receives every acknowledged event
// once; if it had not, the nodes start a new epoch and a client resuming
// with an id of the old one gets ssehub-reset (the store's own tests make
// that case happen on purpose).
func TestClusterSurvivesASentinelFailover(t *testing.T) {
	bin := buildHub(t)
	primary := testserver.Redis(t, testserver.RedisOptions{AppendFsync: "always"})
	replica := testserver.Replica(t, primary, testserver.RedisOptions{AppendFsync: "always"})
	sentinel := testserver.Sentinel(t, primary, "main")
	testserver.AwaitReplicasKnown(t, sentinel, "main", 1)
	store := "redis+sentinel://" + sentinel.Addr + "/0?master=main&stream=failover"
	a, b := startNode(t, bin, store), startNode(t, bin, store)
	epoch, start := lastSeq(t, a)
	subA := subscribeTo(t, a.base+"/events?topic=flow", "")
	subB := subscribeTo(t, b.base+"/events?topic=flow", "")
	f := startFlow(a, b)
	waitFor(t, "50 events acknowledged", func() bool { return f.count() >= 50 })
	primary.Kill()
	testserver.AwaitPromoted(t, sentinel, "main", replica)
	before := f.count()
	waitFor(t, "50 events acknowledged after the failover", func() bool { return f.count() >= before+50 })
	acked := f.finish()
	for status, n := range f.refused {
		if status != http.StatusServiceUnavailable {
			t.Errorf("%d publishes during the failover answered %d; want 503 only (no answer: %q)", n, status, f.noAnswer)
		}
	}

	now, last := lastSeq(t, b)
	if now != epoch {
		t.Logf("the replica lacked acknowledged events: the log went from epoch %s to %s", epoch, now)
		for _, n := range []*node{a, b} {
			s := subscribeTo(t, n.base+"/events?topic=flow", hub.FormatID(epoch, start+1))
			if ev, ok := s.next(t); !ok || ev.Type != hub.ResetType {
				t.Fatalf("resuming with an id of the lost epoch: %+v; want %s", ev, hub.ResetType)
			}
		}
		return
	}
	everyStreamGotAll(t, "the failover", map[string]*clusterStream{"a": subA, "b": subB}, epoch, start, last, acked)
	t.Logf("%d events acknowledged, %d publishes refused during the failover", len(acked), f.fails())
}
