// Package metrics exposes the hub's figures to Prometheus. The hub keeps
// plain atomic counters; this package reads them when Prometheus scrapes, so
// nothing is added to the publish or fan-out paths, and it uses a registry
// of its own rather than the global one.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ssehub/ssehub/hub"
)

// Handler serves the hub's metrics, with the Go runtime's, the process's
// and any extra collectors (such as [ClusterCollector]), in the Prometheus
// text format.
func Handler(h *hub.Hub, extra ...prometheus.Collector) http.Handler {
	return HandlerWith(h, Options{}, extra...)
}

// Options add figures from outside the hub to its metrics.
type Options struct {
	// Streams reads the event loop's figures (nil: none are exported).
	Streams func() Streams
}

// Streams are the event loop's figures, as the HTTP front door reports
// them.
type Streams struct {
	Held, Blocked int
	WriteTimeouts int64
}

// HandlerWith is Handler with figures from outside the hub.
func HandlerWith(h *hub.Hub, opts Options, extra ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		newCollector(h),
		newFigureCollector(h, opts.Streams),
		newBuildCollector(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	reg.MustRegister(extra...)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

type collector struct {
	hub                                                 *hub.Hub
	subscribers, topics, logEvents, logBytes, logFirst  *prometheus.Desc
	logLast, published, dispatched, delivered, slowDisc *prometheus.Desc
}

func newCollector(h *hub.Hub) *collector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc("ssehub_"+name, help, nil, nil) }
	return &collector{
		hub:         h,
		subscribers: d("subscribers", "Subscriptions currently registered."),
		topics:      d("topics", "Distinct exact topics subscribed to."),
		logEvents:   d("log_events", "Events the log holds."),
		logBytes:    d("log_bytes", "Approximate bytes the log holds."),
		logFirst:    d("log_first_seq", "Position of the oldest retained event."),
		logLast:     d("log_last_seq", "Position of the newest event."),
		published:   d("published_events_total", "Events acknowledged to publishers."),
		dispatched:  d("dispatched_events_total", "Events fanned out from the log's tail."),
		delivered:   d("delivered_events_total", "Events handed to subscribers' connections."),
		slowDisc:    d("slow_disconnects_total", "Subscribers disconnected because their queue overflowed."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.subscribers, c.topics, c.logEvents, c.logBytes, c.logFirst,
		c.logLast, c.published, c.dispatched, c.delivered, c.slowDisc} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.hub.Stats()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.subscribers, float64(s.Subscribers))
	gauge(c.topics, float64(s.Topics))
	counter(c.published, float64(s.Published))
	counter(c.dispatched, float64(s.Dispatched))
	counter(c.delivered, float64(s.Delivered))
	counter(c.slowDisc, float64(s.SlowDisconnects))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if info, err := c.hub.Log().Info(ctx); err == nil {
		gauge(c.logEvents, float64(info.Events))
		gauge(c.logBytes, float64(info.Bytes))
		gauge(c.logFirst, float64(info.First))
		gauge(c.logLast, float64(info.Last))
	}
}
