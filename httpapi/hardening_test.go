package httpapi

// The hostile suite: requests an attacker or a broken client sends, each
// with the exact answer it must get, a check that the hub still serves
// everyone else afterwards (a fresh subscriber receives a fresh publish),
// and a check that the case left no goroutine behind.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/testclock"
	"github.com/ssehub/ssehub/sse"
)

// fixture is one hub behind a real HTTP server on loopback.
type fixture struct {
	t      *testing.T
	url    string
	h      *hub.Hub
	api    *API
	srv    *httptest.Server
	conns  *ConnLimiter
	client *http.Client
}

type fixtureOpts struct {
	api    Options
	conns  *ConnLimits
	server func(*http.Server)
}

var probes atomic.Int64

// newFixture starts a hub and its server; when the test ends both stop and
// no goroutine of the test may remain.
func newFixture(t *testing.T, fo fixtureOpts) *fixture {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // runs last
	f := &fixture{t: t, h: newHub(t)}
	if fo.api.Verifier == nil {
		fo.api.Verifier = auth.NewVerifier(testKey)
	}
	f.api = New(f.h, fo.api)
	var handler http.Handler = f.api
	f.srv = httptest.NewUnstartedServer(handler)
	if fo.conns != nil {
		f.conns = NewConnLimiter(*fo.conns)
		f.srv.Listener = f.conns.Listener(f.srv.Listener)
		f.srv.Config.Handler = f.conns.Handler(f.api)
		f.srv.Config.ConnState = f.conns.ConnState
	}
	if fo.server != nil {
		fo.server(f.srv.Config)
	}
	f.srv.Start()
	f.url = f.srv.URL
	f.client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	t.Cleanup(func() {
		f.h.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = f.api.Drain(ctx)
		f.srv.Close()
		f.client.CloseIdleConnections()
	})
	return f
}

// fromAddr returns a client whose connections come from another loopback
// address, a client other than the one a case attacks from.
func fromAddr(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DialContext: d.DialContext}}
}

// stillServes: a new subscriber, from another address, receives a new
// publish made with another token.
func (f *fixture) stillServes() {
	f.t.Helper()
	c := fromAddr("127.0.0.2")
	defer c.CloseIdleConnections()
	topic := fmt.Sprintf("probe/%d", probes.Add(1))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.url+"/events?topic="+topic, nil)
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatalf("follow-up subscribe: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("follow-up subscribe: status %d", resp.StatusCode)
	}
	r := bufio.NewReader(resp.Body)
	readUntil(f.t, r, "id: ")
	tok, _ := auth.Sign(testKey, []string{"probe/{n}"}, nil, 0)
	if status, body := doPublish(f.t, c, f.url, "Bearer "+tok, `{"topic":"`+topic+`","data":"alive"}`); status != http.StatusOK {
		f.t.Fatalf("follow-up publish: %d %s", status, body)
	}
	readUntil(f.t, r, "data: alive")
}

func doPublish(t *testing.T, c *http.Client, base, authz, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/publish", strings.NewReader(body))
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// hostile is one case: send makes the request; the answer must have
// status, and unless 200 a JSON body whose error contains msg and whose
// reason is reason. check, if set, looks further (a stream's first lines).
type hostile struct {
	name   string
	fo     fixtureOpts
	send   func(f *fixture) (*http.Response, error)
	status int
	reason string
	msg    string
	check  func(t *testing.T, f *fixture, resp *http.Response)
}

func runHostile(t *testing.T, cases []hostile) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.fo)
			resp, err := tc.send(f)
			if err != nil {
				t.Fatal(err)
			}
			func() {
				defer resp.Body.Close()
				if resp.StatusCode != tc.status {
					b, _ := io.ReadAll(resp.Body)
					t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.status, b)
				}
				if tc.status != http.StatusOK {
					checkErrorBody(t, resp, tc.reason, tc.msg)
				}
				if tc.check != nil {
					tc.check(t, f, resp)
				}
			}()
			f.stillServes()
		})
	}
}

func checkErrorBody(t *testing.T, resp *http.Response, reason, msg string) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("Content-Type %q, want JSON", ct)
	}
	var e errorBody
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("error body: %v", err)
	}
	if e.Reason != reason || !strings.Contains(e.Error, msg) {
		t.Fatalf("error %+v, want reason %q and an error containing %q", e, reason, msg)
	}
}

// publish sends body to /publish with the Authorization header authz.
func publish(authz, body string) func(f *fixture) (*http.Response, error) {
	return func(f *fixture) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, f.url+"/publish", strings.NewReader(body))
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		return f.client.Do(req)
	}
}

// publishExpectingContinue is publish with "Expect: 100-continue", as a
// careful client sends a large body: the hub answers 413 from the declared
// length before the body is sent. A client that sends 4 MiB anyway may see
// its connection reset while still writing, when the hub closes a
// connection whose body it did not read, instead of reading the 413.
func publishExpectingContinue(authz, body string) func(f *fixture) (*http.Response, error) {
	return func(f *fixture) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, f.url+"/publish", strings.NewReader(body))
		req.Header.Set("Authorization", authz)
		req.Header.Set("Expect", "100-continue")
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, ExpectContinueTimeout: time.Minute}}
		return client.Do(req)
	}
}

// get sends GET path with the given headers.
func get(path string, headers ...string) func(f *fixture) (*http.Response, error) {
	return func(f *fixture) (*http.Response, error) {
		req, err := http.NewRequest(http.MethodGet, f.url+path, nil)
		if err != nil {
			return nil, err
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Add(headers[i], headers[i+1])
		}
		return f.client.Do(req)
	}
}

// raw writes a request as given over TCP and reads the answer, for what
// Go's client refuses to send.
func raw(request string) func(f *fixture) (*http.Response, error) {
	return func(f *fixture) (*http.Response, error) {
		nc, err := net.Dial("tcp", f.srv.Listener.Addr().String())
		if err != nil {
			return nil, err
		}
		if _, err := io.WriteString(nc, request); err != nil {
			nc.Close()
			return nil, err
		}
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			nc.Close()
			return nil, err
		}
		resp.Body = struct {
			io.Reader
			io.Closer
		}{resp.Body, nc}
		return resp, nil
	}
}

var (
	publisher = func() string { tok, _ := auth.Sign(testKey, []string{"*"}, nil, 0); return "Bearer " + tok }()
	ecKey     = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

// token signs claims granting every topic, with changes, by method and key.
func token(method jwt.SigningMethod, key any, change func(jwt.MapClaims)) string {
	c := jwt.MapClaims{"mercure": map[string]any{"publish": []string{"*"}, "subscribe": []string{"*"}}}
	if change != nil {
		change(c)
	}
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		panic(err)
	}
	return s
}

// badTokens are tokens the hub must refuse, and a part of why.
func badTokens() []struct{ name, token, msg string } {
	hour := time.Hour
	return []struct{ name, token, msg string }{
		{"not a JWT", "not-a-token", "token is malformed"},
		{"two segments", "eyJhbGciOiJIUzI1NiJ9.e30", "token is malformed"},
		{"four segments", token(jwt.SigningMethodHS256, testKey, nil) + ".x", "token is malformed"},
		{"header not base64", "!!!." + strings.SplitN(token(jwt.SigningMethodHS256, testKey, nil), ".", 2)[1], "token is malformed"},
		{"signature stripped", strings.Join(strings.Split(token(jwt.SigningMethodHS256, testKey, nil), ".")[:2], ".") + ".", "signature is invalid"},
		{"alg none", token(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil), "signing method none is invalid"},
		{"expired", token(jwt.SigningMethodHS256, testKey, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-hour).Unix() }), "token is expired"},
		{"not yet valid", token(jwt.SigningMethodHS256, testKey, func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(hour).Unix() }), "token is not valid yet"},
		{"wrong key", token(jwt.SigningMethodHS256, []byte("another-key"), nil), "signature is invalid"},
		{"wrong algorithm ES256", token(jwt.SigningMethodES256, ecKey(), nil), "signing method ES256 is invalid"},
		{"claims of the wrong type", token(jwt.SigningMethodHS256, testKey, func(c jwt.MapClaims) { c["mercure"] = "everything" }), "invalid token"},
		{"exp not a number", token(jwt.SigningMethodHS256, testKey, func(c jwt.MapClaims) { c["exp"] = "tomorrow" }), "invalid token"},
	}
}

