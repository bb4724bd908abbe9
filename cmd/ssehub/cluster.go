package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/ssehub/ssehub/metrics"
)

// metricsHandler serves /metrics, with the event loop's figures, and the
// cluster's when the log is shared.
func (m *Main) metricsHandler() http.Handler {
	opts := metrics.Options{Streams: m.streamFigures}
	if c, ok := m.log.(clusterNode); ok {
		return metrics.HandlerWith(m.hub, opts, metrics.ClusterCollector(c))
	}
	return metrics.HandlerWith(m.hub, opts)
}

// clusterNode is a shared log that keeps each node's figures, so that every
// node can tell the cluster's (store/redis has it).
type clusterNode interface {
	ReportNode(ctx context.Context, name string, subscribers int64, ttl time.Duration) error
	Nodes(ctx context.Context) (map[string]int64, error)
}

// reportEvery is how often a node reports its subscribers; a report lapses
// after three intervals, so a node that died leaves the figures within 6s.
const reportEvery = 2 * time.Second

// nodeName names this node in the cluster's figures: its host and port.
func (m *Main) nodeName() string {
	host, _ := os.Hostname()
	_, port, _ := net.SplitHostPort(m.listener.Addr().String())
	return net.JoinHostPort(host, port)
}

// startClusterReports reports this node's subscribers to a shared log until
// the returned function is called.
func (m *Main) startClusterReports() (stop func()) {
	c, ok := m.log.(clusterNode)
	if !ok {
		return func() {}
	}
	name := m.nodeName()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(reportEvery)
		defer t.Stop()
		for {
			if err := c.ReportNode(ctx, name, m.hub.Stats().Subscribers, 3*reportEvery); err != nil && ctx.Err() == nil {
				m.Logger.Debug("reporting this node's figures", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
