package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
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

// Snapshot returns the hub's current figures.
func (a *API) Snapshot(ctx context.Context) Snapshot {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
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

// serveStats streams a Snapshot every StatsInterval as "stats" events.
func (a *API) serveStats(w http.ResponseWriter, r *http.Request) {
	rc := stream.Start(w, r)
	t := time.NewTicker(a.opts.StatsInterval)
	defer t.Stop()
	var buf []byte
	for {
		data, _ := json.Marshal(a.Snapshot(r.Context()))
		ev := sse.Event{Type: "stats", Data: string(data)}
		buf, _ = ev.AppendTo(buf[:0])
		if a.streams.Write(rc, w, [][]byte{buf}) != nil {
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
