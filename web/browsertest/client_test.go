package browsertest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/sse"
	"github.com/ssehub/ssehub/web"
)

// parserCases are streams for the browser client's parser, one rule of
// the standard each. A case of several streams is a client reconnecting:
// each stream ends, and the next may start with a BOM again.
var parserCases = []struct {
	name    string
	streams []string
}{
	{"a blank line dispatches", []string{"data: hello\n\n"}},
	{"LF, CRLF and lone CR end lines", []string{"data: a\ndata: b\r\ndata: c\rdata: d\r\n\r\n"}},
	{"CR LF is one line end, CR CR two", []string{"data: a\r\n\r\rdata: b\n\n"}},
	{"a CR at the end of the stream ends the line", []string{"data: a\r\r"}},
	{"data lines join with LF; only the last LF goes", []string{"data: one\ndata\ndata: three\n\ndata\ndata\n\n"}},
	{"one optional space after the colon", []string{"data:a\n\ndata:  b \n\ndata:\tc\n\ndata: d: e:f\n\n"}},
	{"a field without a colon has an empty value", []string{"data\n\n"}},
	{"comments are not events", []string{":hello\n: world\n:\ndata: x\n:  two spaces\n\n"}},
	{"an event without data is not dispatched, its type forgotten", []string{"event: add\nid: 1\n\ndata: x\n\n"}},
	{"event sets the type, the last one wins, it does not persist", []string{"event: a\nevent: b\ndata: x\n\ndata: y\n\nevent:\ndata: z\n\n"}},
	{"the last event id persists and is set without data", []string{"id: 1\ndata: a\n\ndata: b\n\nid: 2\n\ndata: c\n\n"}},
	{"an empty id clears the last event id", []string{"id: 1\ndata: a\n\nid\ndata: b\n\n"}},
	{"an id with NUL is ignored", []string{"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"}},
	{"NUL in data is kept", []string{"data: a\x00b\n\n"}},
	{"retry takes ASCII digits only", []string{"retry: 1500\nretry: 15x\nretry: +1\nretry: -1\nretry: 1.5\nretry:  15\nretry\n"}},
	{"retry zero", []string{"retry: 0\n\n"}},
	{"a huge retry is the longest delay", []string{"retry: 99999999999999999999999\n"}},
	{"unknown fields and other cases are ignored", []string{"color: blue\nData: x\nEVENT: y\ndata : z\ndata: w\n\n"}},
	{"an unfinished event at the end is discarded", []string{"data: a\n\nid: 7\ndata: b\n"}},
	{"an unfinished line at the end is discarded", []string{"data: a\n\ndata: b"}},
	{"one leading BOM is skipped", []string{"\uFEFF\uFEFFdata: a\n\ndata: \uFEFFb\n\n"}},
	{"a partial BOM is an invalid byte", []string{"\xEF\xBB\ndata: a\n\n"}},
	{"invalid UTF-8 becomes U+FFFD", []string{"data: a\xFFb\n\ndata: \xE2\x82A\n\ndata: \xED\xA0\x80\n\ndata: \xC0\xAF\n\nevent: t\xFF\nid: i\xFF\ndata: €豆腐\n\n:\xFF\n"}},
	{"a truncated sequence before a line end", []string{"data: \xF0\x9F\x98\ndata: x\n\n"}},
	{"a reconnection keeps the id and retry, and skips a new BOM", []string{"id: 5\nretry: 700\ndata: a\n\ndata: lost", "\uFEFFdata: b\n\nid: 6\n", "data: c\n\n"}},
	{"an unfinished CR at a stream's end does not eat the next stream's LF", []string{"data: a\r", "\ndata: b\n\n"}},
}

// parseResult is what a parser made of a case, the same in Go and in JS.
type parseResult struct {
	Events   []parsedEvent `json:"events"`
	Comments []string      `json:"comments"`
	LastID   string        `json:"lastEventId"`
	Retry    *int64        `json:"retry"`
}

type parsedEvent struct {
	Type string `json:"type"`
	Data string `json:"data"`
	ID   string `json:"lastEventId"`
}

// maxDelay is the longest timeout a browser keeps; the client caps retry
// there, so the reference does too.
const maxDelay = math.MaxInt32

// parseInGo runs package sse's parser, the project's reference for the
// standard, over the streams of a case.
func parseInGo(t *testing.T, streams []string) parseResult {
	t.Helper()
	res := parseResult{Events: []parsedEvent{}, Comments: []string{}}
	p := sse.NewParser(strings.NewReader(streams[0]))
	p.OnComment = func(s string) { res.Comments = append(res.Comments, s) }
	for i := range streams {
		if i > 0 {
			p.Reset(strings.NewReader(streams[i]))
		}
		for {
			ev, err := p.Next()
			if errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			res.Events = append(res.Events, parsedEvent{ev.Type, ev.Data, ev.ID})
		}
	}
	res.LastID = p.LastEventID()
	if d, ok := p.Retry(); ok {
		ms := min(d.Milliseconds(), maxDelay)
		res.Retry = &ms
	}
	return res
}

