package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/sse"
	"github.com/ssehub/ssehub/store/memory"
)

// mercureServer serves a hub with the Mercure door until the test ends.
func mercureServer(t *testing.T, opts Options, m MercureOptions) (*httptest.Server, *hub.Hub) {
	t.Helper()
	if opts.Verifier == nil {
		opts.Verifier = auth.NewVerifier(testKey)
	}
	opts.Mercure = &m
	h := newHub(t)
	api := New(h, opts)
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		h.Close()
		srv.Close()
		_ = api.Drain(context.Background())
	})
	return srv, h
}

// mercureServerWithHub is mercureServer on a hub with its own options.
func mercureServerWithHub(t *testing.T, hopts hub.Options) (*httptest.Server, *hub.Hub) {
	t.Helper()
	log := memory.New(memory.Options{})
	h, err := hub.New(log, hopts)
	if err != nil {
		t.Fatal(err)
	}
	api := New(h, Options{Verifier: auth.NewVerifier(testKey), Mercure: &MercureOptions{}})
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		h.Close()
		srv.Close()
		_ = api.Drain(context.Background())
		log.Close()
	})
	return srv, h
}

// mercureToken signs a token with Mercure's claims.
func mercureToken(t *testing.T, key []byte, publish, subscribe []string, payload any) string {
	t.Helper()
	claims := jwt.MapClaims{"mercure": map[string]any{"publish": publish, "subscribe": subscribe, "payload": payload}}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// eventStream is a subscriber's parsed stream.
type eventStream struct {
	resp   *http.Response
	events chan sse.Event
}

// openStream sends req and parses the stream it answers, until the test ends.
func openEvents(t *testing.T, req *http.Request) *eventStream {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("GET %s: %d %s", req.URL, resp.StatusCode, body)
	}
	s := &eventStream{resp: resp, events: make(chan sse.Event, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.events)
		p := sse.NewParser(resp.Body)
		for {
			ev, err := p.Next()
			if err != nil {
				return
			}
			// The reconnection delay in force when the event arrived.
			ev.Retry, _ = p.Retry()
			s.events <- ev
		}
	}()
	t.Cleanup(func() {
		resp.Body.Close()
		<-done
	})
	return s
}

// subscribe opens a Mercure stream: query is the query string, token (if
// any) goes in the Authorization header.
func subscribe(t *testing.T, srv *httptest.Server, query, token string) *eventStream {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+MercurePath+"?"+query, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return openEvents(t, req)
}

func (s *eventStream) next(t *testing.T) sse.Event {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return sse.Event{}
}

// publishForm posts a form to the Mercure door and returns the status, the
// content type and the body.
func publishForm(t *testing.T, srv *httptest.Server, token string, form url.Values, header ...string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+MercurePath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
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
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

func mustPublish(t *testing.T, srv *httptest.Server, token string, form url.Values) string {
	t.Helper()
	status, ctype, body := publishForm(t, srv, token, form)
	if status != http.StatusOK || !strings.HasPrefix(ctype, "text/plain") {
		t.Fatalf("publish %v: %d %q %s", form, status, ctype, body)
	}
	return body
}

var allRights = []string{"*"}

func manyTopics(n int) []string {
	topics := make([]string, n)
	for i := range topics {
		topics[i] = fmt.Sprintf("topic/%d", i)
	}
	return topics
}

// TestMercureAndNativeDoorsShareOneHub: an event published on either door
// reaches the subscribers of both, with the same id and in order.
func TestMercureAndNativeDoorsShareOneHub(t *testing.T) {
	srv, _ := mercureServer(t, Options{}, MercureOptions{})
	pub := mercureToken(t, testKey, allRights, nil, nil)
	viaMercure := subscribe(t, srv, "topic="+url.QueryEscape("https://example.com/books/{id}"), "")
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/events?topic="+url.QueryEscape("https://example.com/books/1"), nil)
	native := openEvents(t, req)

	id := mustPublish(t, srv, pub, url.Values{"topic": {"https://example.com/books/1"}, "data": {"from mercure"},
		"id": {"urn:uuid:0b1c2f3e-1111-4222-8333-444455556666"}})
	if id != "urn:uuid:0b1c2f3e-1111-4222-8333-444455556666" {
		t.Fatalf("publish answered %q, want the publisher's id kept", id)
	}
	nreq, _ := http.NewRequest(http.MethodPost, srv.URL+"/publish", strings.NewReader(`{"topic":"https://example.com/books/1","data":"from native"}`))
	nreq.Header.Set("Authorization", "Bearer "+pub)
	resp, err := http.DefaultClient.Do(nreq)
	if err != nil {
		t.Fatal(err)
	}
	var ack struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&ack)
	resp.Body.Close()
	for name, s := range map[string]*eventStream{"mercure": viaMercure, "native": native} {
		if ev := s.next(t); ev.ID != id || ev.Data != "from mercure" {
			t.Errorf("%s subscriber got %q %q first, want %q", name, ev.ID, ev.Data, id)
		}
		if ev := s.next(t); ev.ID != ack.ID || ev.Data != "from native" {
			t.Errorf("%s subscriber got %q %q second, want %q", name, ev.ID, ev.Data, ack.ID)
		}
	}
}

