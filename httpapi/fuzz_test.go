package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
)

// FuzzPublishDecode: no body makes the decoder panic; whatever it accepts
// is within every limit, and whatever is over a limit is answered 413.
func FuzzPublishDecode(f *testing.F) {
	for _, s := range []string{
		`{"topic":"t","data":"x"}`, `[{"topics":["a","b"],"data":{"k":1}}]`, `{"topic":"t","id":"a\nb"}`,
		`[]`, `{`, `{"topic":"t","retry":-1}`, `{"topic":"t"} {}`, `{"data":null,"topic":"t","private":true}`,
		`{"topics":["a","b","c","d"]}`, `[{"topic":"a"},{"topic":"b"},{"topic":"c"},{"topic":"d"},{"topic":"e"}]`,
		"{\"topic\":\"t\",\"data\":\"\xff\"}", `{"topic":"t","data":"` + string(make([]byte, 80)) + `"}`,
		`{"topic":"t","data":"\ud800"}`, `{"topic":"t","data":[1,2,3]}`,
	} {
		f.Add([]byte(s))
	}
	a := &API{opts: Options{MaxBatch: 4, MaxTopics: 3, MaxDataBytes: 64}}
	a.opts.setDefaults()
	f.Fuzz(func(t *testing.T, body []byte) {
		events, _, err := a.decodePublish(body)
		if le := (*limitError)(nil); errors.As(err, &le) {
			if le.status != http.StatusRequestEntityTooLarge || le.reason == "" {
				t.Fatalf("limit answered %d %q", le.status, le.reason)
			}
			return
		}
		if err != nil {
			return
		}
		if !utf8.Valid(body) {
			t.Fatal("accepted a body that is not UTF-8")
		}
		if len(events) == 0 || len(events) > a.opts.MaxBatch {
			t.Fatalf("accepted a batch of %d events", len(events))
		}
		for _, ev := range events {
			if ev.Retry < 0 || len(ev.Topics) > a.opts.MaxTopics || len(ev.Data) > a.opts.MaxDataBytes {
				t.Fatalf("accepted an event over a limit: %+v", ev)
			}
			if !utf8.ValidString(ev.Data) || !utf8.ValidString(ev.ID) || !utf8.ValidString(ev.Type) {
				t.Fatalf("accepted text that is not UTF-8: %+v", ev)
			}
			_ = ev.Validate(0)
		}
	})
}

// fuzzAPI is an API on a memory hub that lives as long as the fuzz target.
func fuzzAPI(f *testing.F, opts Options) *API {
	log := memory.New(memory.Options{})
	h, err := hub.New(log, hub.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		h.Close()
		log.Close()
	})
	for _, topic := range []string{"t", "private"} {
		if _, err := h.Publish(f.Context(), hub.Event{Topics: []string{topic}, Data: "x", Private: topic == "private"}); err != nil {
			f.Fatal(err)
		}
	}
	opts.Verifier = auth.NewVerifier(testKey)
	opts.MaxSelectors, opts.MaxURLBytes = 8, 512
	return New(h, opts)
}

// answerIsClear: whatever the request, the answer is 200 or a 4xx with a
// JSON error; never a panic, a 500 or a 503.
func answerIsClear(t *testing.T, a *API, r *http.Request) int {
	t.Helper()
	w := httptest.NewRecorder()
	a.ServeHTTP(w, r)
	switch w.Code {
	case http.StatusOK:
		return w.Code
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusGone, http.StatusRequestURITooLong:
	default:
		t.Fatalf("%s %s: status %d %s", r.Method, r.RequestURI, w.Code, w.Body)
	}
	var e errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
		t.Fatalf("%s %s: %d with body %q", r.Method, r.RequestURI, w.Code, w.Body)
	}
	return w.Code
}

func fuzzRequest(method, path, query string, header ...string) *http.Request {
	r := &http.Request{Method: method, URL: &url.URL{Path: path, RawQuery: query}, Header: http.Header{},
		RequestURI: path + "?" + query, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, RemoteAddr: "192.0.2.1:1234"}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] != "" {
			r.Header.Set(header[i], header[i+1])
		}
	}
	return r.WithContext(context.Background())
}

