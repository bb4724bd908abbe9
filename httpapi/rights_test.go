package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/sse"
)

// sign makes an HS256 token with key, failing the test on error.
func sign(t *testing.T, key []byte, publish, subscribe []string) string {
	t.Helper()
	tok, err := auth.Sign(key, publish, subscribe, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// do sends a request and returns the status and the body.
func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// publishAs publishes body over HTTP with a bearer token and returns the
// event ids.
func publishAs(t *testing.T, srv *httptest.Server, token, body string) []string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/publish", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	code, resp := do(t, req)
	if code != http.StatusOK {
		t.Fatalf("publish %s: %d %s", body, code, resp)
	}
	var out struct {
		ID  string   `json:"id"`
		IDs []string `json:"ids"`
	}
	if err := json.Unmarshal([]byte(resp), &out); err != nil {
		t.Fatal(err)
	}
	if out.ID != "" {
		return []string{out.ID}
	}
	return out.IDs
}

// openStream opens GET path with the given headers and returns a parser of
// its events; the stream ends with the test or after a bound.
func openStream(t *testing.T, srv *httptest.Server, path string, header http.Header) *sse.Parser {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return sse.NewParser(resp.Body)
}

// dataUntil returns the data of the events p yields up to and including
// the one whose data is last.
func dataUntil(t *testing.T, p *sse.Parser, last string) []string {
	t.Helper()
	var got []string
	for {
		ev, err := p.Next()
		if err != nil {
			t.Fatalf("reading the stream: %v (after %q)", err, got)
		}
		got = append(got, ev.Data)
		if ev.Data == last {
			return got
		}
	}
}

// rightsCase is one reader: how it presents its token, and the private
// events it may see.
type rightsCase struct {
	name   string
	header http.Header
	query  string
	want   []string
}

// readers are the subscribers of the private-event tests. Events:
// "one" private to users/1, "two" private to users/2, "both" private to
// users/2 and users/1, "public" on news, then "end" on news.
func readers(t *testing.T) []rightsCase {
	user1 := sign(t, testKey, nil, []string{"users/1"})
	template := sign(t, testKey, nil, []string{"users/{id}"})
	all := []string{"one", "two", "both", "public", "end"}
	return []rightsCase{
		{"anonymous", nil, "", []string{"public", "end"}},
		{"users/1 by header", http.Header{"Authorization": {"Bearer " + user1}}, "", []string{"one", "both", "public", "end"}},
		{"users/1 by cookie", http.Header{"Cookie": {auth.CookieName + "=" + user1}}, "", []string{"one", "both", "public", "end"}},
		{"users/1 by query", nil, "&authorization=" + user1, []string{"one", "both", "public", "end"}},
		{"users/{id}", http.Header{"Authorization": {"Bearer " + template}}, "", all},
		{"a publisher token grants no reading", http.Header{"Authorization": {"Bearer " + sign(t, testKey, []string{"*"}, nil)}}, "", []string{"public", "end"}},
	}
}

const privateEvents = `[
	{"topic":"users/1","data":"one","private":true},
	{"topic":"users/2","data":"two","private":true},
	{"topics":["users/2","users/1"],"data":"both","private":true},
	{"topic":"news","data":"public"},
	{"topic":"news","data":"end"}]`

// TestPrivateEventsLive: a private event reaches, live, only the streams
// whose token allows one of its topics, however the token is presented.
func TestPrivateEventsLive(t *testing.T) {
	srv, h := newServer(t, Options{})
	cases := readers(t)
	streams := make([]*sse.Parser, len(cases))
	for i, tc := range cases {
		streams[i] = openStream(t, srv, "/events?topic=users/{id}&topic=news"+tc.query, tc.header)
	}
	eventually(t, "every stream to be registered", func() bool { return h.Stats().Subscribers == int64(len(cases)) })
	publishAs(t, srv, sign(t, testKey, []string{"*"}, nil), privateEvents)
	for i, tc := range cases {
		if got := dataUntil(t, streams[i], "end"); !slices.Equal(got, tc.want) {
			t.Errorf("%s received %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestPrivateEventsReplay: the same holds for events replayed after a
// Last-Event-ID, from the header and from the query.
func TestPrivateEventsReplay(t *testing.T) {
	srv, _ := newServer(t, Options{})
	pub := sign(t, testKey, []string{"*"}, nil)
	start := publishAs(t, srv, pub, `{"topic":"news","data":"before"}`)[0]
	publishAs(t, srv, pub, privateEvents)
	for _, tc := range readers(t) {
		header := http.Header{"Last-Event-ID": {start}}
		for k, v := range tc.header {
			header[k] = v
		}
		p := openStream(t, srv, "/events?topic=users/{id}&topic=news"+tc.query, header)
		if got := dataUntil(t, p, "end"); !slices.Equal(got, tc.want) {
			t.Errorf("%s replayed %q, want %q", tc.name, got, tc.want)
		}
		p = openStream(t, srv, "/events?topic=*&lastEventID="+start+tc.query, tc.header)
		if got := dataUntil(t, p, "end"); !slices.Equal(got, tc.want) {
			t.Errorf("%s replayed (topic *, lastEventID) %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestPrivateEventsHistory: and for GET /history.
func TestPrivateEventsHistory(t *testing.T) {
	srv, _ := newServer(t, Options{})
	publishAs(t, srv, sign(t, testKey, []string{"*"}, nil), privateEvents)
	for _, tc := range readers(t) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/history?topic=*"+tc.query, nil)
		for k, v := range tc.header {
			req.Header[k] = v
		}
		code, body := do(t, req)
		var page struct {
			Events []struct{ Data string } `json:"events"`
		}
		if err := json.Unmarshal([]byte(body), &page); code != http.StatusOK || err != nil {
			t.Fatalf("%s: %d %s", tc.name, code, body)
		}
		var got []string
		for _, ev := range page.Events {
			got = append(got, ev.Data)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: history %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestSubscriberTokensAreChecked: an invalid subscriber token is refused
// with 401 on every read path, not treated as anonymous.
func TestSubscriberTokensAreChecked(t *testing.T) {
	srv, _ := newServer(t, Options{})
	bad := sign(t, []byte("another key"), nil, []string{"*"})
	for _, path := range []string{"/events?topic=t", "/history?topic=t", "/events?topic=t&authorization=" + bad} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if !strings.Contains(path, "authorization=") {
			req.Header.Set("Authorization", "Bearer "+bad)
		}
		code, body := do(t, req)
		if code != http.StatusUnauthorized || !strings.Contains(body, `"error"`) {
			t.Errorf("GET %s with a token of another key: %d %s, want 401 with a JSON error", path, code, body)
		}
	}
}

// TestRefuseAnonymous: with anonymous readers refused, a subscriber or
// history reader without a valid token gets 401; one with a token (even
// one granting no private topic) reads.
func TestRefuseAnonymous(t *testing.T) {
	srv, _ := newServer(t, Options{RefuseAnonymous: true})
	for _, path := range []string{"/events?topic=t", "/history?topic=t"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		code, body := do(t, req)
		if code != http.StatusUnauthorized || !strings.Contains(body, `"error"`) {
			t.Errorf("anonymous GET %s: %d %s, want 401 with a JSON error", path, code, body)
		}
		req, _ = http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
		if code, _ := do(t, req); code != http.StatusUnauthorized {
			t.Errorf("GET %s with basic auth: %d, want 401", path, code)
		}
	}
	token := sign(t, testKey, nil, nil)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/history?topic=t", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if code, body := do(t, req); code != http.StatusOK {
		t.Errorf("GET /history with a token: %d %s", code, body)
	}
	openStream(t, srv, "/events?topic=t&authorization="+token, nil) // fails unless 200
}

// TestSeparatePublisherAndSubscriberKeys: each side's tokens are checked
// with its own verifier only.
func TestSeparatePublisherAndSubscriberKeys(t *testing.T) {
	pubKey, subKey := []byte("publisher key"), []byte("subscriber key")
	h := newHub(t)
	srv := httptest.NewServer(New(h, Options{
		Publishers:  auth.NewVerifier(pubKey),
		Subscribers: auth.NewVerifier(subKey),
	}))
	t.Cleanup(func() {
		h.Close()
		srv.Close()
	})
	post := func(key []byte) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/publish", strings.NewReader(`{"topic":"t","data":"x"}`))
		req.Header.Set("Authorization", "Bearer "+sign(t, key, []string{"*"}, nil))
		code, _ := do(t, req)
		return code
	}
	read := func(key []byte) int {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/history?topic=t", nil)
		req.Header.Set("Authorization", "Bearer "+sign(t, key, nil, []string{"*"}))
		code, _ := do(t, req)
		return code
	}
	for _, tc := range []struct {
		what string
		got  int
		want int
	}{
		{"publish with the publisher key", post(pubKey), http.StatusOK},
		{"publish with the subscriber key", post(subKey), http.StatusUnauthorized},
		{"read with the subscriber key", read(subKey), http.StatusOK},
		{"read with the publisher key", read(pubKey), http.StatusUnauthorized},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %d, want %d", tc.what, tc.got, tc.want)
		}
	}
}