func TestHostilePublishTokens(t *testing.T) {
	var cases []hostile
	for _, bt := range badTokens() {
		cases = append(cases, hostile{name: bt.name, send: publish("Bearer "+bt.token, `{"topic":"t","data":"x"}`),
			status: http.StatusUnauthorized, msg: bt.msg})
	}
	subOnly, _ := auth.Sign(testKey, nil, []string{"*"}, 0)
	other, _ := auth.Sign(testKey, []string{"other"}, nil, 0)
	cases = append(cases,
		hostile{name: "subscriber token", send: publish("Bearer "+subOnly, `{"topic":"t"}`), status: http.StatusForbidden, msg: `may not publish to topic "t"`},
		hostile{name: "token for another topic", send: publish("Bearer "+other, `{"topic":"t"}`), status: http.StatusForbidden, msg: `may not publish to topic "t"`},
		hostile{name: "token for one topic of two", send: publish("Bearer "+other, `{"topics":["other","t"]}`), status: http.StatusForbidden, msg: `topic "t"`},
		hostile{name: "token for a topic in a batch's second event", send: publish("Bearer "+other, `[{"topic":"other"},{"topic":"t"}]`), status: http.StatusForbidden, msg: `topic "t"`},
	)
	runHostile(t, cases)
}

// TestHostileTokenPlaces: a token anywhere but the Authorization header's
// bearer scheme or the mercureAuthorization cookie is no token.
func TestHostileTokenPlaces(t *testing.T) {
	tok := strings.TrimPrefix(publisher, "Bearer ")
	body := `{"topic":"t","data":"x"}`
	withReq := func(change func(*http.Request)) func(f *fixture) (*http.Response, error) {
		return func(f *fixture) (*http.Response, error) {
			req, _ := http.NewRequest(http.MethodPost, f.url+"/publish", strings.NewReader(body))
			change(req)
			return f.client.Do(req)
		}
	}
	const noToken = "a valid bearer token is required"
	runHostile(t, []hostile{
		{name: "no token", send: publish("", body), status: 401, msg: noToken},
		{name: "in the query", send: withReq(func(r *http.Request) { r.URL.RawQuery = "authorization=" + tok }), status: 401, msg: "not in the URL"},
		{name: "in another query parameter", send: withReq(func(r *http.Request) { r.URL.RawQuery = "access_token=" + tok }), status: 401, msg: noToken},
		{name: "in the body", send: publish("", `{"topic":"t","token":"`+tok+`"}`), status: 401, msg: noToken},
		{name: "basic scheme", send: publish("Basic "+tok, body), status: 401, msg: noToken},
		{name: "no scheme", send: publish(tok, body), status: 401, msg: noToken},
		{name: "empty bearer", send: publish("Bearer ", body), status: 401, msg: noToken},
		{name: "another header", send: withReq(func(r *http.Request) { r.Header.Set("X-Authorization", "Bearer "+tok) }), status: 401, msg: noToken},
		{name: "another cookie", send: withReq(func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "authorization", Value: tok}) }), status: 401, msg: noToken},
		{name: "bad header wins over a good cookie", send: withReq(func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer bad")
			r.AddCookie(&http.Cookie{Name: "mercureAuthorization", Value: tok})
		}), status: 401, msg: "token is malformed"},
		{name: "second Authorization header is not read", send: withReq(func(r *http.Request) {
			r.Header.Add("Authorization", "Bearer bad")
			r.Header.Add("Authorization", publisher)
		}), status: 401, msg: "token is malformed"},
		{name: "scheme in lower case is still bearer", send: publish("bearer "+tok, body), status: 200},
	})
}

func TestHostilePublishInjection(t *testing.T) {
	const inj = "must not contain CR"
	var cases []hostile
	for _, c := range []struct{ name, body, msg string }{
		{"id with LF", `{"topic":"t","id":"a\nb"}`, "id " + inj},
		{"id with CR", `{"topic":"t","id":"a\rb"}`, "id " + inj},
		{"id with CRLF", `{"topic":"t","id":"a\r\nb"}`, "id " + inj},
		{"id with NUL", `{"topic":"t","id":"a\u0000b"}`, "id " + inj},
		{"id that adds an event", `{"topic":"t","id":"1\n\nevent: evil\ndata: x"}`, "id " + inj},
		{"type with LF", `{"topic":"t","type":"a\nb"}`, "type " + inj},
		{"type with CR", `{"topic":"t","type":"a\rb"}`, "type " + inj},
		{"type that adds a field", `{"topic":"t","type":"m\ndata: evil"}`, "type " + inj},
		{"injection in a batch's second event", `[{"topic":"t"},{"topic":"t","id":"x\ny"}]`, "id " + inj},
	} {
		cases = append(cases, hostile{name: c.name, send: publish(publisher, c.body), status: 400, msg: c.msg,
			check: func(t *testing.T, f *fixture, _ *http.Response) {
				if n := f.h.Stats().Published; n != 0 {
					t.Fatalf("%d events published from a refused request", n)
				}
			}})
	}
	cases = append(cases, hostile{name: "id of the hub's own form", status: 400, msg: "form the hub uses",
		send: func(f *fixture) (*http.Response, error) {
			info, _ := f.h.Log().Info(context.Background())
			return publish(publisher, `{"topic":"t","id":"`+hub.FormatID(info.Epoch, 12)+`"}`)(f)
		}})
	runHostile(t, cases)
}

func TestHostilePublishEncoding(t *testing.T) {
	const utf = "not valid UTF-8"
	var cases []hostile
	for _, c := range []struct{ name, body, msg string }{
		{"data not UTF-8", "{\"topic\":\"t\",\"data\":\"\xff\"}", utf},
		{"topic not UTF-8", "{\"topic\":\"\xc3\x28\"}", utf},
		{"id an encoded surrogate", "{\"topic\":\"t\",\"id\":\"\xed\xa0\x80\"}", utf},
		{"type an overlong slash", "{\"topic\":\"t\",\"type\":\"\xc0\xaf\"}", utf},
		{"truncated sequence", "{\"topic\":\"t\",\"data\":\"\xe2\x82\"}", utf},
		{"bad byte after the value", "{\"topic\":\"t\"}\xff", utf},
		{"not JSON", `topic=t&data=x`, "invalid JSON"},
		{"truncated JSON", `{"topic":"t"`, "invalid JSON"},
		{"two values", `{"topic":"t"} {"topic":"t"}`, "trailing data"},
		{"unknown field", `{"topic":"t","dta":"x"}`, `unknown field "dta"`},
		{"topic a number", `{"topic":1}`, "invalid JSON"},
		{"topics a string", `{"topics":"t"}`, "invalid JSON"},
		{"empty body", ``, "empty body"},
		{"only spaces", "  \n\t ", "empty body"},
		{"null", `null`, "at least one topic"},
		{"empty batch", `[]`, "empty batch"},
		{"no topic", `{"data":"x"}`, "at least one topic"},
		{"empty topic", `{"topic":"","topics":[""]}`, "topic must be 1 to"},
		{"negative retry", `{"topic":"t","retry":-1}`, "retry must not be negative"},
		{"retry beyond int64", `{"topic":"t","retry":1e30}`, "invalid JSON"},
		// In milliseconds it fits an int64, as a time.Duration it would
		// wrap around to 448µs.
		{"retry beyond a duration", `{"topic":"t","retry":18446744073710}`, "retry must be at most"},
		{"retry not whole", `{"topic":"t","retry":1.5}`, "invalid JSON"},
		{"nested too deep", strings.Repeat("[", 20000) + strings.Repeat("]", 20000), "invalid JSON"},
		{"topic too long", `{"topic":"` + strings.Repeat("t", hub.MaxTopicLen+1) + `"}`, "topic must be 1 to"},
		{"id too long", `{"topic":"t","id":"` + strings.Repeat("i", hub.MaxIDLen+1) + `"}`, "id longer than"},
		{"type too long", `{"topic":"t","type":"` + strings.Repeat("y", hub.MaxTypeLen+1) + `"}`, "type longer than"},
	} {
		cases = append(cases, hostile{name: c.name, send: publish(publisher, c.body), status: 400, msg: c.msg})
	}
	runHostile(t, cases)
}

