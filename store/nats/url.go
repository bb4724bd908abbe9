package nats

import (
	"fmt"
	"net/url"
	"regexp"
)

// streamName is what a stream may be called: it becomes part of a
// JetStream stream name and of a subject.
var streamName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ParseURL reads nats://[user:pass@]host:port[?stream=NAME]: the server
// URL for the client, and the stream parameter (Options.Stream).
func ParseURL(raw string) (server, stream string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("nats URL: %w", err)
	}
	if u.Scheme != "nats" && u.Scheme != "tls" || u.Host == "" {
		return "", "", fmt.Errorf("nats URL %s: want nats://HOST:PORT[?stream=NAME]", u.Redacted())
	}
	q := u.Query()
	stream = q.Get("stream")
	if stream != "" && !streamName.MatchString(stream) {
		return "", "", fmt.Errorf("nats URL: stream %q: use 1 to 64 letters, digits, _ or -", stream)
	}
	q.Del("stream")
	if len(q) > 0 {
		return "", "", fmt.Errorf("nats URL %s: unknown parameters", u.Redacted())
	}
	u.RawQuery = ""
	return u.String(), stream, nil
}
