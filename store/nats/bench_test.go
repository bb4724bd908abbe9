package nats

import (
	"testing"

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
	logtest.BenchmarkAppend(b, l, 32)
}

func BenchmarkReplay(b *testing.B) {
	srv := testserver.NATS(b)
	l, err := open(b, srv, "bench"+epoch.New(), logtest.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	logtest.BenchmarkReplay(b, l, 50_000)
}