// TestHostilePublishIntoTheReservedNamespace: both doors share one hub,
// so the native door refuses the topics of the Mercure door's own
// subscription events as the Mercure door does, even to a token that may
// publish everywhere.
func TestHostilePublishIntoTheReservedNamespace(t *testing.T) {
	forged := `{"topic":"https://example.com/.well-known/mercure/subscriptions/t/urn:uuid:1","data":"{}","private":true}`
	runHostile(t, []hostile{
		{name: "a subscription event", send: publish(publisher, forged), status: 403, msg: "reserved",
			check: func(t *testing.T, f *fixture, _ *http.Response) {
				if n := f.h.Stats().Published; n != 0 {
					t.Fatalf("%d events published from a refused request", n)
				}
			}},
		{name: "in a batch's second event", status: 403, msg: "reserved",
			send: publish(publisher, `[{"topic":"t"},`+forged+`]`)},
	})
}

// TestHostileBrokenPublishBody: a body whose chunked framing is broken
// cannot be read; the publisher is told so, never answered 200 with
// nothing published.
func TestHostileBrokenPublishBody(t *testing.T) {
	runHostile(t, []hostile{{name: "a bad chunk size", status: 400, msg: "could not be read",
		send: raw("POST /publish HTTP/1.1\r\nHost: x\r\nAuthorization: " + publisher +
			"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
		check: func(t *testing.T, f *fixture, _ *http.Response) {
			if n := f.h.Stats().Published; n != 0 {
				t.Fatalf("%d events published from an unreadable body", n)
			}
		}}})
}

func TestHostilePublishSizes(t *testing.T) {
	small := fixtureOpts{api: Options{MaxBodyBytes: 1024, MaxDataBytes: 100, MaxBatch: 10, MaxTopics: 8}}
	topics := func(n int) string {
		ts := make([]string, n)
		for i := range ts {
			ts[i] = fmt.Sprintf("%q", fmt.Sprintf("t/%d", i))
		}
		return `{"topics":[` + strings.Join(ts, ",") + `]}`
	}
	batch := func(n int) string { return "[" + strings.TrimSuffix(strings.Repeat(`{"topic":"t"},`, n), ",") + "]" }
	chunked := func(body string) func(f *fixture) (*http.Response, error) {
		return func(f *fixture) (*http.Response, error) {
			req, _ := http.NewRequest(http.MethodPost, f.url+"/publish", io.MultiReader(strings.NewReader(body)))
			req.Header.Set("Authorization", publisher)
			req.ContentLength = -1 // sent chunked, no length announced
			return f.client.Do(req)
		}
	}
	big := `{"topic":"t","data":"` + strings.Repeat("x", 2000) + `"}`
	runHostile(t, []hostile{
		{name: "body over the limit", fo: small, send: publish(publisher, big), status: 413, reason: ReasonBodyTooLarge, msg: "at most 1024"},
		{name: "body over the limit, chunked", fo: small, send: chunked(big), status: 413, reason: ReasonBodyTooLarge, msg: "larger than 1024"},
		{name: "body over the default 4 MiB", send: publishExpectingContinue(publisher, `{"topic":"t","data":"`+strings.Repeat("x", 4<<20)+`"}`), status: 413, reason: ReasonBodyTooLarge, msg: "at most 4194304"},
		{name: "data over the limit", fo: small, send: publish(publisher, `{"topic":"t","data":"`+strings.Repeat("x", 101)+`"}`), status: 413, reason: ReasonDataTooLarge, msg: "at most 100"},
		{name: "data at the limit", fo: small, send: publish(publisher, `{"topic":"t","data":"`+strings.Repeat("x", 100)+`"}`), status: 200},
		{name: "data over the default 1 MiB", send: publish(publisher, `{"topic":"t","data":"`+strings.Repeat("x", 1<<20+1)+`"}`), status: 413, reason: ReasonDataTooLarge, msg: "at most 1048576"},
		{name: "JSON data over the limit", fo: small, send: publish(publisher, `{"topic":"t","data":[`+strings.Repeat("1,", 60)+`1]}`), status: 413, reason: ReasonDataTooLarge, msg: "at most 100"},
		{name: "batch over the limit", fo: small, send: publish(publisher, batch(11)), status: 413, reason: ReasonBatchTooLarge, msg: "11 events, at most 10"},
		{name: "batch at the limit", fo: small, send: publish(publisher, batch(10)), status: 200},
		{name: "batch over the default 1000", send: publish(publisher, batch(1001)), status: 413, reason: ReasonBatchTooLarge, msg: "at most 1000"},
		{name: "topics over the limit", fo: small, send: publish(publisher, topics(9)), status: 413, reason: ReasonTooManyTopics, msg: "9 topics, at most 8"},
		{name: "topics at the limit", fo: small, send: publish(publisher, topics(8)), status: 200},
		{name: "thousands of topics", send: publish(publisher, topics(5000)), status: 413, reason: ReasonTooManyTopics, msg: "5000 topics, at most 64"},
		{name: "thousands of topics in a batch's last event", send: publish(publisher, `[{"topic":"t"},`+topics(3000)+`]`), status: 413, reason: ReasonTooManyTopics, msg: "event 1: 3000 topics"},
	})
}

// TestHostileDataIsCarriedNotInterpreted: what a publisher puts in data
// (or, where allowed, in id and type) reaches the subscriber as one event
// holding exactly it, never as extra fields or events. U+2028 and U+2029
// are not SSE line ends: they pass through untouched and split nothing.
func TestHostileDataIsCarriedNotInterpreted(t *testing.T) {
	var cases []hostile
	for _, c := range []struct {
		name string
		body string
		want sse.Event
	}{
		{"LF and a forged event in data", `{"topic":"t","data":"a\n\nevent: evil\nid: 9\ndata: x"}`, sse.Event{Type: "message", Data: "a\n\nevent: evil\nid: 9\ndata: x"}},
		{"lone CR in data", `{"topic":"t","data":"a\rb"}`, sse.Event{Type: "message", Data: "a\nb"}},
		{"CRLF in data", `{"topic":"t","data":"a\r\nb"}`, sse.Event{Type: "message", Data: "a\nb"}},
		{"CR LF CR in data", `{"topic":"t","data":"a\r\n\rid: 1"}`, sse.Event{Type: "message", Data: "a\n\nid: 1"}},
		{"trailing LF in data", `{"topic":"t","data":"x\n"}`, sse.Event{Type: "message", Data: "x\n"}},
		{"NUL in data", `{"topic":"t","data":"a\u0000b"}`, sse.Event{Type: "message", Data: "a\x00b"}},
		{"U+2028 in data", `{"topic":"t","data":"a\u2028b"}`, sse.Event{Type: "message", Data: "a\u2028b"}},
		{"U+2029 in data", "{\"topic\":\"t\",\"data\":\"a\u2029b\"}", sse.Event{Type: "message", Data: "a\u2029b"}},
		{"NEL in data", "{\"topic\":\"t\",\"data\":\"a\u0085b\"}", sse.Event{Type: "message", Data: "a\u0085b"}},
		{"a field line as data", `{"topic":"t","data":"data: x"}`, sse.Event{Type: "message", Data: "data: x"}},
		{"a comment as data", `{"topic":"t","data":":x"}`, sse.Event{Type: "message", Data: ":x"}},
		{"a BOM as data", `{"topic":"t","data":"\ufeffx"}`, sse.Event{Type: "message", Data: "\ufeffx"}},
		{"a lone surrogate escape becomes U+FFFD", `{"topic":"t","data":"\ud800"}`, sse.Event{Type: "message", Data: "\ufffd"}},
		{"a string with LF inside JSON data", `{"topic":"t","data":{"k":"a\nb"}}`, sse.Event{Type: "message", Data: `{"k":"a\nb"}`}},
		{"U+2028 in type", `{"topic":"t","type":"a\u2028b","data":"x"}`, sse.Event{Type: "a\u2028b", Data: "x"}},
		{"U+2028 in id", `{"topic":"t","id":"a\u2028b","data":"x"}`, sse.Event{ID: "a\u2028b", Type: "message", Data: "x"}},
		{"NUL in type", `{"topic":"t","type":"a\u0000b","data":"x"}`, sse.Event{Type: "a\x00b", Data: "x"}},
		{"colon and spaces in id", `{"topic":"t","id":" a: b ","data":"x"}`, sse.Event{ID: " a: b ", Type: "message", Data: "x"}},
	} {
		cases = append(cases, deliverCase(c.name, c.body, c.want))
	}
	runHostile(t, cases)
}

// deliverCase publishes body to a subscriber of t, then a sentinel, and
// expects exactly want and then the sentinel.
func deliverCase(name, body string, want sse.Event) hostile {
	var stream *http.Response
	var br *bufio.Reader
	return hostile{name: name, status: 200,
		send: func(f *fixture) (*http.Response, error) {
			var err error
			if stream, err = f.client.Get(f.url + "/events?topic=t"); err != nil {
				return nil, err
			}
			br = bufio.NewReader(stream.Body)
			readUntil(f.t, br, "id: ") // registered
			return publish(publisher, body)(f)
		},
		check: func(t *testing.T, f *fixture, resp *http.Response) {
			defer stream.Body.Close()
			if status, b := doPublish(t, f.client, f.url, publisher, `{"topic":"t","data":"sentinel"}`); status != 200 {
				t.Fatalf("sentinel: %d %s", status, b)
			}
			p := sse.NewParser(br)
			got, err := nextEvent(p)
			if err != nil {
				t.Fatal(err)
			}
			var ack struct{ ID string }
			_ = json.NewDecoder(resp.Body).Decode(&ack)
			if want.ID == "" {
				want.ID = ack.ID
			}
			if got != want {
				t.Fatalf("received %+q, want %+q", got, want)
			}
			if next, err := nextEvent(p); err != nil || next.Data != "sentinel" {
				t.Fatalf("after the event: %+q, %v; want the sentinel", next, err)
			}
		}}
}

// nextEvent returns the stream's next event, past comments (heartbeats).
func nextEvent(p *sse.Parser) (sse.Event, error) {
	for {
		ev, err := p.Next()
		if err != nil || ev.Comment == "" {
			return ev, err
		}
	}
}

// streamStarts checks that a stream opened and that its lines up to the
// first data line are want, in order, ignoring comments and id values.
func streamStarts(want ...string) func(t *testing.T, f *fixture, resp *http.Response) {
	return func(t *testing.T, f *fixture, resp *http.Response) {
		t.Helper()
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
			t.Fatalf("Content-Type %q", ct)
		}
		lines := readUntil(t, bufio.NewReader(resp.Body), want[len(want)-1])
		var got []string
		for _, l := range lines {
			if l != "" && !strings.HasPrefix(l, ":") && !strings.HasPrefix(l, "id: ") {
				got = append(got, l)
			}
		}
		for i, w := range want {
			if i >= len(got) || !strings.HasPrefix(got[i], w) {
				t.Fatalf("stream began %q, want lines starting %q", got, want)
			}
		}
	}
}