func TestMercurePublishAnswers(t *testing.T) {
	srv, _ := mercureServer(t, Options{}, MercureOptions{})
	pub := mercureToken(t, testKey, allRights, nil, nil)
	booksOnly := mercureToken(t, testKey, []string{"https://example.com/books/{id}"}, nil, nil)
	subOnly := mercureToken(t, testKey, nil, allRights, nil)
	mustPublish(t, srv, pub, url.Values{"topic": {"t"}, "id": {"taken"}})
	for _, tc := range []struct {
		name   string
		token  string
		form   url.Values
		status int
	}{
		{"no topic", pub, url.Values{"data": {"x"}}, http.StatusBadRequest},
		{"id with LF", pub, url.Values{"topic": {"t"}, "id": {"a\nevent: evil"}}, http.StatusBadRequest},
		{"id with CR", pub, url.Values{"topic": {"t"}, "id": {"a\rb"}}, http.StatusBadRequest},
		{"id with NUL", pub, url.Values{"topic": {"t"}, "id": {"a\x00b"}}, http.StatusBadRequest},
		{"type with LF", pub, url.Values{"topic": {"t"}, "type": {"a\ndata: evil"}}, http.StatusBadRequest},
		{"65 topics", pub, url.Values{"topic": manyTopics(65)}, http.StatusRequestEntityTooLarge},
		{"64 topics", pub, url.Values{"topic": manyTopics(64)}, http.StatusOK},
		{"type not UTF-8", pub, url.Values{"topic": {"t"}, "type": {"\x84"}}, http.StatusBadRequest},
		{"retry not a number", pub, url.Values{"topic": {"t"}, "retry": {"soon"}}, http.StatusBadRequest},
		{"negative retry", pub, url.Values{"topic": {"t"}, "retry": {"-1"}}, http.StatusBadRequest},
		{"reserved topic", pub, url.Values{"topic": {"/.well-known/mercure/subscriptions/x/y"}}, http.StatusForbidden},
		{"no token", "", url.Values{"topic": {"t"}}, http.StatusUnauthorized},
		{"bad token", "not-a-jwt", url.Values{"topic": {"t"}}, http.StatusUnauthorized},
		{"no publish claim", subOnly, url.Values{"topic": {"t"}}, http.StatusUnauthorized},
		{"topic not allowed", booksOnly, url.Values{"topic": {"https://example.com/users/1"}}, http.StatusUnauthorized},
		{"one of two topics not allowed", booksOnly, url.Values{"topic": {"https://example.com/books/1", "https://example.com/users/1"}}, http.StatusUnauthorized},
		{"allowed by template", booksOnly, url.Values{"topic": {"https://example.com/books/1"}}, http.StatusOK},
		{"duplicate id", pub, url.Values{"topic": {"t"}, "id": {"taken"}}, http.StatusConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, ctype, body := publishForm(t, srv, tc.token, tc.form)
			if status != tc.status {
				t.Fatalf("status %d (%s), want %d", status, body, tc.status)
			}
			if status != http.StatusOK && !strings.HasPrefix(ctype, "application/json") {
				t.Errorf("error answered as %q: %s", ctype, body)
			}
		})
	}
}

