package redis

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/logtest"
	"github.com/ssehub/ssehub/internal/testserver"
	"github.com/ssehub/ssehub/store/internal/epoch"
)

// open opens a log on srv under a fresh stream name.
func open(t testing.TB, srv *testserver.Server, stream string, cfg logtest.Config) (*Log, error) {
	target, _, err := ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	return Open(context.Background(), target, Options{Stream: stream, Retention: cfg.Retention, Now: cfg.Now})
}

func TestConformance(t *testing.T) {
	srv := testserver.Redis(t, testserver.RedisOptions{AppendFsync: "always"})
	logtest.Run(t, logtest.Factory{
		Open: func(t *testing.T, cfg logtest.Config) (hub.Log, error) {
			return open(t, srv, "test-"+epoch.New(), cfg)
		},
		Reopen: func(t *testing.T, closed hub.Log, cfg logtest.Config) (hub.Log, error) {
			return open(t, srv, closed.(*Log).Stream(), cfg)
		},
		Share: func(t *testing.T, l hub.Log, cfg logtest.Config) (hub.Log, error) {
			return open(t, srv, l.(*Log).Stream(), cfg)
		},
		Wipe: func(t *testing.T, l hub.Log) {
			if err := l.(*Log).Client().FlushAll(t.Context()).Err(); err != nil {
				t.Fatalf("FLUSHALL: %v", err)
			}
		},
	})
}

func TestOpenFailsFastWithoutRedis(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, err = Open(t.Context(), Server{Single: &goredis.Options{Addr: addr}}, Options{Timeout: time.Second})
	if !errors.Is(err, hub.ErrUnavailable) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Open without Redis: %v; want an error wrapping ErrUnavailable that names %s", err, addr)
	}
}

func TestOpenWarnsWhenRedisMayLoseAcknowledgedEvents(t *testing.T) {
	for _, tc := range []struct {
		fsync string
		warns bool
	}{{"always", false}, {"everysec", true}, {"", true}} {
		t.Run("appendfsync="+tc.fsync, func(t *testing.T) {
			srv := testserver.Redis(t, testserver.RedisOptions{AppendFsync: tc.fsync})
			var logs bytes.Buffer
			target, _, _ := ParseURL(srv.URL())
			l, err := Open(t.Context(), target, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if got := strings.Contains(logs.String(), "appendfsync always"); got != tc.warns {
				t.Errorf("warned %v, want %v; logs: %s", got, tc.warns, logs.String())
			}
		})
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url, kind, addrs, stream string
		db                       int
		ok                       bool
	}{
		{"redis://127.0.0.1:6379/2?stream=news", "single", "127.0.0.1:6379", "news", 2, true},
		{"redis://user:secret@redis.internal:6380", "single", "redis.internal:6380", "", 0, true},
		{"redis://h:1/0?stream=a&dial_timeout=2s", "single", "h:1", "a", 0, true},
		{"redis://h:1/0?bogus=1", "", "", "", 0, false},
		{"http://h:1", "", "", "", 0, false},
		{"redis+cluster://user:secret@h1:7000,h2:7001,h3:7002/?stream=news", "cluster", "h1:7000 h2:7001 h3:7002", "news", 0, true},
		{"redis+cluster://h1:7000?stream=one-seed", "cluster", "h1:7000", "one-seed", 0, true},
		{"redis+cluster://h1:7000/3", "", "", "", 0, false}, // a cluster has one database
		{"redis+cluster://user:secret@h1:7000?bogus=1", "", "", "", 0, false},
		{"redis+sentinel://user:secret@s1:26379,s2:26379/1?master=main&stream=news", "sentinel", "s1:26379 s2:26379", "news", 1, true},
		{"redis+sentinel://user:secret@s1:26379", "", "", "", 0, false}, // no master
		{"redis+mesh://h:1", "", "", "", 0, false},
	} {
		srv, stream, err := ParseURL(tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("ParseURL(%q): %v, want ok %v", tc.url, err, tc.ok)
			continue
		}
		if err != nil {
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("ParseURL's error shows the password: %v", err)
			}
			continue
		}
		kind, addrs, db := "", "", 0
		switch {
		case srv.Single != nil:
			kind, addrs, db = "single", srv.Single.Addr, srv.Single.DB
		case srv.Cluster != nil:
			kind, addrs = "cluster", strings.Join(srv.Cluster.Addrs, " ")
		case srv.Sentinel != nil:
			kind, addrs, db = "sentinel", strings.Join(srv.Sentinel.SentinelAddrs, " "), srv.Sentinel.DB
		}
		if kind != tc.kind || addrs != tc.addrs || stream != tc.stream || db != tc.db {
			t.Errorf("ParseURL(%q) = %s %s db %d stream %q", tc.url, kind, addrs, db, stream)
		}
	}
	// Credentials go where each form needs them.
	srv, _, _ := ParseURL("redis+cluster://u:p@h1:7000")
	if srv.Cluster.Username != "u" || srv.Cluster.Password != "p" {
		t.Errorf("cluster credentials: %q %q", srv.Cluster.Username, srv.Cluster.Password)
	}
	srv, _, _ = ParseURL("redis+sentinel://u:p@s1:26379?master=main&sentinel_password=sp")
	if o := srv.Sentinel; o.Username != "u" || o.Password != "p" || o.SentinelPassword != "sp" || o.MasterName != "main" {
		t.Errorf("sentinel credentials: %q %q sentinel %q master %q", o.Username, o.Password, o.SentinelPassword, o.MasterName)
	}
}