func TestHostileSubscribeRequests(t *testing.T) {
	many := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "&topic=t%d", i)
		}
		return "/events?" + b.String()[1:]
	}
	small := fixtureOpts{api: Options{MaxSelectors: 4, MaxURLBytes: 200}}
	live := func(t *testing.T, f *fixture, resp *http.Response) { // opened, and live
		readUntil(t, bufio.NewReader(resp.Body), "id: ")
	}
	runHostile(t, []hostile{
		{name: "no topic", send: get("/events"), status: 400, msg: "at least one topic selector"},
		{name: "empty topic", send: get("/events?topic="), status: 400, msg: "empty"},
		{name: "selectors over the limit", fo: small, send: get(many(5)), status: 414, reason: ReasonTooManySelectors, msg: "5 topic selectors, at most 4"},
		{name: "selectors at the limit", fo: small, send: get(many(4)), status: 200, check: live},
		{name: "selectors over the default 64", send: get(many(65)), status: 414, reason: ReasonTooManySelectors, msg: "65 topic selectors, at most 64"},
		{name: "thousands of selectors", send: get(many(5000)), status: 414, reason: ReasonURLTooLong, msg: "at most 8192 allowed"},
		{name: "URL over the limit", fo: small, send: get("/events?topic=" + strings.Repeat("x", 200)), status: 414, reason: ReasonURLTooLong, msg: "at most 200 allowed"},
		{name: "selector too long", send: get("/events?topic=" + strings.Repeat("x", hub.MaxTopicLen+1)), status: 400, msg: "longer than 1024 bytes"},
		{name: "broken template", send: get("/events?topic=a%7Bb"), status: 400, msg: "invalid topic selector"},
		{name: "bad escape", send: get("/events?topic=%ZZ"), status: 400, msg: "malformed query"},
		{name: "semicolon separator", send: get("/events?topic=a;topic=b"), status: 400, msg: "malformed query"},
		{name: "selector not UTF-8", send: get("/events?topic=%FF"), status: 400, msg: "not valid UTF-8"},
		{name: "selector with LF is only a topic", send: get("/events?topic=a%0Ab"), status: 200, check: live},
		{name: "history selectors over the limit", fo: small, send: get("/history" + strings.TrimPrefix(many(5), "/events")), status: 414, reason: ReasonTooManySelectors, msg: "at most 4"},
		{name: "history limit zero", send: get("/history?topic=t&limit=0"), status: 400, msg: "limit must be a number from 1 to 1000"},
		{name: "history limit negative", send: get("/history?topic=t&limit=-1"), status: 400, msg: "limit must be"},
		{name: "history limit over 1000", send: get("/history?topic=t&limit=1001"), status: 400, msg: "limit must be"},
		{name: "history limit not a number", send: get("/history?topic=t&limit=1e3"), status: 400, msg: "limit must be"},
		{name: "history after an unknown id", send: get("/history?topic=t&after=nope"), status: 404, reason: hub.ResetUnknownID, msg: "nope"},
		{name: "history bad escape", send: get("/history?topic=%G0"), status: 400, msg: "malformed query"},
	})
}

