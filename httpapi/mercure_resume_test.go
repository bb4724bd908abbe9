package httpapi

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/hub"
)

// TestMercurePrivateUpdates: a private update reaches only subscribers
// whose token allows one of its topics, live and in replay. Each check
// ends with a public update the subscriber must see next, so "not
// received" is proved by order, not by waiting.
func TestMercurePrivateUpdates(t *testing.T) {
	srv, _ := mercureServer(t, Options{}, MercureOptions{})
	pub := mercureToken(t, testKey, allRights, nil, nil)
	reader := mercureToken(t, testKey, nil, []string{"https://example.com/users/{name}"}, nil)
	other := mercureToken(t, testKey, nil, []string{"https://example.com/users/bob"}, nil)
	topic := "topic=" + url.QueryEscape("https://example.com/users/alice")
	anon := subscribe(t, srv, topic, "")
	allowed := subscribe(t, srv, topic, reader)
	denied := subscribe(t, srv, topic, other)
	first := mustPublish(t, srv, pub, url.Values{"topic": {"https://example.com/users/alice"}, "data": {"before"}})
	private := mustPublish(t, srv, pub, url.Values{"topic": {"https://example.com/users/alice"}, "data": {"secret"}, "private": {"on"}})
	public := mustPublish(t, srv, pub, url.Values{"topic": {"https://example.com/users/alice"}, "data": {"public"}})
	check := func(name string, s *eventStream, want ...string) {
		t.Helper()
		for _, id := range want {
			if ev := s.next(t); ev.ID != id {
				t.Errorf("%s: got %q (%q), want %q", name, ev.ID, ev.Data, id)
			}
		}
	}
	for _, s := range []*eventStream{anon, allowed, denied} {
		s.next(t) // "before"
	}
	check("live, anonymous", anon, public)
	check("live, allowed", allowed, private, public)
	check("live, other user's token", denied, public)

	resume := topic + "&lastEventID=" + url.QueryEscape(first)
	check("replay, anonymous", subscribe(t, srv, resume, ""), public)
	check("replay, allowed", subscribe(t, srv, resume, reader), private, public)
	check("replay, other user's token", subscribe(t, srv, resume, other), public)
}

// TestMercureResume: the Last-Event-ID header, the lastEventID query
// parameter (the header wins) and earliest, with the Last-Event-ID
// response header a resuming subscriber is owed.
func TestMercureResume(t *testing.T) {
	srv, _ := mercureServer(t, Options{}, MercureOptions{})
	pub := mercureToken(t, testKey, allRights, nil, nil)
	var ids []string
	for _, d := range []string{"one", "two", "three"} {
		ids = append(ids, mustPublish(t, srv, pub, url.Values{"topic": {"t"}, "data": {d}, "id": {"urn:uuid:" + d}}))
	}
	get := func(query, header string) *eventStream {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+MercurePath+"?topic=t"+query, nil)
		if header != "" {
			req.Header.Set("Last-Event-ID", header)
		}
		return openEvents(t, req)
	}
	for _, tc := range []struct {
		name, query, header string
		wantHeader          string
		want                []string
	}{
		{"header", "", ids[0], ids[0], ids[1:]},
		{"query", "&lastEventID=" + url.QueryEscape(ids[1]), "", ids[1], ids[2:]},
		{"header wins", "&lastEventID=" + url.QueryEscape(ids[0]), ids[1], ids[1], ids[2:]},
		{"earliest", "&lastEventID=earliest", "", "earliest", ids},
		{"earliest as header", "", "earliest", "earliest", ids},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := get(tc.query, tc.header)
			if got := s.resp.Header.Get("Last-Event-ID"); got != tc.wantHeader {
				t.Errorf("Last-Event-ID response header %q, want %q", got, tc.wantHeader)
			}
			for _, id := range tc.want {
				if ev := s.next(t); ev.ID != id {
					t.Fatalf("got %q, want %q", ev.ID, id)
				}
			}
		})
	}
	t.Run("no id, no header", func(t *testing.T) {
		s := get("", "")
		if _, ok := s.resp.Header["Last-Event-Id"]; ok {
			t.Errorf("Last-Event-ID header %q on a stream that did not resume", s.resp.Header.Get("Last-Event-ID"))
		}
	})
	t.Run("unknown id", func(t *testing.T) {
		s := get("", "urn:uuid:never-published")
		ev := s.next(t)
		if ev.Type != hub.ResetType {
			t.Fatalf("first event %q, want %s", ev.Type, hub.ResetType)
		}
		// The header names the position the stream continues from, the
		// reset event's id.
		if got := s.resp.Header.Get("Last-Event-ID"); got != ev.ID {
			t.Errorf("Last-Event-ID header %q, want %q", got, ev.ID)
		}
		next := mustPublish(t, srv, pub, url.Values{"topic": {"t"}, "data": {"four"}})
		if ev := s.next(t); ev.ID != next {
			t.Fatalf("after the reset: %q, want %q", ev.ID, next)
		}
	})
	t.Run("earliest on an empty log", func(t *testing.T) {
		srv, _ := mercureServer(t, Options{}, MercureOptions{})
		req, _ := http.NewRequest(http.MethodGet, srv.URL+MercurePath+"?topic=t&lastEventID=earliest", nil)
		s := openEvents(t, req)
		id := mustPublish(t, srv, pub, url.Values{"topic": {"t"}, "data": {"first"}})
		if ev := s.next(t); ev.ID != id || ev.Type == hub.ResetType {
			t.Fatalf("got %+v, want %q and no reset", ev, id)
		}
	})
	t.Run("65 selectors", func(t *testing.T) {
		resp, err := http.Get(srv.URL + MercurePath + "?topic=" + strings.Join(manyTopics(65), "&topic="))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestURITooLong {
			t.Fatalf("status %d, want 414", resp.StatusCode)
		}
	})
	t.Run("injected id", func(t *testing.T) {
		resp, err := http.Get(srv.URL + MercurePath + "?topic=t&lastEventID=a%0Adata:%20evil")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", resp.StatusCode)
		}
	})
}

