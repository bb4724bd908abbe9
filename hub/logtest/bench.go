package logtest

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// BenchmarkAppend measures l.Append from publishers goroutines at once, each
// appending one event (200 bytes of data) at a time and waiting for its
// acknowledgement, as publishers of a busy hub do. It reports events/s.
func BenchmarkAppend(b *testing.B, l hub.Log, publishers int) {
	BenchmarkAppendCPU(b, l, publishers, nil)
}

// BenchmarkAppendCPU is BenchmarkAppend that also reports the CPU time
// this process (client-ns/event) and, when engineCPU is not nil, the
// engine's process (engine-ns/event) spent per event appended.
func BenchmarkAppendCPU(b *testing.B, l hub.Log, publishers int, engineCPU func() time.Duration) {
	data := strings.Repeat("x", 200)
	var next sync.Mutex
	n := 0
	take := func() bool {
		next.Lock()
		defer next.Unlock()
		n++
		return n <= b.N
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	cpu := startCPU(engineCPU)
	var wg sync.WaitGroup
	for range publishers {
		wg.Go(func() {
			for take() {
				ev := &hub.Event{Topics: []string{"bench"}, Data: data}
				if err := l.Append(b.Context(), []*hub.Event{ev}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	cpu.report(b, float64(b.N))
}

// cpuSpent measures the CPU time this process and, when engine is not
// nil, the engine's process spend from startCPU to report.
type cpuSpent struct {
	engine       func() time.Duration
	self, inside time.Duration // at the start
}

func startCPU(engine func() time.Duration) cpuSpent {
	c := cpuSpent{engine: engine, self: processCPU()}
	if engine != nil {
		c.inside = engine()
	}
	return c
}

// report reports the time spent per event, over events events, as
// client-ns/event and engine-ns/event.
func (c cpuSpent) report(b *testing.B, events float64) {
	if c.self >= 0 {
		b.ReportMetric(float64(processCPU()-c.self)/events, "client-ns/event")
	}
	if c.engine != nil {
		b.ReportMetric(float64(c.engine()-c.inside)/events, "engine-ns/event")
	}
}

// BenchmarkReplay measures reading n events (200 bytes of data each) after
// a position, in pages of 512 as the hub replays them to a resuming
// subscriber. It reports events/s; one op is the whole replay.
func BenchmarkReplay(b *testing.B, l hub.Log, n int) {
	BenchmarkReplayCPU(b, l, n, nil)
}

// BenchmarkReplayCPU is BenchmarkReplay that also says where the CPU time
// of the replay went: this process's (client-ns/event) and, when
// engineCPU is not nil, the engine's (engine-ns/event), engineCPU giving
// the CPU time the engine's process has used so far. On a machine whose
// cores both sides share, their sum bounds what replay can reach.
func BenchmarkReplayCPU(b *testing.B, l hub.Log, n int, engineCPU func() time.Duration) {
	data := strings.Repeat("x", 200)
	for added := 0; added < n+1000; added += 1000 {
		batch := make([]*hub.Event, 1000)
		for i := range batch {
			batch[i] = &hub.Event{Topics: []string{"bench"}, Data: data}
		}
		if err := l.Append(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	cpu := startCPU(engineCPU)
	for b.Loop() {
		read := 0
		for after := uint64(1000); read < n; {
			evs, err := l.Read(b.Context(), after, min(512, n-read))
			if err != nil || len(evs) == 0 {
				b.Fatalf("Read(%d): %d events, %v", after, len(evs), err)
			}
			read += len(evs)
			after = evs[len(evs)-1].Seq
		}
	}
	events := float64(b.N * n)
	b.ReportMetric(events/time.Since(start).Seconds(), "events/s")
	cpu.report(b, events)
}