// TestHostileLastEventID: an id with CR, LF or NUL is refused; any other id
// the hub did not hand out is answered on the stream with an ssehub-reset
// event, which EventSource can act on (a 4xx would end it for good).
func TestHostileLastEventID(t *testing.T) {
	const inj = "Last-Event-ID must not contain CR, LF or NUL"
	reset := streamStarts("event: ssehub-reset", `data: {"reason":"unknown-id"`)
	cases := []hostile{
		{name: "query LF", send: get("/events?topic=t&lastEventID=a%0Adata:%20evil"), status: 400, msg: inj},
		{name: "query CR", send: get("/events?topic=t&lastEventID=a%0Db"), status: 400, msg: inj},
		{name: "query CRLF", send: get("/events?topic=t&lastEventID=%0D%0A"), status: 400, msg: inj},
		{name: "query NUL", send: get("/events?topic=t&lastEventID=a%00b"), status: 400, msg: inj},
		{name: "header wins over a bad query", send: get("/events?topic=t&lastEventID=a%0Ab", "Last-Event-ID", "nope"), status: 200, check: reset},
	}
	for _, id := range []string{"nope", "-", "-1", "x-", "x-01", "x-+1", "x--1", "x-18446744073709551616", "x- 1",
		"\u00fc-1", "a\u2028b", strings.Repeat("i", 256), strings.Repeat("i", 4000), "%0A", "<script>"} {
		cases = append(cases, hostile{name: fmt.Sprintf("unknown %.20q", id), send: get("/events?topic=t", "Last-Event-ID", id), status: 200, check: reset})
	}
	cases = append(cases,
		hostile{name: "beyond the end of the log", status: 200, check: reset, send: func(f *fixture) (*http.Response, error) {
			info, _ := f.h.Log().Info(context.Background())
			return get("/events?topic=t", "Last-Event-ID", hub.FormatID(info.Epoch, 99))(f)
		}},
		hostile{name: "raw header with CR", send: raw("GET /events?topic=t HTTP/1.1\r\nHost: x\r\nLast-Event-ID: a\rb\r\n\r\n"), status: 400},
		hostile{name: "raw header with NUL", send: raw("GET /events?topic=t HTTP/1.1\r\nHost: x\r\nLast-Event-ID: a\x00b\r\n\r\n"), status: 400},
		hostile{name: "raw headers over the limit", status: http.StatusRequestHeaderFieldsTooLarge,
			fo:   fixtureOpts{server: func(s *http.Server) { s.MaxHeaderBytes = 1 << 10 }},
			send: raw("GET /events?topic=t HTTP/1.1\r\nHost: x\r\nLast-Event-ID: " + strings.Repeat("i", 8<<10) + "\r\n\r\n")},
		hostile{name: "raw request line with a space in the target", send: raw("GET /events?topic=t lastEventID=x HTTP/1.1\r\nHost: x\r\n\r\n"), status: 400},
	)
	runHostileRaw(t, cases)
}

// runHostileRaw is runHostile where cases named "raw…" are answered by
// net/http itself: the status is checked, the body is its plain text.
func runHostileRaw(t *testing.T, cases []hostile) {
	t.Helper()
	var hub, plain []hostile
	for _, c := range cases {
		if strings.HasPrefix(c.name, "raw") {
			plain = append(plain, c)
		} else {
			hub = append(hub, c)
		}
	}
	runHostile(t, hub)
	for _, tc := range plain {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.fo)
			resp, err := tc.send(f)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10)) // a stream, were it accepted, would not end
			resp.Body.Close()
			if want := fmt.Sprintf("%d %s", tc.status, http.StatusText(tc.status)); resp.StatusCode != tc.status || !strings.HasPrefix(string(b), want) {
				t.Fatalf("answer %d %q, want net/http's %s", resp.StatusCode, b, want)
			}
			f.stillServes()
		})
	}
}

func TestHostileSubscribeTokens(t *testing.T) {
	var cases []hostile
	for _, bt := range badTokens() {
		cases = append(cases,
			hostile{name: "header " + bt.name, send: get("/events?topic=t", "Authorization", "Bearer "+bt.token), status: 401, msg: bt.msg},
			hostile{name: "cookie " + bt.name, send: get("/events?topic=t", "Cookie", "mercureAuthorization="+bt.token), status: 401, msg: bt.msg})
	}
	cases = append(cases,
		hostile{name: "history header expired", send: get("/history?topic=t", "Authorization", "Bearer "+badTokens()[6].token), status: 401, msg: "token is expired"},
		hostile{name: "history cookie wrong key", send: get("/history?topic=t", "Cookie", "mercureAuthorization="+badTokens()[8].token), status: 401, msg: "signature is invalid"},
	)
	// Subscriber tokens from an identity provider: audience and issuer.
	idp, err := auth.New(context.Background(), auth.Options{Keys: []auth.Key{{Key: testKey}},
		Algorithms: []string{"HS256"}, Audience: "hub.example", Issuer: "idp.example"})
	if err != nil {
		t.Fatal(err)
	}
	withIDP := fixtureOpts{api: Options{Subscribers: idp}}
	claims := func(aud, iss string) string {
		return "Bearer " + token(jwt.SigningMethodHS256, testKey, func(c jwt.MapClaims) {
			if aud != "" {
				c["aud"] = aud
			}
			if iss != "" {
				c["iss"] = iss
			}
		})
	}
	for _, c := range []struct{ name, aud, iss, msg string }{
		{"wrong audience", "other.example", "idp.example", "token has invalid audience"},
		{"no audience", "", "idp.example", "aud claim is required"},
		{"wrong issuer", "hub.example", "evil.example", "token has invalid issuer"},
		{"no issuer", "hub.example", "", "iss claim is required"},
	} {
		cases = append(cases, hostile{name: c.name, fo: withIDP, send: get("/events?topic=t", "Authorization", claims(c.aud, c.iss)), status: 401, msg: c.msg})
	}
	cases = append(cases, hostile{name: "right audience and issuer", fo: withIDP, send: get("/events?topic=t", "Authorization", claims("hub.example", "idp.example")),
		status: 200, check: func(t *testing.T, f *fixture, resp *http.Response) { readUntil(t, bufio.NewReader(resp.Body), "id: ") }})
	runHostile(t, cases)
}

