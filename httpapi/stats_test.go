package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
)

// frameRecorder is a flushable ResponseWriter that hands every flushed
// write to frames.
type frameRecorder struct {
	header http.Header
	mu     sync.Mutex
	buf    []byte
	frames [][]byte
}

func (f *frameRecorder) Header() http.Header { return f.header }
func (f *frameRecorder) WriteHeader(int)     {}
func (f *frameRecorder) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.buf = append(f.buf, p...)
	return len(p), nil
}
func (f *frameRecorder) Flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frames = append(f.frames, f.buf)
	f.buf = nil
}

// TestStatsViewersShareOneMemStatsReadingPerInterval: however many
// dashboards watch /api/stats, the world stops for runtime.ReadMemStats at
// most once per interval, and each viewer still gets a fresh snapshot every
// interval. (Without the shared frame, 50 viewers made 50 readings a tick.)
func TestStatsViewersShareOneMemStatsReadingPerInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := memory.New(memory.Options{})
		h, err := hub.New(log, hub.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer log.Close()
		const interval, ticks, viewers = time.Second, 10, 50
		a := New(h, Options{StatsInterval: interval})
		var reads atomic.Int64
		a.readMemStats = func(ms *runtime.MemStats) { reads.Add(1) }

		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		recs := make([]*frameRecorder, viewers)
		for i := range recs {
			recs[i] = &frameRecorder{header: http.Header{}}
			r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/stats", nil)
			wg.Go(func() { a.serveStats(recs[i], r) })
		}
		time.Sleep(ticks*interval - time.Millisecond)
		synctest.Wait()
		cancel()
		wg.Wait()
		h.Close()

		if n := reads.Load(); n != ticks {
			t.Errorf("%d viewers over %d intervals made %d ReadMemStats calls, want %d (one per interval)", viewers, ticks, n, ticks)
		}
		for i, rec := range recs {
			if len(rec.frames) != ticks {
				t.Fatalf("viewer %d got %d frames in %d intervals, want %d", i, len(rec.frames), ticks, ticks)
			}
			var last time.Time
			for _, f := range rec.frames {
				var s Snapshot
				data, _ := strings.CutPrefix(strings.Split(string(f), "\n")[1], "data: ")
				if err := json.Unmarshal([]byte(data), &s); err != nil {
					t.Fatalf("viewer %d: frame %q: %v", i, f, err)
				}
				if !s.Time.After(last) {
					t.Fatalf("viewer %d got snapshot %v after %v: a frame twice", i, s.Time, last)
				}
				last = s.Time
			}
		}
	})
}

// BenchmarkStatsFrame is the cost of one viewer's tick: a shared frame
// against a reading of its own (Snapshot), with many goroutines alive.
func BenchmarkStatsFrame(b *testing.B) {
	log := memory.New(memory.Options{})
	h, err := hub.New(log, hub.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	defer h.Close()
	a := New(h, Options{})
	b.Run("shared", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			a.statsFrame(context.Background())
		}
	})
	b.Run("own-reading", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal(a.Snapshot(context.Background()))
		}
	})
}
