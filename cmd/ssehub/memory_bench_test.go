package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkIdleSubscriberMemory measures what an idle subscriber costs the
// hub: it starts the real binary, opens 2,000 event streams over loopback
// from this process, and reports the growth of the hub process's resident
// memory per stream (b.N is not used: the figure is per subscriber).
//
//	go test -run '^$' -bench IdleSubscriberMemory -benchtime 1x ./cmd/ssehub/
func BenchmarkIdleSubscriberMemory(b *testing.B) {
	const streams = 2000
	bin := filepath.Join(b.TempDir(), "ssehub")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	addr := freeAddr(b)
	cmd := exec.Command(bin, "serve", "--listen", addr, "--store", "memory:", "--jwt-key", testKey,
		"--demo=false", "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	readiness(b, "http://"+addr)
	m, err := measureIdleMemory(context.Background(), benchConfig{
		URL: "http://" + addr, Topic: "idle", Subscribers: streams, IdlePID: cmd.Process.Pid, Protocol: "ssehub",
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(m.perStream, "bytes/subscriber")
}
