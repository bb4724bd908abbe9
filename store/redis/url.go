package redis

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"

	goredis "github.com/redis/go-redis/v9"
)

// ParseURL reads a redis:// or rediss:// URL, as
// redis://[user:pass@]host:port/db?stream=NAME. The stream parameter names
// the log (Options.Stream); every other parameter is go-redis's own (for
// example dial_timeout, pool_size).
func ParseURL(raw string) (*goredis.Options, string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", fmt.Errorf("redis URL: %w", err)
	}
	q := u.Query()
	stream := q.Get("stream")
	q.Del("stream")
	u.RawQuery = q.Encode()
	opts, err := goredis.ParseURL(u.String())
	if err != nil {
		return nil, "", fmt.Errorf("redis URL %s: %w", u.Redacted(), err)
	}
	return opts, stream, nil
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
