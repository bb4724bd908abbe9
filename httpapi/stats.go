package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/ssehub/ssehub/httpapi/internal/stream"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/sse"
)

// Snapshot is what GET /api/stats streams every second, for dashboards.
type Snapshot struct {
	Time time.Time `json:"time"`
	hub.Stats
	Log     LogSnapshot     `json:"log"`
	Process ProcessSnapshot `json:"process"`
}

// LogSnapshot describes the log's extent.
type LogSnapshot struct {
	Epoch  string `json:"epoch"`
	First  uint64 `json:"first"`
	Last   uint64 `json:"last"`
	Events int64  `json:"events"`
	Bytes  int64  `json:"bytes"`
}

// ProcessSnapshot describes the hub's process.
type ProcessSnapshot struct {
	Goroutines int    `json:"goroutines"`
	HeapBytes  uint64 `json:"heapBytes"`
	SysBytes   uint64 `json:"sysBytes"`
	NumCPU     int    `json:"numCPU"`
}

// Snapshot returns the hub's current figures. It reads the runtime's
// memory statistics, which stops the world for a moment: GET /api/stats
// shares one Snapshot per StatsInterval between all its viewers instead.
func (a *API) Snapshot(ctx context.Context) Snapshot {
	var ms runtime.MemStats
	a.readMemStats(&ms)
	s := Snapshot{
		Time:  time.Now().UTC(),
		Stats: a.hub.Stats(),
		Process: ProcessSnapshot{
			Goroutines: runtime.NumGoroutine(),
			HeapBytes:  ms.HeapAlloc,
			SysBytes:   ms.Sys,
			NumCPU:     runtime.NumCPU(),
		},
	}
	if info, err := a.hub.Log().Info(ctx); err == nil {
		s.Log = LogSnapshot{info.Epoch, info.First, info.Last, info.Events, info.Bytes}
	}
	return s
}

// statsCache holds the last stats frame, encoded once and shared by every
// viewer. Its mutex is held while a new frame is made, so viewers that ask
// at the same moment wait for that one reading rather than each taking
// their own: however many dashboards are open, the world stops for
// ReadMemStats at most once per interval.
type statsCache struct {
	mu    sync.Mutex
	at    time.Time // when frame was made (monotonic)
	frame []byte    // never changed once made: viewers write it as is
}

// statsFrame returns the "stats" event of a Snapshot at most one
// StatsInterval old. A viewer whose ticks are one interval apart therefore
// never gets the same frame twice, so rates computed from one frame to the
// next stay defined.
func (a *API) statsFrame(ctx context.Context) []byte {
	c := &a.stats
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frame != nil && time.Since(c.at) < a.opts.StatsInterval {
		return c.frame
	}
	// The frame is shared, so one viewer hanging up while it is made must
	// not leave the others an empty log figure.
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.opts.StatsInterval)
	defer cancel()
	data, _ := json.Marshal(a.Snapshot(ictx))
	ev := sse.Event{Type: "stats", Data: string(data)}
	c.frame, _ = ev.AppendTo(nil)
	c.at = time.Now()
	return c.frame
}

// Stats returns the handler of GET /api/stats, for serving it elsewhere
// than on the API's routes (see Options.NoStats).
func (a *API) Stats() http.Handler { return a.cors(http.HandlerFunc(a.serveStats)) }

// serveStats streams a Snapshot every StatsInterval as "stats" events.
func (a *API) serveStats(w http.ResponseWriter, r *http.Request) {
	rc := stream.Start(w, r)
	t := time.NewTicker(a.opts.StatsInterval)
	defer t.Stop()
	for {
		if a.streams.Write(rc, w, [][]byte{a.statsFrame(r.Context())}) != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-a.hub.Done():
			return
		case <-t.C:
		}
	}
}
