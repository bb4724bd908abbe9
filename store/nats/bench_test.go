package nats

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub/logtest"
	"github.com/ssehub/ssehub/internal/testserver"
	"github.com/ssehub/ssehub/store/internal/epoch"
)

// The benchmarks start their own nats-server with JetStream on file
// storage, its default sync (the OS writes back; nats-server 2.9 has no
// fsync-per-message setting).
func BenchmarkAppend(b *testing.B) {
	srv := testserver.NATS(b)
	l, err := open(b, srv, "bench"+epoch.New(), logtest.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	logtest.BenchmarkAppendCPU(b, l, 32, func() time.Duration { return serverCPU(b, srv.Pid()) })
}

func BenchmarkReplay(b *testing.B) {
	srv := testserver.NATS(b)
	l, err := open(b, srv, "bench"+epoch.New(), logtest.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	logtest.BenchmarkReplayCPU(b, l, 50_000, func() time.Duration { return serverCPU(b, srv.Pid()) })
}

// serverCPU reads the CPU time (user and system) process pid has used
// from /proc (fields 14 and 15 of its stat, in clock ticks: 10 ms on Linux,
// whose USER_HZ is 100).
func serverCPU(b *testing.B, pid int) time.Duration {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatalf("the server's CPU time: %v", err)
	}
	// The command name, field 2, may hold spaces; it ends at the last ')'.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 13 {
		b.Fatalf("the server's stat: %q", stat)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("the server's stat: %q", stat)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
