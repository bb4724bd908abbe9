package redis

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// ReportNode records that the node called name serves subscribers now;
// the record lapses after ttl unless reported again, so a node that died
// drops out of the cluster's figures by itself.
func (l *Log) ReportNode(ctx context.Context, name string, subscribers int64, ttl time.Duration) error {
	ctx, cancel := l.bound(ctx)
	defer cancel()
	expires := l.opts.Now().Add(ttl).UnixMilli()
	v := strconv.FormatInt(subscribers, 10) + " " + strconv.FormatInt(expires, 10)
	if err := l.rdb.HSet(ctx, l.node, name, v).Err(); err != nil {
		return l.fail(ctx, "report node", err)
	}
	return nil
}

// Nodes returns the subscribers of every node whose report has not
// lapsed, and removes the lapsed ones.
func (l *Log) Nodes(ctx context.Context) (map[string]int64, error) {
	ctx, cancel := l.bound(ctx)
	defer cancel()
	all, err := l.rdb.HGetAll(ctx, l.node).Result()
	if err != nil {
		return nil, l.fail(ctx, "nodes", err)
	}
	now := l.opts.Now().UnixMilli()
	out := make(map[string]int64, len(all))
	var lapsed []string
	for name, v := range all {
		subs, exp, _ := strings.Cut(v, " ")
		n, err1 := strconv.ParseInt(subs, 10, 64)
		e, err2 := strconv.ParseInt(exp, 10, 64)
		if err1 != nil || err2 != nil || e < now {
			lapsed = append(lapsed, name)
			continue
		}
		out[name] = n
	}
	if len(lapsed) > 0 {
		// A node reporting again between the read and this removal comes
		// back at its next report.
		_ = l.rdb.HDel(ctx, l.node, lapsed...).Err()
	}
	return out, nil
}
