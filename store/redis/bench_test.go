package redis

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub/logtest"
	"github.com/ssehub/ssehub/internal/testserver"
	"github.com/ssehub/ssehub/store/internal/epoch"
)

// The benchmarks start their own Redis: with the AOF fsynced before every
// answer (appendfsync=always, what a durable deployment runs), and without
// persistence for comparison.
func BenchmarkAppend(b *testing.B) {
	for _, fsync := range []string{"always", "everysec"} {
		b.Run("appendfsync="+fsync, func(b *testing.B) {
			srv := testserver.Redis(b, testserver.RedisOptions{AppendFsync: fsync})
			l, err := open(b, srv, "bench-"+epoch.New(), logtest.Config{})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			logtest.BenchmarkAppendCPU(b, l, 32, func() time.Duration { return redisCPU(b, l) })
		})
	}
}

func BenchmarkReplay(b *testing.B) {
	srv := testserver.Redis(b, testserver.RedisOptions{AppendFsync: "everysec"})
	l, err := open(b, srv, "bench-"+epoch.New(), logtest.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	logtest.BenchmarkReplayCPU(b, l, 50_000, func() time.Duration { return redisCPU(b, l) })
}

// redisCPU is the CPU time the Redis server has used, as INFO tells it.
func redisCPU(b *testing.B, l *Log) time.Duration {
	info, err := l.Client().Info(b.Context(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var seconds float64
	for line := range strings.Lines(info) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "used_cpu_user" || k == "used_cpu_sys" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("INFO cpu: %q: %v", line, err)
			}
			seconds += f
		}
	}
	return time.Duration(seconds * float64(time.Second))
}
