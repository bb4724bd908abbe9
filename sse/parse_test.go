package sse

import (
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// parsed is everything a parser reports about one stream.
type parsed struct {
	Events   []Event
	Comments []string
	LastID   string
	Retry    time.Duration
	RetrySet bool
	Err      error
}

// parseAll runs p to the end of its stream.
func parseAll(p *Parser) parsed {
	var out parsed
	p.OnComment = func(text string) { out.Comments = append(out.Comments, text) }
	for {
		ev, err := p.Next()
		if err != nil {
			out.Err = err
			break
		}
		out.Events = append(out.Events, ev)
	}
	out.LastID = p.LastEventID()
	out.Retry, out.RetrySet = p.Retry()
	return out
}

func msg(data string) Event { return Event{Type: "message", Data: data} }

func ptr[T any](v T) *T { return &v }

func ms(n int) *time.Duration { return ptr(time.Duration(n) * time.Millisecond) }

// readers returns the ways a test stream is delivered: in one read, one byte
// per read, and in reads of half of what was asked for.
func readers(input string) map[string]io.Reader {
	return map[string]io.Reader{
		"whole":    strings.NewReader(input),
		"bytewise": iotest.OneByteReader(strings.NewReader(input)),
		"halves":   iotest.HalfReader(strings.NewReader(input)),
		"data+EOF": iotest.DataErrReader(strings.NewReader(input)),
	}
}

// The cases follow the standard's section "Interpreting an event stream",
// one rule each.
var parseTests = []struct {
	name     string
	input    string
	events   []Event
	comments []string
	lastID   string
	retry    *time.Duration // nil: no retry set
}{
	{name: "a blank line dispatches the event", input: "data: hello\n\n", events: []Event{msg("hello")}},
	{name: "lines end at CRLF", input: "data: a\r\ndata: b\r\n\r\n", events: []Event{msg("a\nb")}},
	{name: "lines end at a lone CR", input: "data: a\rdata: b\r\r", events: []Event{msg("a\nb")}},
	{name: "line endings may be mixed", input: "data: a\rdata: b\r\ndata: c\n\r\n", events: []Event{msg("a\nb\nc")}},
	{name: "CR LF is one line end, CR CR is two", input: "data: a\r\n\r\rdata: b\n\n", events: []Event{msg("a"), msg("b")}},
	{name: "data lines are joined with LF", input: "data: one\ndata: two\ndata: three\n\n", events: []Event{msg("one\ntwo\nthree")}},
	{name: "only the final LF of the data buffer is removed", input: "data\ndata\n\n", events: []Event{msg("\n")}},
	{name: "an empty data field dispatches empty data", input: "data:\n\n", events: []Event{msg("")}},
	{name: "a field without colon has an empty value", input: "data\n\n", events: []Event{msg("")}},
	{name: "one space after the colon is removed", input: "data: a\n\n", events: []Event{msg("a")}},
	{name: "the space after the colon is optional", input: "data:a\n\n", events: []Event{msg("a")}},
	{name: "only one space after the colon is removed", input: "data:  a \n\n", events: []Event{msg(" a ")}},
	{name: "a tab after the colon is kept", input: "data:\ta\n\n", events: []Event{msg("\ta")}},
	{name: "the value runs from the first colon", input: "data: a: b:c\n\n", events: []Event{msg("a: b:c")}},
	{name: "blank lines between events dispatch nothing", input: "\n\n\ndata: a\n\n\n\ndata: b\n\n", events: []Event{msg("a"), msg("b")}},
	{name: "an event without data is not dispatched", input: "event: add\nid: 1\n\n", lastID: "1"},
	{name: "an undispatched event's type is forgotten", input: "event: add\n\ndata: x\n\n", events: []Event{msg("x")}},
	{name: "the type is message when none is given", input: "data: x\n\n", events: []Event{{Type: "message", Data: "x"}}},
	{name: "event sets the type", input: "event: add\ndata: x\n\n", events: []Event{{Type: "add", Data: "x"}}},
	{name: "the last event field wins", input: "event: a\nevent: b\ndata: x\n\n", events: []Event{{Type: "b", Data: "x"}}},
	{name: "the type does not persist", input: "event: add\ndata: x\n\ndata: y\n\n", events: []Event{{Type: "add", Data: "x"}, msg("y")}},
	{name: "an empty event field means message", input: "event:\ndata: x\n\n", events: []Event{msg("x")}},
	{name: "fields may come in any order", input: "data: x\nid: 7\nevent: add\n\n", events: []Event{{ID: "7", Type: "add", Data: "x"}}, lastID: "7"},
	{name: "id sets the last event ID", input: "id: 42\ndata: x\n\n", events: []Event{{ID: "42", Type: "message", Data: "x"}}, lastID: "42"},
	{name: "the last event ID persists across events", input: "id: 1\ndata: a\n\ndata: b\n\n", events: []Event{{ID: "1", Type: "message", Data: "a"}, {ID: "1", Type: "message", Data: "b"}}, lastID: "1"},
	{name: "an empty id clears the last event ID", input: "id: 1\ndata: a\n\nid\ndata: b\n\n", events: []Event{{ID: "1", Type: "message", Data: "a"}, msg("b")}},
	{name: "an id containing NUL is ignored", input: "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", events: []Event{{ID: "1", Type: "message", Data: "a"}, {ID: "1", Type: "message", Data: "b"}}, lastID: "1"},
	{name: "an id without data still sets the last event ID", input: "id: 9\n\n", lastID: "9"},
	{name: "retry sets the reconnection time in milliseconds", input: "retry: 1500\n", retry: ms(1500)},
	{name: "retry zero is a reconnection time", input: "retry: 0\n", retry: ms(0)},
	{name: "retry with a non-digit is ignored", input: "retry: 1500\nretry: 15x\n", retry: ms(1500)},
	{name: "retry with a sign is ignored", input: "retry: +15\nretry: -15\n"},
	{name: "retry with a fraction is ignored", input: "retry: 1.5\n"},
	{name: "retry with an extra space is ignored", input: "retry:  15\n"},
	{name: "an empty retry is ignored", input: "retry\nretry:\n"},
	{name: "a huge retry is the longest duration", input: "retry: 99999999999999999999999\n", retry: ptr(time.Duration(math.MaxInt64))},
	{name: "retry does not make an event", input: "retry: 10\n\n", retry: ms(10)},
	{name: "unknown fields are ignored", input: "color: blue\ndata: x\n\n", events: []Event{msg("x")}},
	{name: "field names are case-sensitive", input: "Data: x\nEVENT: y\n\n"},
	{name: "a field name with a trailing space is unknown", input: "data : x\n\n"},
	{name: "comments are reported, not dispatched", input: ":hello\n: world\n:\n\n", comments: []string{"hello", "world", ""}},
	{name: "comments may sit inside an event", input: "data: a\n: note\ndata: b\n\n", events: []Event{msg("a\nb")}, comments: []string{"note"}},
	{name: "an unfinished event at the end is discarded", input: "data: a\n\ndata: b\n", events: []Event{msg("a")}},
	{name: "an unfinished line at the end is discarded", input: "data: a\n\ndata: b", events: []Event{msg("a")}},
	{name: "the id of an unfinished event is not applied", input: "id: 1\ndata: a\n\nid: 2\ndata: b\n", events: []Event{{ID: "1", Type: "message", Data: "a"}}, lastID: "1"},
	{name: "a leading BOM is skipped", input: "\uFEFFdata: a\n\n", events: []Event{msg("a")}},
	{name: "a BOM alone is an empty stream", input: "\uFEFF"},
	{name: "only one leading BOM is skipped", input: "\uFEFF\uFEFFdata: a\n\ndata: b\n\n", events: []Event{msg("b")}},
	{name: "a BOM after the start is data", input: "data: \uFEFFa\n\n", events: []Event{msg("\uFEFFa")}},
	{name: "a partial BOM is an invalid byte", input: "\xEF\xBB\ndata: a\n\n", events: []Event{msg("a")}},
	{name: "multi-byte characters are kept", input: "data: €豆腐\n\n", events: []Event{msg("€豆腐")}},
	{name: "an invalid byte becomes U+FFFD", input: "data: a\xFFb\n\n", events: []Event{msg("a\uFFFDb")}},
	{name: "a truncated sequence becomes one U+FFFD", input: "data: \xE2\x82A\n\n", events: []Event{msg("\uFFFDA")}},
	{name: "a truncated sequence before a line end becomes one U+FFFD", input: "data: \xF0\x9F\x98\ndata: x\n\n", events: []Event{msg("\uFFFD\nx")}},
	{name: "an encoded surrogate becomes one U+FFFD per byte", input: "data: \xED\xA0\x80\n\n", events: []Event{msg("\uFFFD\uFFFD\uFFFD")}},
	{name: "an overlong encoding becomes one U+FFFD per byte", input: "data: \xC0\xAF\n\n", events: []Event{msg("\uFFFD\uFFFD")}},
	{name: "invalid bytes in type and id are replaced", input: "event: a\xFF\nid: b\xFF\ndata: x\n\n", events: []Event{{ID: "b\uFFFD", Type: "a\uFFFD", Data: "x"}}, lastID: "b\uFFFD"},
	{name: "invalid bytes in comments are replaced", input: ":\xFF\n", comments: []string{"\uFFFD"}},
	{name: "NUL in data is kept", input: "data: a\x00b\n\n", events: []Event{msg("a\x00b")}},
}

func TestParser(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(tt.name, func(t *testing.T) {
			want := parsed{Events: tt.events, Comments: tt.comments, LastID: tt.lastID, Err: io.EOF}
			if tt.retry != nil {
				want.Retry, want.RetrySet = *tt.retry, true
			}
			for how, r := range readers(tt.input) {
				got := parseAll(NewParser(r))
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s reads of %q:\n got %+v\nwant %+v", how, tt.input, got, want)
				}
			}
		})
	}
}

