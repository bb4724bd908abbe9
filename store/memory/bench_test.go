package memory_test

import (
	"testing"

	"github.com/ssehub/ssehub/hub/logtest"
	"github.com/ssehub/ssehub/store/memory"
)

func BenchmarkAppend(b *testing.B) {
	l := memory.New(memory.Options{})
	defer l.Close()
	logtest.BenchmarkAppend(b, l, 32)
}

func BenchmarkReplay(b *testing.B) {
	l := memory.New(memory.Options{})
	defer l.Close()
	logtest.BenchmarkReplay(b, l, 50000)
}
