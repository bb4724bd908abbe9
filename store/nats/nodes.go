package nats

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The cluster's figures: each node's report is one key of the bucket
// SSEHUB_<Stream>_NODES, in memory (figures need not survive the server).
// nats-server 2.9 has no per-key expiry, so a report carries its own
// lapse and the reader judges it by the time JetStream stored it; the
// bucket's own age limit (nodesMaxAge) removes what no node reports any
// more, so node names that came and went do not pile up.

// nodesMaxAge is the bucket's age limit, and so the longest a report lasts.
const nodesMaxAge = time.Minute

// nodes returns the nodes bucket, making it when missing.
func (l *Log) nodes(ctx context.Context) (jetstream.KeyValue, error) {
	if kv := l.nodesKV.Load(); kv != nil {
		return *kv, nil
	}
	kv, err := l.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: l.nodesBucket, Storage: jetstream.MemoryStorage, TTL: nodesMaxAge,
	})
	if err != nil {
		return nil, l.fail(ctx, "nodes bucket", err)
	}
	l.nodesKV.Store(&kv)
	return kv, nil
}

// ReportNode records that the node called name serves subscribers now;
// the record lapses after ttl (at most a minute) unless reported again, so
// a node that died drops out of the cluster's figures by itself.
func (l *Log) ReportNode(ctx context.Context, name string, subscribers int64, ttl time.Duration) error {
	ctx, cancel := l.bound(ctx)
	defer cancel()
	kv, err := l.nodes(ctx)
	if err != nil {
		return err
	}
	ttl = min(ttl, nodesMaxAge)
	v := strconv.FormatInt(subscribers, 10) + " " + strconv.FormatInt(ttl.Milliseconds(), 10) + " " + name
	if _, err := kv.Put(ctx, idKey(name), []byte(v)); err != nil {
		l.nodesKV.Store(nil) // the bucket may be gone: made again next time
		return l.fail(ctx, "report node", err)
	}
	return nil
}

// Nodes returns the subscribers of every node whose report has not lapsed.
func (l *Log) Nodes(ctx context.Context) (map[string]int64, error) {
	ctx, cancel := l.bound(ctx)
	defer cancel()
	kv, err := l.nodes(ctx)
	if err != nil {
		return nil, err
	}
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		l.nodesKV.Store(nil)
		return nil, l.fail(ctx, "nodes", err)
	}
	defer w.Stop()
	now := time.Now()
	out := make(map[string]int64)
	for {
		select {
		case e, open := <-w.Updates():
			if !open {
				return nil, l.fail(ctx, "nodes", fmt.Errorf("the watch ended"))
			}
			if e == nil { // every current report was delivered
				return out, nil
			}
			if name, subs, ok := report(e, now); ok {
				out[name] = subs
			}
		case <-ctx.Done():
			return nil, l.fail(ctx, "nodes", ctx.Err())
		}
	}
}

// report reads one node's report, unless it lapsed.
func report(e jetstream.KeyValueEntry, now time.Time) (name string, subscribers int64, ok bool) {
	subs, rest, _ := strings.Cut(string(e.Value()), " ")
	ttl, name, _ := strings.Cut(rest, " ")
	n, err1 := strconv.ParseInt(subs, 10, 64)
	ms, err2 := strconv.ParseInt(ttl, 10, 64)
	if err1 != nil || err2 != nil || name == "" || e.Created().Add(time.Duration(ms)*time.Millisecond).Before(now) {
		return "", 0, false
	}
	return name, n, true
}
