package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/ssehub/ssehub/demo/internal/jsonhttp"
	"github.com/ssehub/ssehub/hub"
)

// Topics of the monitoring wall: samples ("sample" events, JSON Sample)
// and threshold changes ("thresholds") on MonitorTopic, alarms ("alarm",
// JSON Alarm) on AlarmTopic.
const (
	MonitorTopic = "monitor/host"
	AlarmTopic   = "monitor/alarms"
)

// Sample is the wall's figures at one moment. Figures the host cannot give
// (no /proc, or the first reading of a rate) are null.
type Sample struct {
	Time time.Time `json:"time"`
	// Host: CPU busy percent over the last interval, memory in use.
	CPU         *float64 `json:"cpu"`
	Memory      *float64 `json:"memory"` // percent of MemTotal not available
	MemUsed     uint64   `json:"memUsed"`
	MemTotal    uint64   `json:"memTotal"`
	NumCPU      int      `json:"numCPU"`
	RSS         uint64   `json:"rss"` // this process
	HeapBytes   uint64   `json:"heapBytes"`
	Goroutines  int      `json:"goroutines"`
	Connections int64    `json:"connections"` // the hub's subscribers
	// EventsPerSec is what was published to the hub per second over the
	// last interval.
	EventsPerSec *float64 `json:"eventsPerSec"`
}

// Alarm tells that a figure crossed its threshold: "raised" when it went
// above, "cleared" when it came back to or below.
type Alarm struct {
	Metric    string    `json:"metric"`
	Value     float64   `json:"value"`
	Threshold float64   `json:"threshold"`
	State     string    `json:"state"`
	Time      time.Time `json:"time"`
}

// thresholdMetrics are the figures a threshold may be set on.
var thresholdMetrics = []string{"cpu", "memory", "goroutines", "connections", "eventsPerSec"}

// value returns the figure named metric, and false when it is unknown now.
func (s *Sample) value(metric string) (float64, bool) {
	switch metric {
	case "cpu":
		return deref(s.CPU)
	case "memory":
		return deref(s.Memory)
	case "goroutines":
		return float64(s.Goroutines), true
	case "connections":
		return float64(s.Connections), true
	case "eventsPerSec":
		return deref(s.EventsPerSec)
	}
	return 0, false
}

func deref(p *float64) (float64, bool) {
	if p == nil {
		return 0, false
	}
	return *p, true
}

// monitor samples the host and the hub and raises alarms. Thresholds live
// here, in the server, so every wall showing the page sees the same ones
// and alarms are raised once, whoever set them.
type monitor struct {
	hub     *hub.Hub
	procDir string
	now     func() time.Time
	log     *slog.Logger

	// Touched only by the publisher goroutine.
	prevCPU       *cpuTimes
	prevPublished int64
	prevTime      time.Time

	mu         sync.Mutex
	thresholds map[string]float64 // metric → threshold; absent: none
	above      map[string]bool    // metric → above its threshold at the last sample
}

func newMonitor(h *hub.Hub, procDir string, now func() time.Time, log *slog.Logger) *monitor {
	return &monitor{hub: h, procDir: procDir, now: now, log: log,
		thresholds: map[string]float64{}, above: map[string]bool{}}
}

func (m *monitor) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /demo/monitor/thresholds", m.serveThresholds)
	mux.HandleFunc("POST /demo/monitor/thresholds", m.serveSetThresholds)
}

func (m *monitor) tick(ctx context.Context) {
	s := m.sample()
	data, _ := json.Marshal(s)
	events := []hub.Event{{Topics: []string{MonitorTopic}, Type: "sample", Data: string(data)}}
	for _, a := range m.alarms(&s) {
		data, _ := json.Marshal(a)
		events = append(events, hub.Event{Topics: []string{AlarmTopic}, Type: "alarm", Data: string(data)})
	}
	if _, err := m.hub.Publish(ctx, events...); err != nil {
		logPublishError(ctx, m.log, "monitor", err)
	}
}