// TestMercurePublishFields: alternates, type, retry and private arrive as
// the form said.
func TestMercurePublishFields(t *testing.T) {
	srv, _ := mercureServer(t, Options{}, MercureOptions{})
	pub := mercureToken(t, testKey, allRights, nil, nil)
	reader := mercureToken(t, testKey, nil, []string{"alternate"}, nil)
	s := subscribe(t, srv, "topic=alternate", reader)
	mustPublish(t, srv, pub, url.Values{"topic": {"canonical", "alternate"}, "data": {"line one\nline two"},
		"type": {"note"}, "retry": {"2500"}, "private": {""}})
	ev := s.next(t)
	if ev.Type != "note" || ev.Data != "line one\nline two" {
		t.Fatalf("got type %q data %q", ev.Type, ev.Data)
	}
	if ev.Retry != 2500*time.Millisecond {
		t.Errorf("retry %v, want 2.5s", ev.Retry)
	}
}

// TestMercureClientLibraryBody publishes the exact body the Symfony
// Mercure component sends: repeated topic fields, urlencode'd values
// (spaces as +), private=on, then id, type and retry.
func TestMercureClientLibraryBody(t *testing.T) {
	srv, _ := mercureServer(t, Options{}, MercureOptions{})
	reader := mercureToken(t, testKey, nil, []string{"https://example.com/users/dunglas"}, nil)
	s := subscribe(t, srv, "topic="+url.QueryEscape("https://example.com/users/dunglas"), reader)
	body := "topic=https%3A%2F%2Fexample.com%2Fbooks%2F1&topic=https%3A%2F%2Fexample.com%2Fusers%2Fdunglas" +
		"&data=%7B%22status%22%3A+%22OutOfStock%22%7D&private=on&id=urn%3Auuid%3A8d3e9f1a-0c1b-4e2d-9f3a-5b6c7d8e9f00" +
		"&type=book.updated&retry=1000"
	req, _ := http.NewRequest(http.MethodPost, srv.URL+MercurePath, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+mercureToken(t, testKey, allRights, nil, nil))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(got) != "urn:uuid:8d3e9f1a-0c1b-4e2d-9f3a-5b6c7d8e9f00" {
		t.Fatalf("publish: %d %q", resp.StatusCode, got)
	}
	ev := s.next(t)
	if ev.ID != string(got) || ev.Type != "book.updated" || ev.Data != `{"status": "OutOfStock"}` {
		t.Fatalf("received %+v", ev)
	}
}

// TestMercureTokenSources: a subscriber's token may come from the
// Authorization header, the authorization query parameter or the cookie;
// a bad one is refused wherever it is.
func TestMercureTokenSources(t *testing.T) {
	srv, _ := mercureServer(t, Options{RefuseAnonymous: true}, MercureOptions{})
	pub := mercureToken(t, testKey, allRights, nil, nil)
	reader := mercureToken(t, testKey, nil, []string{"secret"}, nil)
	forged := mercureToken(t, []byte("another key"), nil, allRights, nil)
	open := func(token string, where string) *http.Request {
		q := "topic=secret"
		if where == "query" {
			q += "&authorization=" + token
		}
		req, _ := http.NewRequest(http.MethodGet, srv.URL+MercurePath+"?"+q, nil)
		switch where {
		case "header":
			req.Header.Set("Authorization", "Bearer "+token)
		case "cookie":
			req.AddCookie(&http.Cookie{Name: "mercureAuthorization", Value: token})
		}
		return req
	}
	for _, where := range []string{"header", "query", "cookie"} {
		t.Run(where, func(t *testing.T) {
			s := openEvents(t, open(reader, where))
			id := mustPublish(t, srv, pub, url.Values{"topic": {"secret"}, "data": {where}, "private": {"on"}})
			if ev := s.next(t); ev.ID != id {
				t.Fatalf("got %q, want the private event %q", ev.ID, id)
			}
			resp, err := http.DefaultClient.Do(open(forged, where))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("a token signed with another key: %d, want 401", resp.StatusCode)
			}
		})
	}
	resp, err := http.Get(srv.URL + MercurePath + "?topic=secret")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous with anonymous off: %d, want 401", resp.StatusCode)
	}
	// Another scheme is a bad token, never a fall-back to anonymous or
	// to the cookie.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+MercurePath+"?topic=secret", nil)
	req.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
	req.AddCookie(&http.Cookie{Name: "mercureAuthorization", Value: reader})
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("Basic authorization: %d, want 401", resp.StatusCode)
	}
}

