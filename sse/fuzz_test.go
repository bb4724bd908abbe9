package sse

import (
	"errors"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// referenceParse is the standard's algorithm written as plainly as possible,
// on the whole stream at once, to check the streaming parser against.
func referenceParse(input []byte) parsed {
	text := strings.TrimPrefix(decodeUTF8(input), "\uFEFF")
	var out parsed
	var data, typ, idBuf strings.Builder
	for {
		i := strings.IndexAny(text, "\r\n")
		if i < 0 {
			break // an unfinished line at the end is discarded
		}
		line := text[:i]
		if strings.HasPrefix(text[i:], "\r\n") {
			i++
		}
		text = text[i+1:]
		switch {
		case line == "":
			out.LastID = idBuf.String()
			if data.Len() > 0 {
				ev := Event{ID: out.LastID, Type: typ.String(), Data: strings.TrimSuffix(data.String(), "\n")}
				if ev.Type == "" {
					ev.Type = "message"
				}
				out.Events = append(out.Events, ev)
			}
			data.Reset()
			typ.Reset()
		case line[0] == ':':
			out.Comments = append(out.Comments, strings.TrimPrefix(line[1:], " "))
		default:
			name, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch name {
			case "event":
				typ.Reset()
				typ.WriteString(value)
			case "data":
				data.WriteString(value + "\n")
			case "id":
				if !strings.Contains(value, "\x00") {
					idBuf.Reset()
					idBuf.WriteString(value)
				}
			case "retry":
				if value != "" && strings.Trim(value, "0123456789") == "" {
					n, err := strconv.ParseInt(value, 10, 64)
					out.Retry, out.RetrySet = time.Duration(n)*time.Millisecond, true
					if err != nil || n > math.MaxInt64/int64(time.Millisecond) {
						out.Retry = math.MaxInt64
					}
				}
			}
		}
	}
	out.Err = io.EOF
	return out
}

// cutReader delivers its input in reads whose sizes come from cuts, so the
// fuzzer chooses where the stream is split.
type cutReader struct {
	input []byte
	cuts  []byte
}

func (c *cutReader) Read(b []byte) (int, error) {
	if len(c.input) == 0 {
		return 0, io.EOF
	}
	n := len(c.input)
	if len(c.cuts) > 0 {
		n = min(n, int(c.cuts[0])%8+1)
		c.cuts = c.cuts[1:]
	}
	n = copy(b, c.input[:n])
	c.input = c.input[n:]
	return n, nil
}

func FuzzParse(f *testing.F) {
	for _, tt := range parseTests {
		f.Add([]byte(tt.input), []byte{0, 1, 2, 3}, uint16(0))
	}
	f.Add([]byte("\xEF\xBB\xBFdata: a\r\n\r\n"), []byte{0, 0, 0, 5}, uint16(8))
	f.Add([]byte("data: 0123456789\r\rdata: x\n\n"), []byte{7, 7, 7}, uint16(12))
	f.Fuzz(func(t *testing.T, input, cuts []byte, limit uint16) {
		whole := NewParser(strings.NewReader(string(input)))
		whole.MaxEventSize = int(limit)
		want := parseAll(whole)
		assertWithinLimit(t, whole, want)

		split := NewParser(&cutReader{input: input, cuts: cuts})
		split.MaxEventSize = int(limit)
		if got := parseAll(split); !reflect.DeepEqual(got, want) {
			t.Fatalf("split reads of %q at %v:\n got %+v\nwant %+v", input, cuts, got, want)
		}

		if !errors.Is(want.Err, ErrEventTooLarge) {
			if ref := referenceParse(input); !reflect.DeepEqual(want, ref) {
				t.Fatalf("parse of %q:\n got %+v\nwant %+v (reference)", input, want, ref)
			}
		}
	})
}

// assertWithinLimit checks that neither the events nor the parser's buffers
// outgrew the maximum event size. Decoding can triple the size of invalid
// bytes (each may become the three bytes of U+FFFD).
func assertWithinLimit(t *testing.T, p *Parser, out parsed) {
	limit := p.maxEventSize()
	for _, ev := range out.Events {
		if len(ev.Data)+len(ev.Type) > 3*limit {
			t.Fatalf("event of %d bytes passed a limit of %d", len(ev.Data)+len(ev.Type), limit)
		}
	}
	if n := len(p.dataBuf) + len(p.typeBuf); n > limit {
		t.Fatalf("buffers hold %d bytes for a limit of %d", n, limit)
	}
	if n := cap(p.buf); n > max(readSize, limit+len(bom)+1) {
		t.Fatalf("read buffer of %d bytes for a limit of %d", n, limit)
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add("1", "update", "line 1\nline 2", "", uint32(0))
	f.Add("", "", "", "", uint32(0))
	f.Add(" spaced id", " spaced type", " spaced\r\ndata\r", " note\rmore", uint32(1500))
	f.Add("id", "t", "a\r\rb\n\n", "\n", uint32(1))
	f.Fuzz(func(t *testing.T, id, typ, data, comment string, retryMS uint32) {
		ev := Event{ID: id, Type: typ, Data: data, Comment: comment, Retry: time.Duration(retryMS) * time.Millisecond}
		b, err := ev.AppendTo(nil)
		if err != nil {
			if ev.Validate() == nil {
				t.Fatalf("AppendTo failed on a valid event: %v", err)
			}
			return
		}
		if len(b) > ev.EncodedLen() {
			t.Fatalf("encoding of %d bytes, EncodedLen says at most %d", len(b), ev.EncodedLen())
		}
		for _, s := range []string{id, typ, data, comment} {
			if !utf8.ValidString(s) {
				return // the parser replaces invalid bytes, so they cannot round-trip
			}
		}

		p := NewParser(strings.NewReader(string(b)))
		got := parseAll(p)
		want := Event{ID: id, Type: typ, Data: normalizeNewlines(data)}
		if want.Type == "" {
			want.Type = "message"
		}
		if len(got.Events) != 1 || got.Events[0] != want || got.Err != io.EOF {
			t.Fatalf("%q parsed to %+v, %v; want %+v", b, got.Events, got.Err, want)
		}
		if c := strings.Join(got.Comments, "\n"); c != normalizeNewlines(comment) {
			t.Fatalf("comments %q, want %q", c, normalizeNewlines(comment))
		}
		if retry, set := p.Retry(); retry != ev.Retry || set != (retryMS > 0) {
			t.Fatalf("retry %v (set %v), want %v", retry, set, ev.Retry)
		}
	})
}

func normalizeNewlines(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}
