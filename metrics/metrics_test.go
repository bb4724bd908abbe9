package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
)

func TestScrapeShowsHubFigures(t *testing.T) {
	log := memory.New(memory.Options{})
	defer log.Close()
	h, err := hub.New(log, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	sub, err := h.Subscribe(context.Background(), hub.SubscribeRequest{Topics: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, err := h.Publish(context.Background(), hub.Event{Topics: []string{"t"}, Data: "a"}, hub.Event{Topics: []string{"t"}, Data: "b"}); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	Handler(h).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		"ssehub_published_events_total 2",
		"ssehub_subscribers 1",
		"ssehub_log_last_seq 2",
		"ssehub_log_events 2",
		"go_goroutines ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}
