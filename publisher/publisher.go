// Package publisher is a Go client for the hub's HTTP publish API: POST
// /publish with a bearer token, over the network, knowing nothing of the
// hub's Go API. The command line (ssehub publish, ssehub bench) and the
// demo backends use it the way any other backend would. It depends only on
// the standard library.
package publisher

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Event is one event as POST /publish takes it.
type Event struct {
	Topic  string   `json:"topic,omitempty"`
	Topics []string `json:"topics,omitempty"`
	Type   string   `json:"type,omitempty"`
	// ID is the publisher's own id; empty lets the hub assign one.
	ID string `json:"id,omitempty"`
	// Data is sent as a JSON value: a string is delivered as its text,
	// anything else as compact JSON.
	Data any `json:"data"`
	// Retry is the reconnection delay in milliseconds sent with the event.
	Retry   int64 `json:"retry,omitempty"`
	Private bool  `json:"private,omitempty"`
}

// Client publishes events to one hub with one token.
type Client struct {
	url   string
	token string
	http  *http.Client
}

// New returns a client publishing to baseURL + "/publish" with token. A nil
// httpClient selects a client of its own, so that a publisher never shares
// connections with anything else, with a timeout so that a hub that does
// not answer cannot hold the caller forever. (When the program has replaced
// http.DefaultTransport with a RoundTripper of another kind, that one is
// used as it is.)
func New(baseURL, token string, httpClient *http.Client) *Client {
	if httpClient == nil {
		transport := http.DefaultTransport
		if t, ok := transport.(*http.Transport); ok {
			transport = t.Clone()
		}
		httpClient = &http.Client{Transport: transport, Timeout: 10 * time.Second}
	}
	return &Client{url: strings.TrimSuffix(baseURL, "/") + "/publish", token: token, http: httpClient}
}

// Error is a refusal by the hub.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("hub answered %d: %s", e.Status, e.Message)
}

// Publish sends ev and returns the id the hub gave it, once the hub holds
// the event durably.
func (c *Client) Publish(ctx context.Context, ev Event) (string, error) {
	var ans struct{ ID string }
	if err := c.post(ctx, ev, &ans); err != nil {
		return "", err
	}
	if ans.ID == "" {
		return "", fmt.Errorf("the hub's answer has no id")
	}
	return ans.ID, nil
}

// PublishBatch sends events in one request, appended all or nothing, and
// returns their ids in order.
func (c *Client) PublishBatch(ctx context.Context, events []Event) ([]string, error) {
	var ans struct{ IDs []string }
	if err := c.post(ctx, events, &ans); err != nil {
		return nil, err
	}
	if len(ans.IDs) != len(events) {
		return nil, fmt.Errorf("the hub answered %d ids for %d events", len(ans.IDs), len(events))
	}
	return ans.IDs, nil
}

// post sends body as JSON and decodes a 200 answer into answer; any other
// status becomes an *Error with the hub's message.
func (c *Client) post(ctx context.Context, body, answer any) error {
	payload, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("publishing to %s: %w", c.url, err)
	}
	defer resp.Body.Close()
	// The answer holds one id per event: the publisher's own, which the
	// request carries, or a short one the hub assigns. Bounding it by the
	// request's size lets a large batch's answer in whole, while a broken
	// hub still cannot make the client read without end.
	limit := 1<<20 + 4*int64(len(payload))
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("reading the hub's answer: %w", err)
	}
	truncated := int64(len(raw)) > limit
	if truncated {
		raw = raw[:limit]
	}
	if resp.StatusCode != http.StatusOK {
		var refusal struct{ Error string }
		if json.Unmarshal(raw, &refusal) != nil || refusal.Error == "" {
			refusal.Error = strings.TrimSpace(string(raw))
		}
		return &Error{Status: resp.StatusCode, Message: refusal.Error}
	}
	if truncated {
		return fmt.Errorf("the hub's answer is over %d bytes; the events may have been published", limit)
	}
	if err := json.Unmarshal(raw, answer); err != nil {
		return fmt.Errorf("the hub's answer is not JSON: %v", err)
	}
	return nil
}

// CloseIdle closes the client's idle connections.
func (c *Client) CloseIdle() { c.http.CloseIdleConnections() }