// parseInBrowser feeds the streams of a case to ssehub.js's parser in the
// page, split as split says: "whole", "bytewise" or "halves".
const parseInBrowser = `(async (streams, split) => {
	const { EventStreamParser } = await import('/ssehub.js');
	const p = new EventStreamParser();
	const res = { events: [], comments: [], lastEventId: '', retry: null };
	p.oncomment = (c) => res.comments.push(c);
	for (const b64 of streams) {
		const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
		let chunks = [bytes];
		if (split === 'bytewise') chunks = Array.from(bytes, (b) => Uint8Array.of(b));
		if (split === 'halves') chunks = [bytes.slice(0, bytes.length >> 1), bytes.slice(bytes.length >> 1)];
		for (const c of chunks) res.events.push(...p.feed(c));
		p.end();
	}
	res.lastEventId = p.lastEventId;
	res.retry = p.retry;
	return res;
})`

// TestClientParserMatchesTheSpecParser runs every case through the
// browser client's parser, in real Chromium, whole, a byte at a time and
// in halves, and expects exactly what package sse's parser reports.
func TestClientParserMatchesTheSpecParser(t *testing.T) {
	base := startHub(t)
	b := newBrowser(t)
	run(t, b.ctx, chromedp.Navigate(base+"/"))
	for _, tc := range parserCases {
		t.Run(tc.name, func(t *testing.T) {
			want := parseInGo(t, tc.streams)
			var enc []string
			for _, s := range tc.streams {
				enc = append(enc, base64.StdEncoding.EncodeToString([]byte(s)))
			}
			args, _ := json.Marshal(enc)
			for _, split := range []string{"whole", "bytewise", "halves"} {
				got := eval[parseResult](t, b.ctx, parseInBrowser+"("+string(args)+", '"+split+"')", chromedp.EvalAwaitPromise)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: %q\n got %+v\nwant %+v", split, tc.streams, got, want)
				}
			}
		})
	}
}

// TestClientBackoff: the first reconnection after an open stream waits
// the reconnection time exactly, as EventSource does; failed attempts in a
// row double it, up to the cap, with up to half again of jitter.
func TestClientBackoff(t *testing.T) {
	base := startHub(t)
	b := newBrowser(t)
	run(t, b.ctx, chromedp.Navigate(base+"/"))
	got := eval[[]float64](t, b.ctx, `import('/ssehub.js').then(({ backoff }) => [
		backoff(0, 1000, 30000, () => 0.99),
		backoff(1, 1000, 30000, () => 0), backoff(1, 1000, 30000, () => 0.999),
		backoff(2, 1000, 30000, () => 0), backoff(3, 1000, 30000, () => 0.5),
		backoff(10, 1000, 30000, () => 0), backoff(10, 1000, 30000, () => 0.999),
		backoff(0, 1e12, 30000, () => 0),
	])`, chromedp.EvalAwaitPromise)
	want := []float64{1000, 2000, 2999, 4000, 10000, 30000, 44985, maxDelay}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("backoff: got %v, want %v", got, want)
	}
}

