package hub

import (
	"sync/atomic"
	"time"
)

// latencyBounds are the upper bounds of a Histogram's buckets: from 50µs,
// a publish acknowledged from memory, to 10s, a stalled disk or network.
var latencyBounds = [...]time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// Histogram counts durations in fixed buckets with atomics only: observing
// takes no lock and allocates nothing, so it may sit on the publish and
// dispatch paths; a scrape reads it.
type Histogram struct {
	counts [len(latencyBounds) + 1]atomic.Uint64 // the last: over every bound
	sum    atomic.Int64                          // nanoseconds
}

// Observe adds one duration.
func (h *Histogram) Observe(d time.Duration) {
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// HistogramSnapshot is a Histogram read at one moment, in Prometheus's
// terms: cumulative counts per upper bound, in seconds.
type HistogramSnapshot struct {
	Bounds     []float64 `json:"bounds"`     // seconds
	Cumulative []uint64  `json:"cumulative"` // observations at or under each bound
	Count      uint64    `json:"count"`
	Sum        float64   `json:"sum"` // seconds
}

// Snapshot reads the histogram.
func (h *Histogram) Snapshot() HistogramSnapshot {
	s := HistogramSnapshot{Bounds: make([]float64, len(latencyBounds)), Cumulative: make([]uint64, len(latencyBounds))}
	var total uint64
	for i, b := range latencyBounds {
		total += h.counts[i].Load()
		s.Bounds[i] = b.Seconds()
		s.Cumulative[i] = total
	}
	s.Count = total + h.counts[len(latencyBounds)].Load()
	s.Sum = time.Duration(h.sum.Load()).Seconds()
	return s
}
