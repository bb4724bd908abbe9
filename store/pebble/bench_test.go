package pebble_test

import (
	"path/filepath"
	"testing"

	"github.com/ssehub/ssehub/hub/logtest"
	"github.com/ssehub/ssehub/store/pebble"
)

func open(b *testing.B, policy pebble.SyncPolicy) *pebble.Log {
	l, err := pebble.Open(filepath.Join(b.TempDir(), "events"), pebble.Options{Sync: policy})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	return l
}

func BenchmarkAppend(b *testing.B) {
	for _, p := range []pebble.SyncPolicy{pebble.SyncAlways, pebble.SyncBatch, pebble.SyncNone} {
		b.Run("sync="+p.String(), func(b *testing.B) { logtest.BenchmarkAppend(b, open(b, p), 32) })
	}
}

func BenchmarkReplay(b *testing.B) {
	logtest.BenchmarkReplay(b, open(b, pebble.SyncNone), 50000)
}
