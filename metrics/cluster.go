package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Cluster reports the subscribers of every live node sharing this node's
// log (a shared store keeps the nodes' reports).
type Cluster interface {
	Nodes(ctx context.Context) (map[string]int64, error)
}

// ClusterCollector exposes a cluster's figures: subscribers per node and in
// total, read from c when Prometheus scrapes.
func ClusterCollector(c Cluster) prometheus.Collector {
	return &clusterCollector{
		c:     c,
		node:  prometheus.NewDesc("ssehub_cluster_node_subscribers", "Subscribers of each live node of the cluster, as last reported.", []string{"node"}, nil),
		total: prometheus.NewDesc("ssehub_cluster_subscribers", "Subscribers of all live nodes of the cluster.", nil, nil),
		nodes: prometheus.NewDesc("ssehub_cluster_nodes", "Live nodes of the cluster.", nil, nil),
	}
}

type clusterCollector struct {
	c                  Cluster
	node, total, nodes *prometheus.Desc
}

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.node
	ch <- c.total
	ch <- c.nodes
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	nodes, err := c.c.Nodes(ctx)
	if err != nil {
		return // the engine is unreachable; /readyz says so
	}
	var total int64
	for name, n := range nodes {
		total += n
		ch <- prometheus.MustNewConstMetric(c.node, prometheus.GaugeValue, float64(n), name)
	}
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, float64(total))
	ch <- prometheus.MustNewConstMetric(c.nodes, prometheus.GaugeValue, float64(len(nodes)))
}
