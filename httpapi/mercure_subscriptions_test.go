package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// getJSONLD fetches a subscriptions API document with token.
func getJSONLD(t *testing.T, srv *httptest.Server, path, token string, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

// TestMercureSubscriptions: a subscriber joining and leaving is announced
// to those allowed to watch subscriptions, and the subscriptions API lists
// who listens to what, with Mercure's authorization rules.
func TestMercureSubscriptions(t *testing.T) {
	srv, _ := mercureServer(t, Options{}, MercureOptions{Subscriptions: true})
	watcher := mercureToken(t, testKey, nil, []string{"/.well-known/mercure/subscriptions{/topic}{/subscriber}"}, nil)
	watch := subscribe(t, srv, "topic="+url.QueryEscape("/.well-known/mercure/subscriptions{/topic}{/subscriber}"), watcher)
	bystander := subscribe(t, srv, "topic=*", "") // anonymous: sees no subscription event

	const book = "https://example.com/books/1"
	reader := mercureToken(t, testKey, nil, []string{book}, map[string]string{"user": "alice"})
	req, _ := http.NewRequest(http.MethodGet, srv.URL+MercurePath+"?topic="+url.QueryEscape(book), nil)
	req.Header.Set("Authorization", "Bearer "+reader)
	joined := openEvents(t, req)

	// The watcher is told of its own subscription first, then of the
	// bystander's and the reader's: each is announced before its stream
	// opens.
	var own, other, sub subscription
	var afterOther string
	for _, s := range []*subscription{&own, &other, &sub} {
		ev := watch.next(t)
		if err := json.Unmarshal([]byte(ev.Data), s); err != nil {
			t.Fatalf("subscription event %q: %v", ev.Data, err)
		}
		if s == &other {
			afterOther = ev.ID
		}
	}
	if own.Payload != nil || !own.Active || own.Topic != "/.well-known/mercure/subscriptions{/topic}{/subscriber}" {
		t.Errorf("the watcher's own subscription event: %+v", own)
	}
	if other.Topic != "*" || !other.Active {
		t.Errorf("the bystander's subscription event: %+v", other)
	}
	wantID := MercurePath + "/subscriptions/" + url.QueryEscape(book) + "/" + url.QueryEscape(sub.Subscriber)
	if !sub.Active || sub.Topic != book || sub.Type != "Subscription" || sub.ID != wantID ||
		sub.Context != jsonLDContext || !strings.HasPrefix(sub.Subscriber, "urn:uuid:") || compact(sub.Payload) != `{"user":"alice"}` {
		t.Fatalf("subscription event %+v", sub)
	}

	// The API: the token must allow the request's own URL.
	for _, path := range []string{MercurePath + "/subscriptions", MercurePath + "/subscriptions/" + url.QueryEscape(book)} {
		if status, _, _ := getJSONLD(t, srv, path, ""); status != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: %d, want 401", path, status)
		}
		if status, _, _ := getJSONLD(t, srv, path, reader); status != http.StatusUnauthorized {
			t.Errorf("GET %s with a token not allowing it: %d, want 401", path, status)
		}
		status, h, body := getJSONLD(t, srv, path, watcher)
		var c subscriptionCollection
		if err := json.Unmarshal(body, &c); status != http.StatusOK || err != nil || h.Get("Content-Type") != "application/ld+json" {
			t.Fatalf("GET %s: %d %q %s", path, status, h.Get("Content-Type"), body)
		}
		found := false
		for _, s := range c.Subscriptions {
			found = found || (s.Subscriber == sub.Subscriber && s.Topic == book && s.Active)
		}
		if c.Context != jsonLDContext || c.Type != "Subscriptions" || c.ID != path || c.LastEventID == "" || !found {
			t.Errorf("GET %s: %s", path, body)
		}
		if status, _, _ := getJSONLD(t, srv, path, watcher, "If-None-Match", h.Get("ETag")); status != http.StatusNotModified {
			t.Errorf("GET %s with the ETag: %d, want 304", path, status)
		}
	}
	status, _, body := getJSONLD(t, srv, wantID, watcher)
	var one subscription
	if err := json.Unmarshal(body, &one); status != http.StatusOK || err != nil || one.Subscriber != sub.Subscriber || one.LastEventID == "" {
		t.Errorf("GET %s: %d %s", wantID, status, body)
	}
	if status, _, _ := getJSONLD(t, srv, MercurePath+"/subscriptions/"+url.QueryEscape(book)+"/urn%3Auuid%3Anobody", watcher); status != http.StatusNotFound {
		t.Errorf("an unknown subscriber: %d, want 404", status)
	}

	// Leaving is announced too.
	joined.resp.Body.Close()
	ev := watch.next(t)
	var left subscription
	if err := json.Unmarshal([]byte(ev.Data), &left); err != nil || left.Active || left.Subscriber != sub.Subscriber {
		t.Fatalf("departure event %s", ev.Data)
	}
	// Subscription events are in the log: a watcher resuming after the
	// bystander's arrival replays the reader's arrival and departure.
	req, _ = http.NewRequest(http.MethodGet, srv.URL+MercurePath+"?topic="+
		url.QueryEscape("/.well-known/mercure/subscriptions{/topic}{/subscriber}")+"&lastEventID="+url.QueryEscape(afterOther), nil)
	req.Header.Set("Authorization", "Bearer "+watcher)
	again := openEvents(t, req)
	for _, active := range []bool{true, false} {
		var s subscription
		if ev := again.next(t); json.Unmarshal([]byte(ev.Data), &s) != nil || s.Subscriber != sub.Subscriber || s.Active != active {
			t.Fatalf("replayed %s, want the reader with active %v", ev.Data, active)
		}
	}
	// The anonymous "*" subscriber was told of neither: the next event it
	// gets is this public one.
	id := mustPublish(t, srv, mercureToken(t, testKey, allRights, nil, nil), url.Values{"topic": {"news"}, "data": {"x"}})
	if ev := bystander.next(t); ev.ID != id {
		t.Fatalf("anonymous subscriber got %q (%s), want only %q", ev.ID, ev.Data, id)
	}
}

func compact(raw []byte) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}