// TestHostilePrivateEvents: a private event reaches only subscribers whose
// token allows one of its topics, live, in replay and in history; a token
// in the wrong place, or one for another topic, counts for nothing.
func TestHostilePrivateEvents(t *testing.T) {
	signSub := func(topics ...string) string { tok, _ := auth.Sign(testKey, nil, topics, 0); return tok }
	full := signSub("secret")
	creds := []struct {
		name    string
		headers []string
		query   string
		allowed bool
	}{
		{"no token", nil, "", false},
		{"token for another topic", []string{"Authorization", "Bearer " + signSub("other")}, "", false},
		{"publisher token", []string{"Authorization", publisher}, "", false},
		{"cookie for another topic", []string{"Cookie", "mercureAuthorization=" + signSub("other")}, "", false},
		{"allowing token in another query parameter", nil, "&access_token=" + full, false},
		{"allowing token in the query", nil, "&authorization=" + full, true},
		{"allowing token", []string{"Authorization", "Bearer " + full}, "", true},
		{"allowing cookie", []string{"Cookie", "mercureAuthorization=" + full}, "", true},
	}
	pub := func(f *fixture, body string) string {
		status, b := doPublish(f.t, f.client, f.url, publisher, body)
		if status != 200 {
			f.t.Fatalf("publish %s: %d %s", body, status, b)
		}
		var ack struct{ ID string }
		_ = json.Unmarshal([]byte(b), &ack)
		return ack.ID
	}
	const hidden, shown = `{"topic":"secret","data":"hidden","private":true}`, `{"topic":"public","data":"shown"}`
	firstData := func(want string) func(t *testing.T, f *fixture, resp *http.Response) {
		return func(t *testing.T, f *fixture, resp *http.Response) {
			ev, err := nextEvent(sse.NewParser(resp.Body))
			if err != nil || ev.Data != want {
				t.Fatalf("first event %+q (%v), want data %q", ev, err, want)
			}
		}
	}
	var cases []hostile
	for _, c := range creds {
		want := map[bool]string{true: "hidden", false: "shown"}[c.allowed]
		cases = append(cases,
			hostile{name: "live, " + c.name, status: 200, check: firstData(want), send: func(f *fixture) (*http.Response, error) {
				resp, err := get("/events?topic=secret&topic=public"+c.query, c.headers...)(f)
				if err != nil || resp.StatusCode != 200 {
					return resp, err
				}
				br := bufio.NewReader(resp.Body)
				readUntil(f.t, br, "id: ")
				pub(f, hidden)
				pub(f, shown)
				resp.Body = struct {
					io.Reader
					io.Closer
				}{br, resp.Body}
				return resp, nil
			}},
			hostile{name: "replay, " + c.name, status: 200, check: firstData(want), send: func(f *fixture) (*http.Response, error) {
				from := pub(f, `{"topic":"public","data":"before"}`)
				pub(f, hidden)
				pub(f, shown)
				return get("/events?topic=secret&topic=public"+c.query, append([]string{"Last-Event-ID", from}, c.headers...)...)(f)
			}},
			hostile{name: "history, " + c.name, status: 200, send: func(f *fixture) (*http.Response, error) {
				pub(f, hidden)
				pub(f, shown)
				return get("/history?topic=secret&topic=public"+c.query, c.headers...)(f)
			}, check: func(t *testing.T, f *fixture, resp *http.Response) {
				var page struct{ Events []historyEvent }
				if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, ev := range page.Events {
					got = append(got, ev.Data)
				}
				if w := map[bool]string{true: "hidden,shown", false: "shown"}[c.allowed]; strings.Join(got, ",") != w {
					t.Fatalf("history %q, want %s", got, w)
				}
			}},
		)
	}
	runHostile(t, cases)
}

// held is a stream a case keeps open.
type held struct {
	body io.Closer
	r    *bufio.Reader
}

// openStreams opens n streams with c and returns them once registered.
func openStreams(t *testing.T, c *http.Client, url string, n int) []held {
	t.Helper()
	var hs []held
	for range n {
		resp, err := c.Get(url + "/events?topic=held")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != 200 {
			t.Fatalf("stream: status %d", resp.StatusCode)
		}
		r := bufio.NewReader(resp.Body)
		readUntil(t, r, "id: ")
		hs = append(hs, held{resp.Body, r})
	}
	return hs
}

