package pebble_test

import (
	"path/filepath"
	"testing"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/logtest"
	"github.com/ssehub/ssehub/store/pebble"
)

func factory(policy pebble.SyncPolicy) logtest.Factory {
	opts := func(cfg logtest.Config) pebble.Options {
		return pebble.Options{Retention: cfg.Retention, Now: cfg.Now, Sync: policy}
	}
	return logtest.Factory{
		Open: func(t *testing.T, cfg logtest.Config) (hub.Log, error) {
			return pebble.Open(filepath.Join(t.TempDir(), "events"), opts(cfg))
		},
		Reopen: func(t *testing.T, closed hub.Log, cfg logtest.Config) (hub.Log, error) {
			return pebble.Open(closed.(*pebble.Log).Dir(), opts(cfg))
		},
	}
}

func TestConformance(t *testing.T) {
	for _, p := range []pebble.SyncPolicy{pebble.SyncAlways, pebble.SyncBatch, pebble.SyncNone} {
		t.Run(p.String(), func(t *testing.T) { logtest.Run(t, factory(p)) })
	}
}
