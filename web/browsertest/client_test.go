package browsertest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/ssehub/ssehub/sse"
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
