package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ssehub/ssehub/publisher"
)

// benchProtocols are the APIs `ssehub bench --protocol` speaks.
var benchProtocols = []string{"ssehub", "mercure", "centrifugo"}

// Centrifugo's side of the load tool: streams are its unidirectional SSE
// transport, subscribed to one channel by the connect command in the URL,
// and publishes go through its server HTTP API, one event per request (the
// API's publish takes one channel and one payload). Channels live in the
// namespace "bench" (peers' configuration), so topic T is channel bench:T.
const (
	centrifugoNamespace = "bench"
	centrifugoAPIKey    = "X-API-Key"
)

func centrifugoChannel(c benchConfig) string { return centrifugoNamespace + ":" + c.Topic }

// centrifugoStreamURL subscribes with the connect command Centrifugo reads
// from the cf_connect query parameter.
func centrifugoStreamURL(c benchConfig) string {
	connect, _ := json.Marshal(map[string]any{"subs": map[string]any{centrifugoChannel(c): map[string]any{}}})
	return strings.TrimSuffix(c.URL, "/") + "/connection/uni_sse?" + url.Values{"cf_connect": {string(connect)}}.Encode()
}

// centrifugoPayload is the data of a bench publication: Centrifugo carries
// any JSON, and an object keeps the bench's text in one known field.
type centrifugoPayload struct {
	Bench string `json:"bench"`
}

// centrifugoPublisher publishes each event of a batch with one POST
// /api/publish; --token is the API key. Centrifugo answers 200 even when
// it refuses, with {"error": …} in the body, so the body is checked.
func centrifugoPublisher(c benchConfig, httpClient *http.Client) func(context.Context, []publisher.Event) ([]string, error) {
	endpoint := strings.TrimSuffix(c.URL, "/") + "/api/publish"
	channel := centrifugoChannel(c)
	return func(ctx context.Context, batch []publisher.Event) ([]string, error) {
		return nil, publishCentrifugo(ctx, c, httpClient, endpoint, channel, batch)
	}
}

// publishCentrifugo sends batch as one POST /api/publish per event.
func publishCentrifugo(ctx context.Context, c benchConfig, httpClient *http.Client, endpoint, channel string, batch []publisher.Event) error {
	for _, ev := range batch {
		data, _ := ev.Data.(string) // the load tool publishes strings
		body, _ := json.Marshal(struct {
			Channel string            `json:"channel"`
			Data    centrifugoPayload `json:"data"`
		}{channel, centrifugoPayload{data}})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(centrifugoAPIKey, c.Token)
		resp, err := httpClient.Do(req)
		if err != nil {
			return err
		}
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return err
		}
		if err := centrifugoAnswer(resp.StatusCode, raw); err != nil {
			return fmt.Errorf("publishing to %s: %w", endpoint, err)
		}
	}
	return nil
}

// centrifugoAnswer turns the API's answer into an error, if it is one.
func centrifugoAnswer(status int, raw []byte) error {
	if status != http.StatusOK {
		return fmt.Errorf("%d %s: %s", status, http.StatusText(status), bytes.TrimSpace(raw))
	}
	var ans struct {
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return fmt.Errorf("the answer is not JSON: %v", err)
	}
	if ans.Error != nil {
		return fmt.Errorf("error %d: %s", ans.Error.Code, ans.Error.Message)
	}
	return nil
}

// centrifugoUnwrap returns the bench text of one message of a Centrifugo
// stream, {"channel":…,"pub":{"data":{"bench":…}}}; other messages (the
// connect reply, pings) give "", which is no bench event.
func centrifugoUnwrap(data string) string {
	var msg struct {
		Pub *struct {
			Data centrifugoPayload `json:"data"`
		} `json:"pub"`
	}
	if json.Unmarshal([]byte(data), &msg) != nil || msg.Pub == nil {
		return ""
	}
	return msg.Pub.Data.Bench
}

// benchUnwrap is how a stream of the protocol carries the bench's text:
// as the event's data itself, or wrapped.
func benchUnwrap(c benchConfig) func(string) string {
	if c.Protocol == "centrifugo" {
		return centrifugoUnwrap
	}
	return nil
}

// benchHTTPClient is what the publishers share: it keeps one idle
// connection per publisher, so each one publishes over a keep-alive
// connection (net/http's default keeps two per host, and the other
// publishers would dial a new connection per request).
func benchHTTPClient(c benchConfig) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = c.Publishers
	t.MaxIdleConns = max(t.MaxIdleConns, c.Publishers)
	return &http.Client{Timeout: 30 * time.Second, Transport: t}
}

// publishTimes collects how long each publish request took, from every
// publisher.
type publishTimes struct {
	mu     sync.Mutex
	times  []time.Duration
	starts []int64 // when each timed request began, unix nanos
}

// timed wraps publish to record how long each call took, divided among
// the requests it made (one per event for the protocols without batches).
func (p *publishTimes) timed(c benchConfig, publish func(context.Context, []publisher.Event) ([]string, error)) func(context.Context, []publisher.Event) ([]string, error) {
	perCall := c.Protocol == "ssehub"
	return func(ctx context.Context, batch []publisher.Event) ([]string, error) {
		start := time.Now()
		ids, err := publish(ctx, batch)
		took := time.Since(start)
		if err != nil {
			return ids, err
		}
		p.mu.Lock()
		if perCall || len(batch) <= 1 {
			p.times = append(p.times, took)
			p.starts = append(p.starts, start.UnixNano())
		} else {
			for range batch {
				p.times = append(p.times, took/time.Duration(len(batch)))
				p.starts = append(p.starts, start.UnixNano())
			}
		}
		p.mu.Unlock()
		return ids, nil
	}
}

func (p *publishTimes) sorted() []time.Duration {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := slices.Clone(p.times)
	slices.Sort(out)
	return out
}

// between returns, sorted, the latencies of the requests that began in
// [from, to] (unix nanos).
func (p *publishTimes) between(from, to int64) []time.Duration {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []time.Duration
	for i, at := range p.starts {
		if at >= from && at <= to {
			out = append(out, p.times[i])
		}
	}
	slices.Sort(out)
	return out
}

func percentileOf(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(int(q*float64(len(sorted))), len(sorted)-1)]
}

// printPublishTimes reports the publish requests' own latency.
func printPublishTimes(w io.Writer, sorted []time.Duration) {
	if len(sorted) == 0 {
		return
	}
	fmt.Fprintf(w, "publish p50      %v\n", percentileOf(sorted, 0.50).Round(10*time.Microsecond))
	fmt.Fprintf(w, "publish p99      %v\n", percentileOf(sorted, 0.99).Round(10*time.Microsecond))
	fmt.Fprintf(w, "publish max      %v\n", percentileOf(sorted, 1).Round(10*time.Microsecond))
}

var errBenchProtocol = errors.New("ssehub bench: --protocol must be " + strings.Join(benchProtocols, ", "))