// TestMercureSeparateKeys: with a key per side, as Mercure's publisher_jwt
// and subscriber_jwt configure them, a publisher token is checked with the
// publisher key only and a subscriber token with the subscriber key only.
func TestMercureSeparateKeys(t *testing.T) {
	pubKey, subKey := []byte("publisher key"), []byte("subscriber key")
	srv, _ := mercureServer(t, Options{Publishers: auth.NewVerifier(pubKey), Subscribers: auth.NewVerifier(subKey)},
		MercureOptions{})
	form := url.Values{"topic": {"t"}, "data": {"x"}}
	for _, tc := range []struct {
		name   string
		key    []byte
		status int
	}{
		{"publisher key", pubKey, http.StatusOK},
		{"subscriber key", subKey, http.StatusUnauthorized},
		{"the native key", testKey, http.StatusUnauthorized},
	} {
		if status, _, body := publishForm(t, srv, mercureToken(t, tc.key, allRights, nil, nil), form); status != tc.status {
			t.Errorf("publish signed with the %s: %d %s, want %d", tc.name, status, body, tc.status)
		}
		req, _ := http.NewRequest(http.MethodGet, srv.URL+MercurePath+"?topic=t", nil)
		req.Header.Set("Authorization", "Bearer "+mercureToken(t, tc.key, nil, allRights, nil))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusUnauthorized
		if tc.name == "subscriber key" {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Errorf("subscribe signed with the %s: %d, want %d", tc.name, resp.StatusCode, want)
		}
	}
}

// TestMercureCookiePublish: a cookie alone lets a page publish only from a
// publish origin (its Origin, else its Referer), so another site cannot
// publish in its visitor's name.
func TestMercureCookiePublish(t *testing.T) {
	srv, _ := mercureServer(t, Options{PublishOrigins: []string{"https://app.example"}}, MercureOptions{})
	cookie := "mercureAuthorization=" + mercureToken(t, testKey, allRights, nil, nil)
	form := url.Values{"topic": {"t"}, "data": {"x"}}
	for _, tc := range []struct {
		name   string
		header []string
		status int
	}{
		{"no origin", []string{"Cookie", cookie}, http.StatusUnauthorized},
		{"another origin", []string{"Cookie", cookie, "Origin", "https://evil.example"}, http.StatusUnauthorized},
		{"publish origin", []string{"Cookie", cookie, "Origin", "https://app.example"}, http.StatusOK},
		{"publish origin's referer", []string{"Cookie", cookie, "Referer", "https://app.example/page?x=1"}, http.StatusOK},
		{"the origin *", []string{"Cookie", cookie, "Origin", "*"}, http.StatusUnauthorized},
	} {
		if status, _, body := publishForm(t, srv, "", form, tc.header...); status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, status, body, tc.status)
		}
	} // "*" lets any page read, never publish with its visitor's cookie.
	any, _ := mercureServer(t, Options{PublishOrigins: []string{"*"}}, MercureOptions{})
	if status, _, body := publishForm(t, any, "", form, "Cookie", cookie, "Origin", "https://evil.example"); status != http.StatusUnauthorized {
		t.Errorf("publish origins *: %d %s, want 401", status, body)
	}
}

// TestMercureDoorOff: without MercureOptions nothing answers at
// /.well-known/mercure.
func TestMercureDoorOff(t *testing.T) {
	srv, _ := newServer(t, Options{})
	resp, err := http.Get(srv.URL + MercurePath + "?topic=t")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d, want 404", resp.StatusCode)
	}
}

