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
	ropts, _, err := ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	return Open(context.Background(), ropts, Options{Stream: stream, Retention: cfg.Retention, Now: cfg.Now})
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
	_, err = Open(t.Context(), &goredis.Options{Addr: addr}, Options{Timeout: time.Second})
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
			ropts, _, _ := ParseURL(srv.URL())
			l, err := Open(t.Context(), ropts, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
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
		url, addr, stream string
		db                int
		ok                bool
	}{
		{"redis://127.0.0.1:6379/2?stream=news", "127.0.0.1:6379", "news", 2, true},
		{"redis://user:secret@redis.internal:6380", "redis.internal:6380", "", 0, true},
		{"redis://h:1/0?stream=a&dial_timeout=2s", "h:1", "a", 0, true},
		{"redis://h:1/0?bogus=1", "", "", 0, false},
		{"http://h:1", "", "", 0, false},
	} {
		opts, stream, err := ParseURL(tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("ParseURL(%q): %v, want ok %v", tc.url, err, tc.ok)
			continue
		}
		if err == nil && (opts.Addr != tc.addr || stream != tc.stream || opts.DB != tc.db) {
			t.Errorf("ParseURL(%q) = %s db %d stream %q", tc.url, opts.Addr, opts.DB, stream)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseURL's error shows the password: %v", err)
		}
	}
}
