package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Server says which Redis holds the log: exactly one field is set.
type Server struct {
	// Single is one Redis server (or a proxy in front of several).
	Single *goredis.Options
	// Cluster is a Redis Cluster, reached through any of its nodes. The
	// log's keys share one hash tag, so one log lives on one shard.
	Cluster *goredis.ClusterOptions
	// Sentinel is a primary watched by Redis Sentinel, found through the
	// sentinels and followed across failovers.
	Sentinel *goredis.FailoverOptions
}

// ParseURL reads a store URL, one of
//
//	redis://[user:pass@]host:port[/db][?stream=NAME]  (rediss:// for TLS)
//	redis+cluster://[user:pass@]host:port,host:port,…[/][?stream=NAME]
//	redis+sentinel://[user:pass@]host:port,host:port,…[/db]?master=NAME[&stream=NAME]
//
// The stream parameter names the log (Options.Stream). In the cluster form
// the hosts are seed nodes; in the sentinel form they are the sentinels,
// master names the primary, user:pass are the primary's credentials and
// the sentinels' own password, if any, is sentinel_password. Every other
// parameter is go-redis's own (for example dial_timeout, pool_size). The
// +cluster and +sentinel forms take rediss+… for TLS.
func ParseURL(raw string) (Server, string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Server{}, "", fmt.Errorf("redis URL: %w", err)
	}
	q := u.Query()
	stream := q.Get("stream")
	q.Del("stream")
	base, form, _ := strings.Cut(u.Scheme, "+")
	if base != "redis" && base != "rediss" {
		return Server{}, "", fmt.Errorf("redis URL %s: scheme %q, want redis, rediss, redis+cluster or redis+sentinel", u.Redacted(), u.Scheme)
	}
	hosts := strings.Split(u.Host, ",")
	var srv Server
	switch form {
	case "":
		u.RawQuery = q.Encode()
		srv.Single, err = goredis.ParseURL(u.String())
	case "cluster":
		srv.Cluster, err = parseCluster(u, base, hosts, q)
	case "sentinel":
		srv.Sentinel, err = parseSentinel(u, base, hosts, q)
	default:
		err = fmt.Errorf("unknown form %q, want redis+cluster or redis+sentinel", form)
	}
	if err != nil {
		return Server{}, "", fmt.Errorf("redis URL %s: %w", u.Redacted(), err)
	}
	return srv, stream, nil
}

// parseCluster hands go-redis its cluster URL: the first host in the
// authority, the others as addr parameters.
func parseCluster(u *url.URL, scheme string, hosts []string, q url.Values) (*goredis.ClusterOptions, error) {
	if strings.Trim(u.Path, "/") != "" {
		return nil, fmt.Errorf("a cluster has no database number (path %q)", u.Path)
	}
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	g := url.URL{Scheme: scheme, User: u.User, Host: hosts[0], RawQuery: q.Encode()}
	return goredis.ParseClusterURL(g.String())
}

// parseSentinel hands go-redis its failover URL, whose authority carries
// the sentinels' credentials and whose parameters the primary's.
func parseSentinel(u *url.URL, scheme string, hosts []string, q url.Values) (*goredis.FailoverOptions, error) {
	master := q.Get("master")
	if master == "" {
		return nil, fmt.Errorf("the sentinel form needs master=NAME, the primary's name in the sentinels")
	}
	q.Del("master")
	q.Set("master_name", master)
	if u.User != nil {
		q.Set("username", u.User.Username())
		if p, ok := u.User.Password(); ok {
			q.Set("password", p)
		}
	}
	var sentinelAuth *url.Userinfo
	if p := q.Get("sentinel_password"); p != "" {
		sentinelAuth = url.UserPassword(q.Get("sentinel_username"), p)
	}
	q.Del("sentinel_password")
	q.Del("sentinel_username")
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	g := url.URL{Scheme: scheme, User: sentinelAuth, Host: hosts[0], Path: u.Path, RawQuery: q.Encode()}
	return goredis.ParseFailoverURL(g.String())
}

// RouteClientLogs sends go-redis's own messages (its pool's dial failures,
// which repeat what the log's errors already say) to logger at debug level.
// go-redis has one logger per process, so the program's wiring calls this
// once.
func RouteClientLogs(logger *slog.Logger) { goredis.SetLogger(clientLogger{logger}) }

type clientLogger struct{ l *slog.Logger }

func (c clientLogger) Printf(ctx context.Context, format string, v ...any) {
	c.l.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

// client makes the go-redis client for s, with what the log needs of it:
// every call bounded by its context, and no call retried by the client (a
// retried append could append twice; a MOVED or failed call fails, and the
// caller, told the engine is unavailable, may try again). It also returns
// the addresses, for messages.
func (s Server) client(dialTimeout time.Duration) (goredis.UniversalClient, string, error) {
	// Concurrent publishers share one committer, but waiting tail readers
	// and replays each hold a connection.
	const poolSize = 128
	switch {
	case s.Single != nil:
		o := *s.Single
		o.ContextTimeoutEnabled, o.MaxRetries = true, -1
		o.PoolSize = cmp.Or(o.PoolSize, poolSize)
		o.DialTimeout = cmp.Or(o.DialTimeout, dialTimeout)
		return goredis.NewClient(&o), o.Addr, nil
	case s.Cluster != nil:
		o := *s.Cluster
		o.ContextTimeoutEnabled, o.MaxRetries, o.MaxRedirects = true, -1, -1
		o.PoolSize = cmp.Or(o.PoolSize, poolSize)
		o.DialTimeout = cmp.Or(o.DialTimeout, dialTimeout)
		return goredis.NewClusterClient(&o), strings.Join(o.Addrs, ","), nil
	case s.Sentinel != nil:
		o := *s.Sentinel
		o.ContextTimeoutEnabled, o.MaxRetries = true, -1
		o.PoolSize = cmp.Or(o.PoolSize, poolSize)
		o.DialTimeout = cmp.Or(o.DialTimeout, dialTimeout)
		return goredis.NewFailoverClient(&o), o.MasterName + " via " + strings.Join(o.SentinelAddrs, ","), nil
	}
	return nil, "", errors.New("redis: no server given")
}
