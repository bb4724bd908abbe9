package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkIdleSubscriberMemory measures what an idle subscriber costs the
// hub: it starts the real binary, opens 2,000 event streams over loopback
// from this process, and reports the growth of the hub process's resident
// memory per stream (b.N is not used: the figure is per subscriber).
//
//	go test -run '^$' -bench IdleSubscriberMemory -benchtime 1x ./cmd/ssehub/
func BenchmarkIdleSubscriberMemory(b *testing.B) {
	m := measureHubMemory(b, benchConfig{Subscribers: 2000})
	b.ReportMetric(m.perStream, "bytes/subscriber")
}

// BenchmarkIdleSubscriberMemoryAfterBurst is the same measurement, then a
// burst of 2,000 events (64 bytes of data each, in publishes of 1,000) to
// all 2,000 streams, every one read by its client, then ten idle seconds
// (ten of the hub's heartbeats): it reports the memory per stream after
// the burst, resident and as live heap after a collection forced through
// the hub's profiler (the resident figure also counts memory the runtime
// freed and has not returned to the system yet).
//
//	go test -run '^$' -bench IdleSubscriberMemoryAfterBurst -benchtime 1x ./cmd/ssehub/
func BenchmarkIdleSubscriberMemoryAfterBurst(b *testing.B) {
	token, err := signForTest()
	if err != nil {
		b.Fatal(err)
	}
	m := measureHubMemory(b, benchConfig{Subscribers: 2000, Burst: 2000, Payload: 64, Token: token, Settle: 10 * time.Second},
		"--heartbeat", "1s")
	b.ReportMetric(m.perStream, "bytes/subscriber")
	b.ReportMetric(m.perStreamAfterBurst, "bytes/subscriber-after-burst")
	b.ReportMetric(float64(m.peak-m.before)/float64(2000), "bytes/subscriber-peak")
	b.ReportMetric(float64(m.heapAfter-m.heapBefore)/float64(2000), "heap-bytes/subscriber")
	b.ReportMetric(float64(m.heapAfterBurst-m.heapBefore)/float64(2000), "heap-bytes/subscriber-after-burst")
}

// measureHubMemory builds and starts the hub (memory store, with its
// profiler for --gc-url) and measures it with c.
func measureHubMemory(b *testing.B, c benchConfig, args ...string) idleMemory {
	bin := filepath.Join(b.TempDir(), "ssehub")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	addr, pprofAddr := freeAddr(b), freeAddr(b)
	args = append([]string{"serve", "--listen", addr, "--store", "memory:", "--jwt-key", testKey,
		"--demo=false", "--log-level", "warn", "--pprof", pprofAddr}, args...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	readiness(b, "http://"+addr)
	c.URL, c.Topic, c.IdlePID, c.Protocol = "http://"+addr, "idle", cmd.Process.Pid, "ssehub"
	c.PprofURL = "http://" + pprofAddr
	m, err := measureIdleMemory(context.Background(), c)
	if err != nil {
		b.Fatal(err)
	}
	return m
}