// FuzzSubscribeRequest drives the whole subscribe path (query, selectors,
// token, Last-Event-ID, the hub's Subscribe) with HEAD, which answers what
// GET would without holding a stream.
func FuzzSubscribeRequest(f *testing.F) {
	tok, _ := auth.Sign(testKey, nil, []string{"private"}, 0)
	for _, s := range [][3]string{
		{"topic=t", "", ""}, {"topic=t&topic=%7Bx%7D", "nope", ""}, {"topic=%ZZ", "", ""}, {"topic=a;b", "", ""},
		{"topic=private", "", "Bearer " + tok}, {"topic=t&lastEventID=a%0Ab", "", ""}, {"topic=%FF", "", ""},
		{"topic=*", "x-1", "Bearer bad"}, {"topic={", "-", ""}, {"", "", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	a := fuzzAPI(f, Options{})
	f.Fuzz(func(t *testing.T, query, lastEventID, authz string) {
		r := fuzzRequest(http.MethodHead, "/events", query, "Last-Event-ID", lastEventID, "Authorization", authz)
		if answerIsClear(t, a, r) == http.StatusOK {
			req, err := a.subscribeRequest(httptest.NewRecorder(), r)
			if err != nil || len(req.Topics) > a.opts.MaxSelectors {
				t.Fatalf("200 for %q: %+v, %v", query, req, err)
			}
		}
	})
}

// FuzzHistoryRequest drives GET /history with any query and token.
func FuzzHistoryRequest(f *testing.F) {
	for _, s := range [][2]string{
		{"topic=t", ""}, {"topic=t&limit=1", ""}, {"topic=t&limit=0", ""}, {"topic=t&after=nope", ""},
		{"topic=*&limit=1000&after=x-1", "Bearer x"}, {"topic=%7B", ""}, {"limit=99999999999999999999", ""},
	} {
		f.Add(s[0], s[1])
	}
	a := fuzzAPI(f, Options{})
	f.Fuzz(func(t *testing.T, query, authz string) {
		answerIsClear(t, a, fuzzRequest(http.MethodGet, "/history", query, "Authorization", authz))
	})
}

// FuzzSubscribeBody: no body of any media type makes the decoder of POST
// /events panic; what it accepts is UTF-8 within the selector limit, and
// what it refuses for a limit is answered 413 or 415 with a reason.
func FuzzSubscribeBody(f *testing.F) {
	for _, s := range [][2]string{
		{"application/json", `{"topic":["a","{b}"],"lastEventID":"x-1"}`}, {"application/json", `{"topic":"a"}`},
		{"application/json", `{"topic":"a","topic":"b"}`}, {"application/json", `{"Topic":[1]}`}, {"application/json", `[`},
		{"application/json; charset=utf-8", `{"lastEventID":"a\nb"}`}, {"application/json", "{\"topic\":\"\xff\"}"},
		{"application/x-www-form-urlencoded", "topic=a&topic=b&lastEventID=x"}, {"application/x-www-form-urlencoded", "topic=%FF"},
		{"application/x-www-form-urlencoded", "topic=a&topic=b&topic=c&topic=d&topic=e"}, {"text/plain", "topic=a"}, {"", ""},
	} {
		f.Add(s[0], []byte(s[1]))
	}
	const most = 4
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		s, err := decodeSubscription(contentType, body, most)
		if le := (*limitError)(nil); errors.As(err, &le) {
			if (le.status != http.StatusRequestEntityTooLarge && le.status != http.StatusUnsupportedMediaType) || le.reason == "" {
				t.Fatalf("limit answered %d %q", le.status, le.reason)
			}
			return
		}
		if err != nil {
			return
		}
		if len(s.topics) > most {
			t.Fatalf("accepted %d selectors", len(s.topics))
		}
		for _, v := range append(s.topics, s.lastEventID) {
			if !utf8.ValidString(v) {
				t.Fatalf("accepted %q, not UTF-8", v)
			}
		}
	})
}

// FuzzDecodeSimple: whatever the fast path of decodePublish takes,
// encoding/json (strictUnmarshal) takes too, into the same request.
func FuzzDecodeSimple(f *testing.F) {
	for _, s := range simpleBodies {
		f.Add([]byte(s))
	}
	for _, s := range notSimpleBodies {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		body = bytes.TrimSpace(body) // as decodePublish hands it over
		if !utf8.Valid(body) {
			return // refused before either decoder runs
		}
		fast, ok := decodeSimple(body)
		if !ok {
			return
		}
		var slow publishRequest
		if err := strictUnmarshal(body, &slow); err != nil {
			t.Fatalf("the fast path took %q, encoding/json refuses it: %v", body, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: the fast path gave %+v, encoding/json %+v", body, fast, slow)
		}
	})
}

// simpleBodies are bodies decodeSimple must take itself.
var simpleBodies = []string{
	`{"topic":"t","data":"x"}`, `{}`, `{ "topic" : "t" , "data" : "x" }`,
	"{\n\t\"topic\":\"t\",\r\n\"data\":\"\"}", `{"topics":[]}`, `{"topics":["a","b"],"topic":"c"}`,
	`{"topic":"t","type":"price","id":"p-1","retry":0,"private":false}`,
	`{"topic":"t","retry":123456789012345,"private":true}`, `{"topic":"t","data":"1796181266231246974|xxxx"}`,
	"{\"data\":\"héllo ☃ \u2028 (the character, not an escape)\",\"topic\":\"t\"}",
}

// notSimpleBodies are bodies it must leave to encoding/json.
var notSimpleBodies = []string{
	`{"topic":"t","data":"a\nb"}`, `{"topic":"t","data":{"k":1}}`, `{"topic":"t","data":null}`,
	`{"Topic":"t"}`, `{"topic":"t","topic":"u"}`, `{"topic":"t","extra":1}`, `{"topic":"t",}`,
	`{"topic":"t"} {}`, `{"topic":"t"`, `{"topic":null}`, `{"topics":["a",]}`, `{"topics":"a"}`,
	`{"retry":-1}`, `{"retry":1.5}`, `{"retry":01}`, `{"retry":1e3}`, `{"retry":1234567890123456}`,
	`{"private":"true"}`, `{"private":truex}`, `{"private":nul}`, "{\"topic\":\"a\tb\"}", `[{"topic":"t"}]`,
	`{"id":"a\"b"}`, `{"topic":"t","data":"x"}x`, `{"data":"\u2028"}`,
}

func TestDecodeSimpleTakesTheCommonBodies(t *testing.T) {
	for _, s := range simpleBodies {
		fast, ok := decodeSimple([]byte(s))
		if !ok {
			t.Errorf("%s: left to encoding/json", s)
			continue
		}
		var slow publishRequest
		if err := strictUnmarshal([]byte(s), &slow); err != nil || !reflect.DeepEqual(fast, slow) {
			t.Errorf("%s: fast path %+v, encoding/json %+v (%v)", s, fast, slow, err)
		}
	}
	for _, s := range notSimpleBodies {
		if req, ok := decodeSimple([]byte(s)); ok {
			t.Errorf("%s: taken by the fast path as %+v", s, req)
		}
	}
}