// TestMercureCORS: the door answers listed origins, preflight included,
// with credentials allowed: subscribing by the CORS origins, publishing by
// the publish origins, as the native door.
func TestMercureCORS(t *testing.T) {
	srv, _ := mercureServer(t, Options{CORSOrigins: []string{"https://app.example"},
		PublishOrigins: []string{"https://app.example"}}, MercureOptions{})
	req, _ := http.NewRequest(http.MethodOptions, srv.URL+MercurePath, nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	sreq, _ := http.NewRequest(http.MethodGet, srv.URL+MercurePath+"?topic=t", nil)
	sreq.Header.Set("Origin", "https://app.example")
	s := openEvents(t, sreq)
	if got := s.resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("stream Access-Control-Allow-Origin %q", got)
	}
	if got := s.resp.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
		t.Errorf("stream Access-Control-Allow-Credentials %q", got)
	}
}

// TestMercureHeartbeat: idle Mercure streams get the hub's heartbeat
// comment, from the same event loop as native streams.
func TestMercureHeartbeat(t *testing.T) {
	srv, _ := mercureServerWithHub(t, hub.Options{Heartbeat: 20 * time.Millisecond})
	resp, err := http.Get(srv.URL + MercurePath + "?topic=t")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	readUntil(t, r, "id: ")
	readUntil(t, r, "")  // the position frame's end
	readUntil(t, r, ":") // a heartbeat
}

// TestMercureStreamEndsWhenTheTokenExpires: nothing a token allowed is
// sent past its expiry, on either door; the stream ends at the next
// delivery instead, and the client resumes from its last event id with a
// fresh token. Expiry is the verifier's, leeway included: a stream is not
// cut off while its token would still verify, or its client would
// reconnect in a loop until the leeway ran out.
func TestMercureStreamEndsWhenTheTokenExpires(t *testing.T) {
	for _, door := range []string{MercurePath, "/events"} {
		for _, perStream := range []bool{false, true} {
			t.Run(door+map[bool]string{false: " event loop", true: " goroutine per stream"}[perStream], func(t *testing.T) {
				testTokenExpiry(t, door, perStream)
			})
		}
	}
}

func testTokenExpiry(t *testing.T, door string, goroutinePerStream bool) {
	h := newHub(t)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	v, err := auth.New(context.Background(), auth.Options{Keys: []auth.Key{{Key: testKey}},
		Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	api := New(h, Options{Verifier: v, Mercure: &MercureOptions{}, GoroutinePerStream: goroutinePerStream})
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		h.Close()
		srv.Close()
		_ = api.Drain(context.Background())
	})
	pub := mercureToken(t, testKey, allRights, nil, nil)
	exp := time.Now().Add(time.Hour)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"exp": exp.Unix(), "mercure": map[string]any{"subscribe": []string{"t"}},
	}).SignedString(testKey)
	if err != nil {
		t.Fatal(err)
	}
	open := func(query string) *eventStream {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+door+"?"+query, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		return openEvents(t, req)
	}
	private := func(data string) string {
		return mustPublish(t, srv, pub, url.Values{"topic": {"t"}, "data": {data}, "private": {"on"}})
	}
	s := open("topic=t")
	if first, ev := private("1"), s.next(t); ev.ID != first {
		t.Fatalf("got %q, want %q", ev.ID, first)
	}
	clock.Store(exp.Add(10 * time.Second).UnixNano()) // past exp, inside the 30 s leeway
	second := private("2")
	if ev := s.next(t); ev.ID != second {
		t.Fatalf("inside the leeway: got %q, want %q", ev.ID, second)
	}
	clock.Store(exp.Add(31 * time.Second).UnixNano())
	third := private("3")
	select {
	case ev, ok := <-s.events:
		if ok {
			t.Fatalf("received %q after the token expired", ev.ID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end when its token expired")
	}
	clock.Store(time.Now().UnixNano())
	again := open("topic=t&lastEventID=" + url.QueryEscape(second))
	if ev := again.next(t); ev.ID != third {
		t.Fatalf("resumed with %q, want %q", ev.ID, third)
	}
}

// TestMercureEdDSAKeys: a side's key may be a public key, as Mercure's
// publisher_jwt takes one with its algorithm; a token signed with the
// private half publishes, one with an HMAC secret does not.
func TestMercureEdDSAKeys(t *testing.T) {
	pubKey, privKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.New(context.Background(), auth.Options{Keys: []auth.Key{{Key: pubKey}}})
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := mercureServer(t, Options{Publishers: v}, MercureOptions{})
	var c auth.Claims
	c.Mercure.Publish = []string{"*"}
	signed, err := auth.SignClaims("EdDSA", privKey, "", &c)
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"topic": {"t"}, "data": {"x"}}
	if status, _, body := publishForm(t, srv, signed, form); status != http.StatusOK {
		t.Fatalf("EdDSA token: %d %s", status, body)
	}
	if status, _, _ := publishForm(t, srv, mercureToken(t, testKey, allRights, nil, nil), form); status != http.StatusUnauthorized {
		t.Fatalf("HMAC token against a public key: %d, want 401", status)
	}
}
