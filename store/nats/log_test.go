package nats

import (
	"context"
	"testing"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/logtest"
	"github.com/ssehub/ssehub/internal/testserver"
	"github.com/ssehub/ssehub/store/internal/epoch"
)

func open(t testing.TB, srv *testserver.Server, stream string, cfg logtest.Config) (*Log, error) {
	return Open(context.Background(), srv.URL(), Options{Stream: stream, Retention: cfg.Retention, Now: cfg.Now})
}

func TestConformance(t *testing.T) {
	srv := testserver.NATS(t)
	logtest.Run(t, logtest.Factory{
		Open: func(t *testing.T, cfg logtest.Config) (hub.Log, error) {
			return open(t, srv, "test"+epoch.New(), cfg)
		},
		Reopen: func(t *testing.T, closed hub.Log, cfg logtest.Config) (hub.Log, error) {
			return open(t, srv, closed.(*Log).Stream(), cfg)
		},
		Share: func(t *testing.T, l hub.Log, cfg logtest.Config) (hub.Log, error) {
			return open(t, srv, l.(*Log).Stream(), cfg)
		},
		Wipe: func(t *testing.T, l hub.Log) {
			nl := l.(*Log)
			if err := nl.JetStream().DeleteStream(t.Context(), nl.name); err != nil {
				t.Fatalf("deleting the stream: %v", err)
			}
			if err := nl.JetStream().DeleteKeyValue(t.Context(), nl.bucket); err != nil {
				t.Fatalf("deleting the ids bucket: %v", err)
			}
		},
		RetentionByEngineClock: true,
		CrashMayCutBatches:     true,
		BatchesMayInterleave:   true,
	})
}
