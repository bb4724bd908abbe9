package redis

import (
	"context"
	"testing"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/logtest"
	"github.com/ssehub/ssehub/internal/testserver"
	"github.com/ssehub/ssehub/store/internal/epoch"
)

// open opens a log on srv under a fresh stream name.
func open(t testing.TB, srv *testserver.Server, stream string, cfg logtest.Config) (*Log, error) {
	ropts, _, err := ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	return Open(context.Background(), ropts, Options{Stream: stream, Retention: cfg.Retention, Now: cfg.Now})
}

func TestConformance(t *testing.T) {
	srv := testserver.Redis(t, testserver.RedisOptions{AppendFsync: "always"})
	logtest.Run(t, logtest.Factory{
		Open: func(t *testing.T, cfg logtest.Config) (hub.Log, error) {
			return open(t, srv, "test-"+epoch.New(), cfg)
		},
		Reopen: func(t *testing.T, closed hub.Log, cfg logtest.Config) (hub.Log, error) {
			return open(t, srv, closed.(*Log).Stream(), cfg)
		},
		Share: func(t *testing.T, l hub.Log, cfg logtest.Config) (hub.Log, error) {
			return open(t, srv, l.(*Log).Stream(), cfg)
		},
		Wipe: func(t *testing.T, l hub.Log) {
			if err := l.(*Log).Client().FlushAll(t.Context()).Err(); err != nil {
				t.Fatalf("FLUSHALL: %v", err)
			}
		},
	})
}
