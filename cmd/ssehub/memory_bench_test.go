package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
	conns := make([]net.Conn, 0, streams)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	open := func() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(c, "GET /events?topic=idle/%d HTTP/1.1\r\nHost: hub\r\nAccept: text/event-stream\r\n\r\n", len(conns))
		r := bufio.NewReader(c)
		for { // read the headers and the first frame
			line, err := r.ReadString('\n')
			if err != nil {
				b.Fatal(err)
			}
			if strings.HasPrefix(line, "id: ") {
				break
			}
		}
		conns = append(conns, c)
	}
	readiness(b, "http://"+addr)
	for range 50 { // warm up: the first streams pay for pools and code
		open()
	}
	before := rss(b, cmd.Process.Pid)
	for range streams {
		open()
	}
	after := rss(b, cmd.Process.Pid)
	b.ReportMetric(float64(after-before)/streams, "bytes/subscriber")
}

// rss returns a process's resident memory in bytes.
func rss(b *testing.B, pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
