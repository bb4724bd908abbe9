package redis

import (
	"fmt"
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