// chunkReader returns one chunk per Read, as a network connection might.
type chunkReader struct{ chunks []string }

func (c *chunkReader) Read(b []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(b, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	if c.chunks[0] == "" {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

func TestParserSplitReads(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		want   []Event
	}{
		{"a CR ending one read and a LF starting the next are one line end",
			[]string{"data: Hello\r", "\ndata: World\r", "\n\r\ndata: OK\r", "\n", "\r", "\n"},
			[]Event{msg("Hello\nWorld"), msg("OK")}},
		{"a BOM split across reads is skipped",
			[]string{"\xEF", "\xBB", "\xBF", "data: a\n\n"}, []Event{msg("a")}},
		{"a multi-byte character split across reads is kept",
			[]string{"data: \xE2", "\x82", "\xAC\n\n"}, []Event{msg("€")}},
		{"an event split across reads is dispatched once",
			[]string{"data: te", "st\n", "\ndata:", "x\n\n"}, []Event{msg("test"), msg("x")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseAll(NewParser(&chunkReader{chunks: tt.chunks}))
			if !reflect.DeepEqual(got.Events, tt.want) || got.Err != io.EOF {
				t.Errorf("got %+v, %v; want %+v, EOF", got.Events, got.Err, tt.want)
			}
		})
	}
}

// A client must see an event as soon as its blank line arrives, even when
// that line ends with a CR whose possible LF has not arrived yet.
func TestParserDispatchesWithoutWaitingForMoreInput(t *testing.T) {
	for _, input := range []string{"data: a\n\n", "data: a\r\r", "data: a\r\n\r"} {
		pr, pw := io.Pipe()
		go func() {
			_, _ = pw.Write([]byte(input))
			// The write returns once Next has taken the bytes; the stream stays
			// open until Next has returned.
		}()
		p := NewParser(pr)
		ev, err := p.Next()
		if err != nil || ev != msg("a") {
			t.Errorf("%q: Next = %+v, %v; want the event before the stream ends", input, ev, err)
		}
		pw.Close()
		if _, err := p.Next(); err != io.EOF {
			t.Errorf("%q: after close, Next error = %v, want EOF", input, err)
		}
	}
}

func TestParserMaxEventSize(t *testing.T) {
	const limit = 16
	tests := []struct {
		name    string
		input   string
		events  []Event
		tooBig  bool
		comment string
	}{
		{name: "an event of exactly the limit passes", input: "data: 0123456789\n\n", events: []Event{msg("0123456789")}},
		{name: "a line over the limit fails", input: "data: 0123456789A\n\n", tooBig: true},
		{name: "an unterminated line over the limit fails", input: "data: 0123456789A", tooBig: true},
		{name: "a comment line over the limit fails", input: ": 0123456789ABCDEF\n", tooBig: true},
		{name: "data lines adding up over the limit fail", input: "data: 01234\ndata: 56789\n\n", tooBig: true},
		{name: "data and type adding up over the limit fail", input: "event: 012345\ndata: 01234\n\n", tooBig: true},
		{name: "events before the failing one are delivered", input: "data: a\n\ndata: 0123456789ABCDEF\n\n", events: []Event{msg("a")}, tooBig: true},
		{name: "dispatching frees the room", input: "data: 0123456789\n\ndata: 0123456789\n\n", events: []Event{msg("0123456789"), msg("0123456789")}},
		{name: "comments between events do not add up", input: ": 0123456789ABC\n: 0123456789ABC\n:0123456789ABCD\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for how, r := range readers(tt.input) {
				p := NewParser(r)
				p.MaxEventSize = limit
				got := parseAll(p)
				if !reflect.DeepEqual(got.Events, tt.events) {
					t.Errorf("%s: events = %+v, want %+v", how, got.Events, tt.events)
				}
				if errors.Is(got.Err, ErrEventTooLarge) != tt.tooBig {
					t.Errorf("%s: error = %v, want ErrEventTooLarge: %v", how, got.Err, tt.tooBig)
				}
				if _, err := p.Next(); err != got.Err {
					t.Errorf("%s: the error is not sticky: %v then %v", how, got.Err, err)
				}
			}
		})
	}
}