func TestOpenRefusesBracesInTheStreamName(t *testing.T) {
	_, err := Open(t.Context(), Server{Single: &goredis.Options{Addr: "127.0.0.1:1"}}, Options{Stream: "a}b"})
	if err == nil || !strings.Contains(err.Error(), "braces") {
		t.Fatalf("Open with stream a}b: %v, want a refusal naming the braces", err)
	}
}

// The log passes the suite on a real Redis Cluster of three primaries: its
// keys share one hash tag, so its scripts and transactions run on one
// shard, and the client follows the cluster's slot map.
func TestConformanceOnACluster(t *testing.T) {
	cl := testserver.RedisCluster(t, 3, testserver.RedisOptions{AppendFsync: "always"})
	target, _, err := ParseURL(cl.URL())
	if err != nil {
		t.Fatal(err)
	}
	openOn := func(stream string, cfg logtest.Config) (*Log, error) {
		return Open(context.Background(), target, Options{Stream: stream, Retention: cfg.Retention, Now: cfg.Now})
	}
	logtest.Run(t, logtest.Factory{
		Open: func(t *testing.T, cfg logtest.Config) (hub.Log, error) {
			return openOn("test-"+epoch.New(), cfg)
		},
		Reopen: func(t *testing.T, closed hub.Log, cfg logtest.Config) (hub.Log, error) {
			return openOn(closed.(*Log).Stream(), cfg)
		},
		Share: func(t *testing.T, l hub.Log, cfg logtest.Config) (hub.Log, error) {
			return openOn(l.(*Log).Stream(), cfg)
		},
		Wipe: func(t *testing.T, l hub.Log) {
			// The log's own keys, wherever their shard is.
			if err := l.(*Log).Client().Del(t.Context(), l.(*Log).keys...).Err(); err != nil {
				t.Fatalf("DEL: %v", err)
			}
		},
	})
}

