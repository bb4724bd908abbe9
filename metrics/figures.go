package metrics

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ssehub/ssehub/hub"
)

// figureCollector exports hub.Figures and the event loop's figures.
type figureCollector struct {
	hub     *hub.Hub
	streams func() Streams

	publish, append, lag         *prometheus.Desc
	byDoor, disconnects, resets  *prometheus.Desc
	replays, replayed            *prometheus.Desc
	held, blocked, writeTimeouts *prometheus.Desc
}

func newFigureCollector(h *hub.Hub, streams func() Streams) *figureCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("ssehub_"+name, help, labels, nil)
	}
	return &figureCollector{
		hub: h, streams: streams,
		publish:       d("publish_duration_seconds", "Time from a publish reaching the hub to its acknowledgement (validation and append)."),
		append:        d("append_duration_seconds", "Time the log takes to append a batch durably, as its sync policy promises."),
		lag:           d("dispatch_lag_seconds", "Time from an event's acceptance to its fan-out into subscribers' queues (publish to delivery, before the socket)."),
		byDoor:        d("door_subscribers", "Subscriptions open now, by front door.", "door"),
		disconnects:   d("disconnects_total", "Subscriptions ended, by reason: client, slow, lagged, shutdown, operator, other.", "reason"),
		resets:        d("resets_total", "Subscribers whose Last-Event-ID could not be resumed from, by reason (unknown-id, expired).", "reason"),
		replays:       d("replays_total", "Subscriptions that resumed from the log after a Last-Event-ID."),
		replayed:      d("replayed_events_total", "Events sent to resuming subscribers from the log or the hub's recent frames."),
		held:          d("evloop_streams", "Streams the event loop holds now."),
		blocked:       d("evloop_blocked_streams", "Streams of the event loop whose socket is full and waits to drain."),
		writeTimeouts: d("evloop_write_timeouts_total", "Streams the event loop closed because their client took nothing within the write timeout."),
	}
}

func (c *figureCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.publish, c.append, c.lag, c.byDoor, c.disconnects, c.resets,
		c.replays, c.replayed, c.held, c.blocked, c.writeTimeouts} {
		ch <- d
	}
}

func (c *figureCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.hub.Figures()
	hist := func(d *prometheus.Desc, s hub.HistogramSnapshot) {
		buckets := make(map[float64]uint64, len(s.Bounds))
		for i, b := range s.Bounds {
			buckets[b] = s.Cumulative[i]
		}
		ch <- prometheus.MustNewConstHistogram(d, s.Count, s.Sum, buckets)
	}
	hist(c.publish, f.PublishLatency)
	hist(c.append, f.AppendLatency)
	hist(c.lag, f.DispatchLag)
	// The native door is always reported, so a dashboard shows 0, not no data.
	if _, ok := f.SubscribersByDoor["native"]; !ok {
		f.SubscribersByDoor["native"] = 0
	}
	for door, n := range f.SubscribersByDoor {
		ch <- prometheus.MustNewConstMetric(c.byDoor, prometheus.GaugeValue, float64(n), door)
	}
	for reason, n := range f.Disconnects {
		ch <- prometheus.MustNewConstMetric(c.disconnects, prometheus.CounterValue, float64(n), reason)
	}
	for reason, n := range f.Resets {
		ch <- prometheus.MustNewConstMetric(c.resets, prometheus.CounterValue, float64(n), reason)
	}
	ch <- prometheus.MustNewConstMetric(c.replays, prometheus.CounterValue, float64(f.Replays))
	ch <- prometheus.MustNewConstMetric(c.replayed, prometheus.CounterValue, float64(f.ReplayedEvents))
	var s Streams
	if c.streams != nil {
		s = c.streams()
	}
	ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, float64(s.Held))
	ch <- prometheus.MustNewConstMetric(c.blocked, prometheus.GaugeValue, float64(s.Blocked))
	ch <- prometheus.MustNewConstMetric(c.writeTimeouts, prometheus.CounterValue, float64(s.WriteTimeouts))
}

// buildCollector exports ssehub_build_info, 1 with the build's version,
// commit and Go version as labels, read once from the build info.
type buildCollector struct{ m prometheus.Metric }

func newBuildCollector() *buildCollector {
	version, commit, goVersion := "unknown", "unknown", runtime.Version()
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				commit = s.Value
			}
		}
	}
	d := prometheus.NewDesc("ssehub_build_info", "Always 1; the labels say what the binary was built from.",
		nil, prometheus.Labels{"version": version, "commit": commit, "goversion": goVersion})
	return &buildCollector{m: prometheus.MustNewConstMetric(d, prometheus.GaugeValue, 1)}
}

func (c *buildCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.m.Desc() }
func (c *buildCollector) Collect(ch chan<- prometheus.Metric) { ch <- c.m }