// A stream that never ends its line must not make the parser's memory grow
// beyond the limit.
func TestParserMemoryIsBounded(t *testing.T) {
	const limit = 1 << 20
	endless := io.MultiReader(strings.NewReader("data: "), infiniteReader{'x'})
	p := NewParser(endless)
	p.MaxEventSize = limit
	if _, err := p.Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("Next error = %v, want ErrEventTooLarge", err)
	}
	if held := cap(p.buf) + cap(p.dataBuf) + cap(p.typeBuf) + cap(p.idBuf); held > limit+len(bom)+1 {
		t.Errorf("parser holds %d bytes for a limit of %d", held, limit)
	}
}

type infiniteReader struct{ b byte }

func (r infiniteReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.b
	}
	return len(p), nil
}

func TestParserReportsReadErrorsAfterTheData(t *testing.T) {
	broken := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(broken))
	got := parseAll(NewParser(r))
	if !reflect.DeepEqual(got.Events, []Event{msg("a")}) || got.Err != broken {
		t.Errorf("got %+v, %v; want event a then %v", got.Events, got.Err, broken)
	}
}

func TestParserGivesUpOnAReaderThatReturnsNothing(t *testing.T) {
	_, err := NewParser(emptyReader{}).Next()
	if err != io.ErrNoProgress {
		t.Errorf("Next error = %v, want io.ErrNoProgress", err)
	}
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

func TestParserResetStartsANewStreamKeepingIDAndRetry(t *testing.T) {
	p := NewParser(strings.NewReader("retry: 250\nid: 1\ndata: a\n\nid: 2\nevent: x\ndata: partial"))
	first := parseAll(p)
	if len(first.Events) != 1 || first.LastID != "1" {
		t.Fatalf("first stream: %+v", first)
	}
	p.Reset(strings.NewReader("\uFEFFdata: b\n\n"))
	second := parseAll(p)
	want := parsed{
		Events: []Event{{ID: "1", Type: "message", Data: "b"}},
		LastID: "1", Retry: 250 * time.Millisecond, RetrySet: true, Err: io.EOF,
	}
	if !reflect.DeepEqual(second, want) {
		t.Errorf("after Reset:\n got %+v\nwant %+v", second, want)
	}
}

func TestParserSetLastEventID(t *testing.T) {
	p := NewParser(strings.NewReader("data: a\n\nid\ndata: b\n\n"))
	p.SetLastEventID("41")
	got := parseAll(p)
	want := []Event{{ID: "41", Type: "message", Data: "a"}, msg("b")}
	if !reflect.DeepEqual(got.Events, want) || got.LastID != "" {
		t.Errorf("got %+v (last id %q), want %+v and a cleared id", got.Events, got.LastID, want)
	}
}

func TestDecodeUTF8(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"\xEF\xBF\xBD", "\uFFFD"}, // an encoded U+FFFD is valid
		{"\xFF\xFE", "\uFFFD\uFFFD"},
		{"\xC3", "\uFFFD"},
		{"\xC3(", "\uFFFD("},
		{"\xE0\x80\x80", "\uFFFD\uFFFD\uFFFD"},           // overlong: E0 needs A0..BF next
		{"\xE0\xA0", "\uFFFD"},                           // truncated, maximal subpart
		{"\xF0\x90\x80", "\uFFFD"},                       // truncated four-byte sequence
		{"\xF4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"}, // above U+10FFFF
		{"\xF4\x8F\xBF\xBF", "\U0010FFFF"},
		{"a\x80b", "a\uFFFDb"},
	}
	for _, tt := range tests {
		if got := decodeUTF8([]byte(tt.in)); got != tt.want {
			t.Errorf("decodeUTF8(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// countingReader counts the reads made of it.
type countingReader struct {
	r     io.Reader
	reads int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads++
	return c.r.Read(p)
}

// A MaxEventSize as large as an int can hold, as a program sets to lift the
// limit, must still let the read buffer double when a long line fills it:
// the limit plus the room for a BOM must not overflow into a buffer that
// grows one byte per read.
func TestParserHugeMaxEventSizeStillGrowsTheBufferByDoubling(t *testing.T) {
	long := strings.Repeat("x", 4*readSize)
	r := &countingReader{r: strings.NewReader("data: " + long + "\n\n")}
	p := NewParser(r)
	p.MaxEventSize = math.MaxInt
	ev, err := p.Next()
	if err != nil || ev.Data != long {
		t.Fatalf("Next = %d bytes of data, %v; want the %d-byte line", len(ev.Data), err, len(long))
	}
	if r.reads > 8 {
		t.Errorf("a %d-byte line took %d reads, want the buffer to double (a handful of reads)", len(long), r.reads)
	}
}
