package publisher_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/publisher"
	"github.com/ssehub/ssehub/store/memory"
)

// startHub serves a hub on the memory store with opts over loopback until
// the test ends.
func startHub(t *testing.T, opts httpapi.Options) (*hub.Hub, *httptest.Server) {
	t.Helper()
	log := memory.New(memory.Options{})
	t.Cleanup(func() { log.Close() })
	h, err := hub.New(log, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	srv := httptest.NewServer(httpapi.New(h, opts))
	t.Cleanup(srv.Close)
	return h, srv
}

func TestPublishAndBatchAgainstARealHub(t *testing.T) {
	key := []byte("publisher-test-key")
	h, srv := startHub(t, httpapi.Options{Verifier: auth.NewVerifier(key)})
	token, _ := auth.Sign(key, []string{"news"}, nil, 0)
	c := publisher.New(srv.URL, token, nil)
	defer c.CloseIdle()
	ctx := context.Background()

	if id, err := c.Publish(ctx, publisher.Event{Topic: "news", ID: "n1", Data: map[string]int{"a": 1}}); err != nil || id != "n1" {
		t.Fatalf("Publish = %q, %v", id, err)
	}
	ids, err := c.PublishBatch(ctx, []publisher.Event{{Topic: "news", Data: "b"}, {Topic: "news", Data: "c"}})
	if err != nil || len(ids) != 2 {
		t.Fatalf("PublishBatch = %v, %v", ids, err)
	}
	page, err := h.History(ctx, hub.HistoryRequest{Topics: []string{"news"}})
	if err != nil || len(page.Events) != 3 || page.Events[0].Data != `{"a":1}` || page.Events[2].ID != ids[1] {
		t.Fatalf("the hub holds %+v, %v", page.Events, err)
	}
	var refusal *publisher.Error
	if _, err := c.Publish(ctx, publisher.Event{Topic: "sports", Data: "x"}); !errors.As(err, &refusal) || refusal.Status != 403 || refusal.Message == "" {
		t.Fatalf("publishing outside the token's topics: %v, want a 403 *Error with the hub's message", err)
	}
}

// A hub configured for large batches answers with more ids than fit in a
// fixed 1 MiB: the whole answer must be read, or a batch the hub appended
// is reported as failed, and a caller that retries it publishes it twice.
func TestPublishBatchReadsAnAnswerOverOneMebibyte(t *testing.T) {
	key := []byte("publisher-test-key")
	_, srv := startHub(t, httpapi.Options{Verifier: auth.NewVerifier(key), MaxBatch: 5000})
	token, _ := auth.Sign(key, []string{"bulk"}, nil, 0)
	c := publisher.New(srv.URL, token, nil)
	defer c.CloseIdle()

	events := make([]publisher.Event, 5000)
	for i := range events {
		events[i] = publisher.Event{Topic: "bulk", ID: fmt.Sprintf("%0230d", i), Data: "x"}
	}
	ids, err := c.PublishBatch(context.Background(), events)
	if err != nil {
		t.Fatalf("PublishBatch of %d events with %d-byte ids: %v", len(events), len(events[0].ID), err)
	}
	if len(ids) != len(events) || ids[len(ids)-1] != events[len(events)-1].ID {
		t.Fatalf("PublishBatch answered %d ids, want the %d given", len(ids), len(events))
	}
}

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Programs often replace http.DefaultTransport (instrumentation, HTTP mocks
// in tests). New with a nil client must not panic then, and requests go
// through the replacement.
func TestNewWorksWhenDefaultTransportIsReplaced(t *testing.T) {
	saved := http.DefaultTransport
	t.Cleanup(func() { http.DefaultTransport = saved })
	var seen string
	http.DefaultTransport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = r.URL.String()
		return &http.Response{
			StatusCode: http.StatusOK,
			Header:     http.Header{"Content-Type": {"application/json"}},
			Body:       io.NopCloser(strings.NewReader(`{"id":"h-1"}`)),
		}, nil
	})

	c := publisher.New("http://hub.test/", "token", nil)
	id, err := c.Publish(context.Background(), publisher.Event{Topic: "news", Data: "x"})
	if err != nil || id != "h-1" {
		t.Fatalf("Publish = %q, %v; want h-1 through the replaced transport", id, err)
	}
	if seen != "http://hub.test/publish" {
		t.Errorf("request went to %q, want http://hub.test/publish", seen)
	}
}