// stillDelivered: streams held open through a refusal still get events.
func stillDelivered(t *testing.T, f *fixture, streams []held) {
	t.Helper()
	if _, err := f.h.Publish(context.Background(), hub.Event{Topics: []string{"held"}, Data: "still here"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range streams {
		readUntil(t, s.r, "data: still here")
	}
}

// closeAll closes the streams and waits until the limiter has counted
// every connection out: none leaks.
func closeAll(t *testing.T, f *fixture, streams []held) {
	t.Helper()
	for _, s := range streams {
		s.body.Close()
	}
	eventually(t, "every connection released", func() bool { return f.conns.Open() == 0 })
}

func TestHostileConnections(t *testing.T) {
	none := []netip.Prefix{}
	var streams []held
	hold := func(n int, then func(f *fixture) (*http.Response, error)) func(f *fixture) (*http.Response, error) {
		return func(f *fixture) (*http.Response, error) {
			streams = openStreams(f.t, f.client, f.url, n)
			return then(f)
		}
	}
	refused := func(also func(t *testing.T, f *fixture)) func(t *testing.T, f *fixture, resp *http.Response) {
		return func(t *testing.T, f *fixture, resp *http.Response) {
			if resp.Header.Get("Retry-After") != "5" || !resp.Close {
				t.Fatalf("Retry-After %q, close %v; want 5 and the connection closed", resp.Header.Get("Retry-After"), resp.Close)
			}
			stillDelivered(t, f, streams)
			if also != nil {
				also(t, f)
			}
			closeAll(t, f, streams)
		}
	}
	runHostile(t, []hostile{
		{name: "over the total", fo: fixtureOpts{conns: &ConnLimits{Max: 3}}, send: hold(3, get("/events?topic=t")),
			status: 503, reason: ReasonTooManyConns, msg: "maximum of 3 connections",
			check: refused(func(t *testing.T, f *fixture) {
				if n := f.h.Stats().Subscribers; n != 3 {
					t.Fatalf("%d subscribers; the refused request must not reach the hub", n)
				}
			})},
		{name: "over the total, a publish", fo: fixtureOpts{conns: &ConnLimits{Max: 2}}, send: hold(2, publish(publisher, `{"topic":"t"}`)),
			status: 503, reason: ReasonTooManyConns, msg: "maximum of 2",
			check: refused(func(t *testing.T, f *fixture) {
				if f.h.Stats().Published != 1 { // the one stillDelivered made
					t.Fatal("a refused publish was published")
				}
			})},
		{name: "over the address limit", fo: fixtureOpts{conns: &ConnLimits{MaxPerAddr: 2, Exempt: none}}, send: hold(2, get("/events?topic=t")),
			status: 429, reason: ReasonTooManyConnsAddr, msg: "at most 2 connections from one address",
			check: refused(func(t *testing.T, f *fixture) { f.stillServes() })}, // another address, while these are held
		{name: "an exempt address has no address limit", fo: fixtureOpts{conns: &ConnLimits{MaxPerAddr: 1}}, send: hold(3, get("/healthz")), status: 200,
			check: func(t *testing.T, f *fixture, _ *http.Response) { closeAll(t, f, streams) }},
		{name: "health is answered when full", fo: fixtureOpts{conns: &ConnLimits{Max: 2}}, send: hold(2, get("/healthz")), status: 200,
			check: func(t *testing.T, f *fixture, resp *http.Response) {
				if !resp.Close {
					t.Fatal("a refused connection is kept after its health answer")
				}
				closeAll(t, f, streams)
			}},
		{name: "streams on the event loop are released when they close", fo: fixtureOpts{conns: &ConnLimits{Max: 2}}, send: hold(2, get("/healthz")), status: 200,
			check: func(t *testing.T, f *fixture, _ *http.Response) {
				if f.api.streams.Looped() != 2 {
					t.Fatal("the counted connections' streams are not served by the event loop")
				}
				closeAll(t, f, streams)
				streams = openStreams(t, f.client, f.url, 2) // room again
				closeAll(t, f, streams)
			}},
		{name: "streams with a goroutine each are released when they close", fo: fixtureOpts{api: Options{GoroutinePerStream: true}, conns: &ConnLimits{Max: 2}},
			send: hold(2, get("/healthz")), status: 200,
			check: func(t *testing.T, f *fixture, _ *http.Response) {
				closeAll(t, f, streams)
				streams = openStreams(t, f.client, f.url, 2)
				closeAll(t, f, streams)
			}},
		{name: "a flood of silent connections", fo: fixtureOpts{conns: &ConnLimits{Max: 2}}, send: hold(2, func(f *fixture) (*http.Response, error) {
			var flood []net.Conn
			for range maxRefusing + 50 {
				nc, err := net.Dial("tcp", f.srv.Listener.Addr().String())
				if err != nil {
					return nil, err
				}
				flood = append(flood, nc)
			}
			// The refused wait for their answer, a bounded number of them.
			eventually(f.t, "the refusing pool full", func() bool { return f.conns.nRefusing.Load() == maxRefusing })
			if _, err := get("/healthz")(f); err == nil {
				f.t.Fatal("a connection over the refusing pool was answered, not closed")
			}
			for _, nc := range flood {
				nc.Close()
			}
			eventually(f.t, "the flood's connections released", func() bool { return f.conns.nRefusing.Load() == 0 })
			return get("/events?topic=t")(f) // answered again
		}), status: 503, reason: ReasonTooManyConns, check: refused(nil)},
	})
}

func TestHostilePublishRates(t *testing.T) {
	none := []netip.Prefix{}
	body := `{"topic":"t","data":"x"}`
	clock := testclock.New(time.Unix(1e9, 0)) // each case has limiters of its own
	opts := func(o Options) fixtureOpts {
		o.Now = clock.Now
		return fixtureOpts{api: o}
	}
	// times publishes n times with authz; each must answer 200.
	times := func(n int, authz string, then func(f *fixture) (*http.Response, error)) func(f *fixture) (*http.Response, error) {
		return func(f *fixture) (*http.Response, error) {
			for i := range n {
				if status, b := doPublish(f.t, f.client, f.url, authz, body); status != 200 {
					f.t.Fatalf("publish %d within the rate: %d %s", i, status, b)
				}
			}
			return then(f)
		}
	}
	retryAfter := func(want string, then func(t *testing.T, f *fixture)) func(t *testing.T, f *fixture, resp *http.Response) {
		return func(t *testing.T, f *fixture, resp *http.Response) {
			if got := resp.Header.Get("Retry-After"); got != want {
				t.Fatalf("Retry-After %q, want %q", got, want)
			}
			if then != nil {
				then(t, f)
			}
		}
	}
	other, _ := auth.Sign(testKey, []string{"*"}, []string{"x"}, 0)
	runHostile(t, []hostile{
		{name: "per address", fo: opts(Options{PublishRatePerAddr: 2, Exempt: none}), send: times(2, publisher, publish(publisher, body)),
			status: 429, reason: ReasonRateLimited, msg: "this client address may publish 2 times a second",
			check: retryAfter("1", func(t *testing.T, f *fixture) {
				if n := f.h.Stats().Published; n != 2 {
					t.Fatalf("%d published, want the 2 within the rate", n)
				}
			})},
		{name: "per address, refilled after Retry-After", fo: opts(Options{PublishRatePerAddr: 2, Exempt: none}), send: times(2, publisher, publish(publisher, body)),
			status: 429, reason: ReasonRateLimited, check: retryAfter("1", func(t *testing.T, f *fixture) {
				clock.Advance(500 * time.Millisecond) // a refused publish took nothing: one is back
				if status, b := doPublish(t, f.client, f.url, publisher, body); status != 200 {
					t.Fatalf("after the wait: %d %s", status, b)
				}
			})},
		{name: "per address counts bad tokens", fo: opts(Options{PublishRatePerAddr: 2, Exempt: none}),
			send: func(f *fixture) (*http.Response, error) {
				for range 2 {
					if status, _ := doPublish(f.t, f.client, f.url, "Bearer bad", body); status != 401 {
						f.t.Fatalf("bad token: %d", status)
					}
				}
				return publish(publisher, body)(f)
			}, status: 429, reason: ReasonRateLimited, check: retryAfter("1", nil)},
		{name: "per address, slow rate", fo: opts(Options{PublishRatePerAddr: 0.1, Exempt: none}), send: times(1, publisher, publish(publisher, body)),
			status: 429, reason: ReasonRateLimited, msg: "0.1 times a second", check: retryAfter("10", nil)},
		{name: "loopback exempt from the address rate", fo: opts(Options{PublishRatePerAddr: 1}), send: times(5, publisher, publish(publisher, body)), status: 200},
		{name: "per token", fo: opts(Options{PublishRate: 1}), send: times(1, publisher, publish(publisher, body)),
			status: 429, reason: ReasonRateLimited, msg: "this token may publish 1 times a second",
			check: retryAfter("1", func(t *testing.T, f *fixture) {
				if status, b := doPublish(t, f.client, f.url, "Bearer "+other, body); status != 200 {
					t.Fatalf("another token: %d %s", status, b)
				}
			})},
		{name: "per token, a batch is one request", fo: opts(Options{PublishRate: 1}), send: times(1, publisher, publish(publisher, "["+body+","+body+"]")),
			status: 429, reason: ReasonRateLimited},
	})
}

// slowConn dials the fixture and writes what it is given.
func slowConn(t *testing.T, f *fixture) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// closedByServer reads nc until the server closes it, failing after 10s;
// a drip, if set, is written every 20ms meanwhile (it must not keep the
// connection alive).
func closedByServer(t *testing.T, nc net.Conn, drip string) []byte {
	t.Helper()
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(nc)
		done <- b
	}()
	bound := time.NewTimer(10 * time.Second)
	defer bound.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case b := <-done:
			return b
		case <-bound.C:
			nc.Close()
			<-done
			t.Fatal("the server kept a slow connection for 10s")
		case <-tick.C:
			if drip != "" {
				_, _ = io.WriteString(nc, drip)
			}
		}
	}
}

func TestHostileSlowClients(t *testing.T) {
	timeouts := fixtureOpts{api: Options{BodyReadTimeout: 200 * time.Millisecond}, server: func(s *http.Server) {
		s.ReadHeaderTimeout, s.IdleTimeout = 200*time.Millisecond, 200*time.Millisecond
	}}
	const head = "POST /publish HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: 100\r\n\r\n"
	answered408 := func(t *testing.T, b []byte) {
		t.Helper()
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(b))), nil)
		if err != nil {
			t.Fatalf("no answer before the close: %q", b)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("status %d, want 408", resp.StatusCode)
		}
		checkErrorBody(t, resp, ReasonBodyReadTimeout, "did not arrive within 200ms")
	}
	cases := []struct {
		name  string
		write string
		drip  string
		check func(t *testing.T, b []byte)
	}{
		{"headers never finished", "GET /events?topic=t HTTP/1.1\r\nHost: x\r\n", "", nil},
		{"headers dripped", "GET /events?topic=t HTTP/1.1\r\nHost: x\r\n", "X", func(t *testing.T, b []byte) {
			// A header line cut short is malformed: net/http says so.
			if !strings.HasPrefix(string(b), "HTTP/1.1 400 Bad Request\r\n") {
				t.Fatalf("answer %q, want net/http's 400", b)
			}
		}},
		{"nothing sent", "", "", nil},
		{"body never finished", fmt.Sprintf(head, publisher) + `{"topic":"t",`, "", answered408},
		{"body dripped", fmt.Sprintf(head, publisher) + `{"topic":"t","data":"`, "x", answered408},
		{"idle after a request", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "", func(t *testing.T, b []byte) {
			if !strings.HasPrefix(string(b), "HTTP/1.1 200 OK") {
				t.Fatalf("answer %q, want 200 before the idle close", b)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, timeouts)
			nc := slowConn(t, f)
			if _, err := io.WriteString(nc, tc.write); err != nil {
				t.Fatal(err)
			}
			b := closedByServer(t, nc, tc.drip)
			if tc.check != nil {
				tc.check(t, b)
			} else if len(b) != 0 {
				t.Fatalf("answered %q; a slow request is closed unanswered", b)
			}
			if f.h.Stats().Published != 0 {
				t.Fatal("a slow request published")
			}
			f.stillServes()
		})
	}
}