// sample reads the figures. Host figures that cannot be read are left null
// (and logged once per tick at debug level): the wall keeps working on
// systems without /proc.
func (m *monitor) sample() Sample {
	now := m.now()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := m.hub.Stats()
	s := Sample{Time: now.UTC(), NumCPU: runtime.NumCPU(), HeapBytes: ms.HeapAlloc,
		Goroutines: runtime.NumGoroutine(), Connections: st.Subscribers}
	if cur, err := readCPU(m.procDir); err == nil {
		if m.prevCPU != nil {
			s.CPU = round1(cpuPercent(*m.prevCPU, cur))
		}
		m.prevCPU = &cur
	} else {
		m.log.Debug("monitor: reading CPU", "err", err)
	}
	if mem, err := readMem(m.procDir); err == nil {
		s.MemTotal, s.MemUsed = mem.total, mem.total-min(mem.available, mem.total)
		s.Memory = round1(100 * float64(s.MemUsed) / float64(mem.total))
	} else {
		m.log.Debug("monitor: reading memory", "err", err)
	}
	if rss, err := readRSS(m.procDir); err == nil {
		s.RSS = rss
	}
	if !m.prevTime.IsZero() {
		if secs := now.Sub(m.prevTime).Seconds(); secs > 0 {
			s.EventsPerSec = round1(float64(st.Published-m.prevPublished) / secs)
		}
	}
	m.prevTime, m.prevPublished = now, st.Published
	return s
}

func round1(v float64) *float64 {
	r := math.Round(v*10) / 10
	return &r
}

// alarms compares s with the thresholds and returns an alarm for every
// figure that crossed its threshold since the last sample.
func (m *monitor) alarms(s *Sample) []Alarm {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Alarm
	for _, metric := range thresholdMetrics {
		thr, set := m.thresholds[metric]
		v, known := s.value(metric)
		if !set || !known {
			continue
		}
		above := v > thr
		if above == m.above[metric] {
			continue
		}
		m.above[metric] = above
		state := "cleared"
		if above {
			state = "raised"
		}
		out = append(out, Alarm{Metric: metric, Value: v, Threshold: thr, State: state, Time: s.Time})
	}
	return out
}

func (m *monitor) snapshot() map[string]float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.thresholds)
}

func (m *monitor) serveThresholds(w http.ResponseWriter, r *http.Request) {
	jsonhttp.Write(w, http.StatusOK, map[string]any{"thresholds": m.snapshot(), "metrics": thresholdMetrics})
}

// serveSetThresholds takes {"metric": value, …}: a positive or zero value
// sets that metric's threshold, null removes it; metrics not named keep
// theirs. The new thresholds are published so every wall shows them.
func (m *monitor) serveSetThresholds(w http.ResponseWriter, r *http.Request) {
	var req map[string]*float64
	if err := jsonhttp.Decode(r, &req); err != nil {
		jsonhttp.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	for metric, v := range req {
		if !slices.Contains(thresholdMetrics, metric) {
			jsonhttp.Error(w, http.StatusBadRequest, fmt.Sprintf("unknown metric %q; thresholds exist for %v", metric, thresholdMetrics))
			return
		}
		if v != nil && (*v < 0 || math.IsNaN(*v) || math.IsInf(*v, 0)) {
			jsonhttp.Error(w, http.StatusBadRequest, fmt.Sprintf("threshold of %s must be a number of at least 0", metric))
			return
		}
	}
	th, cleared := m.setThresholds(req)
	data, _ := json.Marshal(th)
	events := []hub.Event{{Topics: []string{MonitorTopic}, Type: "thresholds", Data: string(data)}}
	for _, a := range cleared {
		data, _ := json.Marshal(a)
		events = append(events, hub.Event{Topics: []string{AlarmTopic}, Type: "alarm", Data: string(data)})
	}
	if _, err := m.hub.Publish(r.Context(), events...); err != nil {
		jsonhttp.Error(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	jsonhttp.Write(w, http.StatusOK, map[string]any{"thresholds": th})
}

// setThresholds applies a change and returns the new thresholds, and a
// "cleared" alarm for each raised alarm whose threshold was removed. A
// changed threshold keeps its alarm state: the next sample raises or
// clears the alarm against the new value.
func (m *monitor) setThresholds(req map[string]*float64) (map[string]float64, []Alarm) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var cleared []Alarm
	for metric, v := range req {
		if v != nil {
			m.thresholds[metric] = *v
			continue
		}
		if m.above[metric] {
			cleared = append(cleared, Alarm{Metric: metric, Threshold: m.thresholds[metric], State: "cleared", Time: m.now().UTC()})
		}
		delete(m.thresholds, metric)
		delete(m.above, metric)
	}
	return maps.Clone(m.thresholds), cleared
}
