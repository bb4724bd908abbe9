package memory_test

import (
	"testing"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/logtest"
	"github.com/ssehub/ssehub/store/memory"
)

func TestConformance(t *testing.T) {
	logtest.Run(t, logtest.Factory{
		Open: func(t *testing.T, cfg logtest.Config) (hub.Log, error) {
			return memory.New(memory.Options{Retention: cfg.Retention, Now: cfg.Now}), nil
		},
	})
}