// postEvents sends a subscription body to POST /events.
func postEvents(contentType, body string, headers ...string) func(f *fixture) (*http.Response, error) {
	return func(f *fixture) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, f.url+"/events", strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Add(headers[i], headers[i+1])
		}
		return f.client.Do(req)
	}
}

// TestHostileSubscribeBodies: a POST subscription is held to what a GET one
// is (selectors, tokens, Last-Event-ID) and its body to the publish body's
// limits; what cannot be read is answered with a 4xx naming why.
func TestHostileSubscribeBodies(t *testing.T) {
	const js, form = "application/json", "application/x-www-form-urlencoded"
	const inj = "Last-Event-ID must not contain CR, LF or NUL"
	small := fixtureOpts{api: Options{MaxSelectors: 4, MaxBodyBytes: 256, BodyReadTimeout: 200 * time.Millisecond}}
	live := func(t *testing.T, f *fixture, resp *http.Response) { readUntil(t, bufio.NewReader(resp.Body), "id: ") }
	reset := streamStarts("event: ssehub-reset", `data: {"reason":"unknown-id"`)
	five := `{"topic":["a","b","c","d","e"]}`
	runHostile(t, []hostile{
		{name: "JSON", send: postEvents(js, `{"topic":["a","b"]}`), status: 200, check: live},
		{name: "JSON one topic as a string", send: postEvents(js+"; charset=UTF-8", `{"topic":"a"}`), status: 200, check: live},
		{name: "form", send: postEvents(form, "topic=a&topic=%7Bx%7D"), status: 200, check: live},
		{name: "no content type", send: postEvents("", `{"topic":"a"}`), status: 415, reason: ReasonUnsupportedMediaType, msg: "application/json or"},
		{name: "text/plain", send: postEvents("text/plain", `{"topic":"a"}`), status: 415, reason: ReasonUnsupportedMediaType},
		{name: "not UTF-8 charset", send: postEvents(js+"; charset=latin1", `{"topic":"a"}`), status: 415, reason: ReasonUnsupportedMediaType},
		{name: "unknown field", send: postEvents(js, `{"topic":"a","since":1}`), status: 400, msg: `unknown field "since"`},
		{name: "field of another case", send: postEvents(js, `{"topic":"a","lastEventId":"x"}`), status: 400, msg: `unknown field "lastEventId"`},
		{name: "topics for topic", send: postEvents(js, `{"topics":["a"]}`), status: 400, msg: `the selectors go in "topic"`},
		{name: "repeated field", send: postEvents(js, `{"topic":"a","topic":"b"}`), status: 400, msg: `"topic" given more than once`},
		{name: "topic a number", send: postEvents(js, `{"topic":1}`), status: 400, msg: `"topic" must be a string or an array of strings`},
		{name: "topic of numbers", send: postEvents(js, `{"topic":[1]}`), status: 400, msg: `must be a string or an array`},
		{name: "topic null", send: postEvents(js, `{"topic":null}`), status: 400, msg: `must be a string or an array`},
		{name: "lastEventID a number", send: postEvents(js, `{"topic":"a","lastEventID":7}`), status: 400, msg: `"lastEventID" must be a string`},
		{name: "not an object", send: postEvents(js, `["a"]`), status: 400, msg: "must be a JSON object"},
		{name: "empty JSON", send: postEvents(js, ``), status: 400, msg: "must be a JSON object"},
		{name: "broken JSON", send: postEvents(js, `{"topic":["a"`), status: 400, msg: "invalid JSON"},
		{name: "trailing data", send: postEvents(js, `{"topic":"a"}{}`), status: 400, msg: "trailing data"},
		{name: "no topic", send: postEvents(js, `{}`), status: 400, msg: "at least one topic selector"},
		{name: "form unknown field", send: postEvents(form, "topic=a&authorization=x"), status: 400, msg: `unknown field "authorization"`},
		{name: "form bad escape", send: postEvents(form, "topic=%ZZ"), status: 400, msg: "malformed form body"},
		{name: "form two ids", send: postEvents(form, "topic=a&lastEventID=x&lastEventID=y"), status: 400, msg: "more than once"},
		{name: "JSON not UTF-8", send: postEvents(js, "{\"topic\":\"\xff\"}"), status: 400, msg: "not valid UTF-8"},
		{name: "form not UTF-8", send: postEvents(form, "topic=%FF"), status: 400, msg: "not valid UTF-8"},
		{name: "form id not UTF-8", send: postEvents(form, "topic=a&lastEventID=%FF"), status: 400, msg: "lastEventID is not valid UTF-8"},
		{name: "selectors over the limit", fo: small, send: postEvents(js, five), status: 413, reason: ReasonTooManySelectors, msg: "5 topic selectors, at most 4"},
		{name: "form selectors over the limit", fo: small, send: postEvents(form, "topic=a&topic=b&topic=c&topic=d&topic=e"), status: 413, reason: ReasonTooManySelectors},
		{name: "selectors over the default 64", send: postEvents(form, strings.Repeat("topic=t&", 65)), status: 413, reason: ReasonTooManySelectors, msg: "65 topic selectors, at most 64"},
		{name: "body over the limit", fo: small, send: postEvents(js, `{"topic":"`+strings.Repeat("x", 300)+`"}`), status: 413, reason: ReasonBodyTooLarge},
		{name: "selector too long", send: postEvents(js, `{"topic":"`+strings.Repeat("x", hub.MaxTopicLen+1)+`"}`), status: 400, msg: "longer than 1024 bytes"},
		{name: "topic in the URL too", send: func(f *fixture) (*http.Response, error) {
			req, _ := http.NewRequest(http.MethodPost, f.url+"/events?topic=b", strings.NewReader(`{"topic":"a"}`))
			req.Header.Set("Content-Type", js)
			return f.client.Do(req)
		}, status: 400, msg: "not in the URL"},
		{name: "JSON id LF", send: postEvents(js, `{"topic":"a","lastEventID":"a\ndata: evil"}`), status: 400, msg: inj},
		{name: "JSON id CR", send: postEvents(js, `{"topic":"a","lastEventID":"a\rb"}`), status: 400, msg: inj},
		{name: "JSON id NUL", send: postEvents(js, `{"topic":"a","lastEventID":"a\u0000b"}`), status: 400, msg: inj},
		{name: "form id CRLF", send: postEvents(form, "topic=a&lastEventID=%0D%0A"), status: 400, msg: inj},
		{name: "unknown id", send: postEvents(js, `{"topic":"a","lastEventID":"nope"}`), status: 200, check: reset},
		{name: "header wins over a bad body id", send: postEvents(js, `{"topic":"a","lastEventID":"a\nb"}`, "Last-Event-ID", "nope"), status: 200, check: reset},
		{name: "bad token", send: postEvents(js, `{"topic":"a"}`, "Authorization", "Bearer "+badTokens()[8].token), status: 401, msg: "signature is invalid"},
		{name: "body that never arrives", fo: small, status: 408, reason: ReasonBodyReadTimeout,
			send: raw("POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"topic\":")},
	})
}
