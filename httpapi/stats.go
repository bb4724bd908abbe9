package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"slices"
	"strings"
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
	// Cluster is there when the log is shared (Options.Cluster).
	Cluster *ClusterSnapshot `json:"cluster,omitempty"`
}

// ClusterNodes is a shared log that keeps each node's subscriber count, as
// the nodes report it (store/redis has it).
type ClusterNodes interface {
	Nodes(ctx context.Context) (map[string]int64, error)
}

// ClusterSnapshot is the subscribers of every node of the cluster, as
// last reported: a node's own figure there may be a report interval old.
type ClusterSnapshot struct {
	Node        string         `json:"node"` // this node's name
	Nodes       []NodeSnapshot `json:"nodes"`
	Subscribers int64          `json:"subscribers"` // on every node
	Error       string         `json:"error,omitempty"`
}

// NodeSnapshot is one node's figures.
type NodeSnapshot struct {
	Name        string `json:"name"`
	Subscribers int64  `json:"subscribers"`
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
	if a.opts.Cluster != nil {
		s.Cluster = a.clusterSnapshot(ctx)
	}
	return s
}

// clusterSnapshot reads the nodes' figures, sorted by name. An engine that
// does not answer is said so, rather than shown as a cluster of none.
func (a *API) clusterSnapshot(ctx context.Context) *ClusterSnapshot {
	c := &ClusterSnapshot{Node: a.opts.NodeName, Nodes: []NodeSnapshot{}}
	nodes, err := a.opts.Cluster.Nodes(ctx)
	if err != nil {
		c.Error = err.Error()
		return c
	}
	for name, n := range nodes {
		c.Nodes = append(c.Nodes, NodeSnapshot{Name: name, Subscribers: n})
		c.Subscribers += n
	}
	slices.SortFunc(c.Nodes, func(x, y NodeSnapshot) int { return strings.Compare(x.Name, y.Name) })
	return c
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