// The log passes the suite through Redis Sentinel: the client asks the
// sentinel for the primary and uses it.
func TestConformanceThroughSentinel(t *testing.T) {
	primary := testserver.Redis(t, testserver.RedisOptions{AppendFsync: "always"})
	sentinel := testserver.Sentinel(t, primary, "main")
	target, _, err := ParseURL("redis+sentinel://" + sentinel.Addr + "/0?master=main")
	if err != nil {
		t.Fatal(err)
	}
	openOn := func(stream string, cfg logtest.Config) (*Log, error) {
		return Open(context.Background(), target, Options{Stream: stream, Retention: cfg.Retention, Now: cfg.Now})
	}
	logtest.Run(t, logtest.Factory{
		Open: func(t *testing.T, cfg logtest.Config) (hub.Log, error) {
			return openOn("test-"+epoch.New(), cfg)
		},
		Reopen: func(t *testing.T, closed hub.Log, cfg logtest.Config) (hub.Log, error) {
			return openOn(closed.(*Log).Stream(), cfg)
		},
		Share: func(t *testing.T, l hub.Log, cfg logtest.Config) (hub.Log, error) {
			return openOn(l.(*Log).Stream(), cfg)
		},
		Wipe: func(t *testing.T, l hub.Log) {
			if err := l.(*Log).Client().FlushAll(t.Context()).Err(); err != nil {
				t.Fatalf("FLUSHALL: %v", err)
			}
		},
	})
	// The sentinel, not a guess, led the log to the primary.
	l, err := openOn("where-"+epoch.New(), logtest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append(t.Context(), []*hub.Event{{Data: "x"}}); err != nil {
		t.Fatal(err)
	}
	direct := goredis.NewClient(&goredis.Options{Addr: primary.Addr})
	defer direct.Close()
	if n, err := direct.XLen(t.Context(), l.keys[0]).Result(); err != nil || n != 1 {
		t.Errorf("the primary holds %d events (%v), want 1", n, err)
	}
}

func TestPassingStatesAreUnavailable(t *testing.T) {
	for reply, want := range map[string]bool{
		"MOVED 3999 127.0.0.1:6381": true, "CLUSTERDOWN The cluster is down": true,
		"READONLY You can't write against a read only replica.": true, "LOADING Redis is loading": true,
		"BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.": true,
		"WRONGTYPE Operation against a key": false, "ERR unknown command": false,
	} {
		if got := passing(reply); got != want {
			t.Errorf("passing(%q) = %v, want %v", reply, got, want)
		}
	}
}

// TestAnAppendWhileAScriptRunsIsUnavailable: another client's script that
// runs past busy-reply-threshold makes Redis answer BUSY to every other
// command; an append then fails as the engine being unavailable (503, try
// again), and works again once the script ends.
func TestAnAppendWhileAScriptRunsIsUnavailable(t *testing.T) {
	srv := testserver.Redis(t, testserver.RedisOptions{})
	l := openLog(t, srv, "busy-"+epoch.New(), logtest.Config{})
	appendData(t, l, "x", 1, 1)
	ctx := t.Context()
	other := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	defer other.Close()
	if err := other.ConfigSet(ctx, "busy-reply-threshold", "20").Err(); err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() {
		// The script only reads, so SCRIPT KILL ends it.
		ran <- other.Eval(context.Background(), `local s = tonumber(redis.call('TIME')[1])
while tonumber(redis.call('TIME')[1]) < s + 60 do end
return 1`, nil).Err()
	}()
	probe := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	defer probe.Close()
	eventually(t, "Redis to answer BUSY", func() bool {
		err := probe.Ping(ctx).Err()
		return err != nil && strings.HasPrefix(err.Error(), "BUSY")
	})
	err := l.Append(ctx, []*hub.Event{{Data: "while busy"}})
	if !errors.Is(err, hub.ErrUnavailable) {
		t.Errorf("Append while a script runs: %v, want ErrUnavailable", err)
	}
	if err := probe.ScriptKill(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := <-ran; err == nil {
		t.Fatal("the script was not killed")
	}
	if err := l.Append(ctx, []*hub.Event{{Data: "after"}}); err != nil {
		t.Fatalf("Append after the script ended: %v", err)
	}
}