// FuzzMercurePublishForm: whatever form a publisher sends, an update the
// door and the hub accept reaches subscribers as exactly one event with
// the id and type it was given: no field or event can be injected.
func FuzzMercurePublishForm(f *testing.F) {
	for _, s := range []string{
		"topic=t&data=x", "topic=a&topic=b&data=x&private=on&id=urn%3Auuid%3A1&type=note&retry=10",
		"topic=t&id=a%0Adata:%20evil", "topic=t&type=a%0D%0Aevent:%20x", "topic=t&data=a%0D%0A%0D%0Adata:%20b",
		"topic=t&retry=99999999999999999999", "data=%ZZ", "topic=/.well-known/mercure/subscriptions/a/b",
	} {
		f.Add(s)
	}
	a := &API{opts: Options{}}
	a.opts.setDefaults()
	m := newMercure(a, MercureOptions{})
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		ev, _, err := m.update(form)
		if err != nil || ev.Validate(hub.DefaultLimit) != nil {
			return
		}
		if ev.Retry < 0 {
			t.Fatalf("accepted a negative retry from %q", body)
		}
		frame, err := (&sse.Event{ID: ev.ID, Type: ev.Type, Data: ev.Data}).AppendTo(nil)
		if err != nil {
			t.Fatalf("the hub accepted what cannot be encoded: %v", err)
		}
		p := sse.NewParser(strings.NewReader(string(frame)))
		got, err := p.Next()
		if err != nil {
			return // empty data: nothing is dispatched, nothing injected
		}
		wantType := ev.Type
		if wantType == "" {
			wantType = "message" // what EventSource calls an untyped event
		}
		if got.ID != ev.ID || got.Type != wantType {
			t.Fatalf("sent id %q type %q, received id %q type %q", ev.ID, ev.Type, got.ID, got.Type)
		}
		if extra, err := p.Next(); err == nil {
			t.Fatalf("one update became two events: %+v", extra)
		}
	})
}

// TestMercurePublishLimits: the Mercure door keeps the API's limits, and
// answers them as the native door does.
func TestMercurePublishLimits(t *testing.T) {
	srv, _ := mercureServer(t, Options{MaxDataBytes: 8, MaxBodyBytes: 256}, MercureOptions{})
	pub := mercureToken(t, testKey, allRights, nil, nil)
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
	}{
		{"data within the limit", url.Values{"topic": {"t"}, "data": {"12345678"}}, http.StatusOK},
		{"data over the limit", url.Values{"topic": {"t"}, "data": {"123456789"}}, http.StatusRequestEntityTooLarge},
		{"body over the limit", url.Values{"topic": {"t"}, "id": {strings.Repeat("x", 300)}}, http.StatusRequestEntityTooLarge},
	} {
		if status, _, body := publishForm(t, srv, pub, tc.form); status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, status, body, tc.status)
		}
	}
	// Only a form body is read, as by Mercure: JSON carries no topic here.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+MercurePath, strings.NewReader(`{"topic":"t"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+pub)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a JSON body: %d, want 400", resp.StatusCode)
	}
}
