package publisher_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/publisher"
	"github.com/ssehub/ssehub/store/memory"
)

func TestPublishAndBatchAgainstARealHub(t *testing.T) {
	key := []byte("publisher-test-key")
	log := memory.New(memory.Options{})
	defer log.Close()
	h, err := hub.New(log, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(httpapi.New(h, httpapi.Options{Verifier: auth.NewVerifier(key)}))
	defer srv.Close()
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
