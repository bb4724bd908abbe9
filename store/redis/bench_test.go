package redis

import (
	"testing"

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
			logtest.BenchmarkAppend(b, l, 32)
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
	logtest.BenchmarkReplay(b, l, 50_000)
}