// TestDashboardTailShowsEveryTypeAndPrivateEvents: the dashboard's tail
// reads through /ssehub.js, so it shows an event type nobody told it
// about and, with a subscriber token in the header, private events; a
// refused token is said on the page.
func TestDashboardTailShowsEveryTypeAndPrivateEvents(t *testing.T) {
	base := startHub(t)
	b := newBrowser(t)
	reader, err := auth.Sign(testKey, nil, []string{"vault/{id}"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	run(t, b.ctx, chromedp.Navigate(base+"/"))
	run(t, b.ctx,
		chromedp.SetValue(chromedp.CSS(`#selector`), "vault/{id}"),
		chromedp.SetValue(chromedp.CSS(`#s-token`), reader),
		chromedp.Click(chromedp.CSS(`#filter button[type=submit]`)))
	waitFor(t, b.ctx, "the tail to watch with the token", `document.querySelector('#tail-state').textContent.startsWith('Watching vault/{id} (every event type, private events included)')`, 5*time.Second)
	publishHTTP(t, base, `{"topic":"vault/7","type":"never-listed","data":"hidden","private":true}`)
	waitFor(t, b.ctx, "the private event of an unlisted type", `[...document.querySelectorAll('#tail li')].some(li => li.querySelector('.tag').textContent === 'never-listed' && li.querySelector('.data').textContent === 'hidden')`, 5*time.Second)

	b.expect("status of 401")
	run(t, b.ctx, chromedp.SetValue(chromedp.CSS(`#s-token`), "forged"), chromedp.Click(chromedp.CSS(`#filter button[type=submit]`)))
	waitFor(t, b.ctx, "the refusal", `document.querySelector('#tail-state').textContent.startsWith('The hub refused the stream (401)')`, 5*time.Second)
}

func publishHTTP(t *testing.T, base, body string) {
	t.Helper()
	token, err := auth.Sign(testKey, []string{"*"}, nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/publish", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("publish %s: %s", body, resp.Status)
	}
}

// TestClientAnswersToStatuses runs the client against a scripted server:
// a 503 is retried no sooner than its Retry-After, a 429 and a 502 are
// retried too, an ended stream is
// reconnected after its retry with Last-Event-ID and a token asked for
// again, and a 404 or a 200 that is not an event stream close the source.
func TestClientAnswersToStatuses(t *testing.T) {
	site, err := web.New(web.Options{})
	if err != nil {
		t.Fatal(err)
	}
	type attempt struct {
		at                  time.Time
		lastEventID, bearer string
	}
	attempts := make(chan attempt, 10)
	mux := http.NewServeMux()
	site.Register(mux)
	n := 0
	mux.HandleFunc("GET /scripted", func(w http.ResponseWriter, r *http.Request) {
		attempts <- attempt{time.Now(), r.Header.Get("Last-Event-ID"), r.Header.Get("Authorization")}
		n++
		switch n {
		case 1:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case 2:
			http.Error(w, "slow down", http.StatusTooManyRequests)
		case 3:
			http.Error(w, "bad gateway", http.StatusBadGateway)
		case 4:
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "retry: 50\nid: a-1\ndata: first\n\n") // then the stream ends
		default:
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: second\n\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	})
	mux.HandleFunc("GET /blank", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<!doctype html><title>blank</title><link rel="icon" href="data:,">`)
	})
	var steady atomic.Int32
	mux.HandleFunc("GET /steady", func(w http.ResponseWriter, r *http.Request) {
		steady.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: a\n\ndata: b\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	mux.HandleFunc("GET /plain", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "data: x\n\n") })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	b := newBrowser(t)
	b.expect("boom from a handler")
	for _, status := range []string{"503", "429", "502"} {
		b.expect("status of " + status)
	}
	b.expect("status of 404")
	run(t, b.ctx, chromedp.Navigate(srv.URL+"/blank"))
	eval[bool](t, b.ctx, `(async () => {
		const { HubSource } = await import('/ssehub.js');
		let tokens = 0;
		const w = window.w = { got: [], errors: [], opens: 0 };
		const src = w.src = new HubSource('/scripted', { token: () => 'tok-' + (++tokens), retry: 10 });
		src.onopen = () => w.opens++;
		src.onerror = (e) => w.errors.push(e.status);
		src.onmessage = (e) => w.got.push(e.data + '@' + e.lastEventId);
		// A handler that throws is reported, and does not end the stream.
		const steady = w.steady = new HubSource('/steady', { retry: 10 });
		w.steadyGot = [];
		steady.onmessage = (e) => { w.steadyGot.push(e.data); if (e.data === 'a') throw new Error('boom from a handler'); };
		for (const path of ['/nothing-here', '/plain']) {
			const s = new HubSource(path, { retry: 10 });
			s.onerror = (e) => w.errors.push(path + ' ' + e.status + ' ' + s.readyState);
		}
		return true;
	})()`, chromedp.EvalAwaitPromise)
	waitFor(t, b.ctx, "two events", `w.got.length === 2`, 10*time.Second)
	if got := eval[[]string](t, b.ctx, `w.got`); strings.Join(got, "|") != "first@a-1|second@a-1" {
		t.Errorf("received %q", got)
	}
	var seen []attempt
	for range 5 {
		seen = append(seen, <-attempts)
	}
	if d := seen[1].at.Sub(seen[0].at); d < time.Second {
		t.Errorf("retried a 503 with Retry-After: 1 after %v", d)
	}
	if seen[3].lastEventID != "" || seen[4].lastEventID != "a-1" {
		t.Errorf("Last-Event-ID sent: %q, then %q; want none, then a-1", seen[3].lastEventID, seen[4].lastEventID)
	}
	if seen[0].bearer != "Bearer tok-1" || seen[4].bearer != "Bearer tok-5" {
		t.Errorf("Authorization sent: %q … %q; want the token function asked at every attempt", seen[0].bearer, seen[4].bearer)
	}
	if errs := eval[[]any](t, b.ctx, `w.errors.filter((e) => typeof e === 'number')`); fmt.Sprint(errs) != "[503 429 502 0]" {
		t.Errorf("the source reported %v; want each retried status, then 0 for the ended stream", errs)
	}
	waitFor(t, b.ctx, "both refusals", `w.errors.filter((e) => typeof e === 'string').length === 2`, 5*time.Second)
	errs := eval[[]any](t, b.ctx, `w.errors`)
	var final []string
	for _, e := range errs {
		if s, ok := e.(string); ok {
			final = append(final, s)
		}
	}
	slices.Sort(final)
	if strings.Join(final, "|") != "/nothing-here 404 2|/plain 200 2" {
		t.Errorf("refused sources reported %q; want each closed (readyState 2) after one attempt", final)
	}
	waitFor(t, b.ctx, "both events despite the throwing handler", `w.steadyGot.join() === 'a,b'`, 5*time.Second)
	if n := steady.Load(); n != 1 || eval[int](t, b.ctx, `w.steady.readyState`) != 1 {
		t.Errorf("a throwing handler: %d connections, readyState %d; want 1 connection still open", n, eval[int](t, b.ctx, `w.steady.readyState`))
	}
	eval[bool](t, b.ctx, `w.src.close(), w.steady.close(), true`)
}
