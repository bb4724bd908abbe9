package sse

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// The cases follow the standard's event stream format: one "field: value"
// line per field, data split at every line ending, a blank line at the end.
var encodeTests = []struct {
	name  string
	event Event
	want  string
}{
	{"data alone", Event{Data: "hello"}, "data: hello\n\n"},
	{"multi-line data splits at LF", Event{Data: "a\nb"}, "data: a\ndata: b\n\n"},
	{"multi-line data splits at CRLF", Event{Data: "a\r\nb"}, "data: a\ndata: b\n\n"},
	{"multi-line data splits at a lone CR", Event{Data: "a\rb"}, "data: a\ndata: b\n\n"},
	{"CR CR is two line ends", Event{Data: "a\r\rb"}, "data: a\ndata:\ndata: b\n\n"},
	{"a final line end gives an empty last line", Event{Data: "a\n"}, "data: a\ndata:\n\n"},
	{"empty data is one empty data field", Event{}, "data:\n\n"},
	{"a value starting with a space keeps it", Event{Data: " a"}, "data:  a\n\n"},
	{"id and event come before data", Event{ID: "7", Type: "add", Data: "x"}, "id: 7\nevent: add\ndata: x\n\n"},
	{"an id starting with a space keeps it", Event{ID: " 7", Data: "x"}, "id:  7\ndata: x\n\n"},
	{"retry is written in milliseconds", Event{Retry: 1500 * time.Millisecond, Data: "x"}, "retry: 1500\ndata: x\n\n"},
	{"a retry under a millisecond is not sent as 0 (reconnect at once)", Event{Retry: 300 * time.Microsecond, Data: "x"}, "retry: 1\ndata: x\n\n"},
	{"a comment comes first", Event{Comment: "note", Data: "x"}, ": note\ndata: x\n\n"},
	{"a multi-line comment is one comment line per line", Event{Comment: "a\r\nb\rc", Data: "x"}, ": a\n: b\n: c\ndata: x\n\n"},
	{"everything", Event{Comment: "c", ID: "1", Type: "t", Retry: time.Second, Data: "d"}, ": c\nid: 1\nevent: t\nretry: 1000\ndata: d\n\n"},
}

func TestEventAppendTo(t *testing.T) {
	for _, tt := range encodeTests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("previous event\n\n")
			got, err := tt.event.AppendTo(prefix)
			if err != nil {
				t.Fatalf("AppendTo: %v", err)
			}
			if !bytes.HasPrefix(got, prefix) || string(got[len(prefix):]) != tt.want {
				t.Errorf("AppendTo = %q, want %q after the prefix", got, tt.want)
			}
			if n := tt.event.EncodedLen(); n < len(tt.want) {
				t.Errorf("EncodedLen = %d, below the %d bytes written", n, len(tt.want))
			}
			text, err := tt.event.MarshalText()
			if err != nil || string(text) != tt.want {
				t.Errorf("MarshalText = %q, %v; want %q", text, err, tt.want)
			}
			var sb strings.Builder
			n, err := tt.event.WriteTo(&sb)
			if err != nil || sb.String() != tt.want || n != int64(len(tt.want)) {
				t.Errorf("WriteTo wrote %q (n=%d), %v; want %q", sb.String(), n, err, tt.want)
			}
		})
	}
}

// Each encoded event parses back to itself: what the encoder writes is what
// the standard's parser reads.
func TestEncodedEventsParseBack(t *testing.T) {
	for _, tt := range encodeTests {
		got := parseAll(NewParser(strings.NewReader(tt.want)))
		want := Event{ID: tt.event.ID, Type: tt.event.Type, Data: normalizeNewlines(tt.event.Data)}
		if want.Type == "" {
			want.Type = "message"
		}
		if len(got.Events) != 1 || got.Events[0] != want {
			t.Errorf("%s: parsed back to %+v, want %+v", tt.name, got.Events, want)
		}
	}
}

func TestEventAppendToRejectsInjection(t *testing.T) {
	tests := []struct {
		name  string
		event Event
		want  error
	}{
		{"an id with LF", Event{ID: "1\ndata: injected", Data: "x"}, ErrInvalidID},
		{"an id with CR", Event{ID: "1\r", Data: "x"}, ErrInvalidID},
		{"an id with NUL", Event{ID: "1\x00", Data: "x"}, ErrInvalidID},
		{"a type with LF", Event{Type: "a\n\ndata: injected", Data: "x"}, ErrInvalidType},
		{"a type with CR", Event{Type: "a\r", Data: "x"}, ErrInvalidType},
		{"a negative retry", Event{Retry: -time.Second, Data: "x"}, ErrInvalidRetry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := make([]byte, 5, 64)
			copy(dst, "keep!")
			got, err := tt.event.AppendTo(dst)
			if !errors.Is(err, tt.want) {
				t.Errorf("AppendTo error = %v, want %v", err, tt.want)
			}
			if string(got) != "keep!" || string(dst[:cap(dst)][5:10]) != "\x00\x00\x00\x00\x00" {
				t.Errorf("AppendTo changed dst to %q", got)
			}
			if _, err := tt.event.MarshalText(); !errors.Is(err, tt.want) {
				t.Errorf("MarshalText error = %v, want %v", err, tt.want)
			}
			var sb strings.Builder
			if _, err := tt.event.WriteTo(&sb); !errors.Is(err, tt.want) || sb.Len() != 0 {
				t.Errorf("WriteTo wrote %q, error %v; want nothing and %v", sb.String(), err, tt.want)
			}
		})
	}
}

func TestValidIDAndType(t *testing.T) {
	for id, want := range map[string]bool{"": true, "a b:c": true, "a\n": false, "a\r": false, "a\x00": false} {
		if got := ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
	for typ, want := range map[string]bool{"": true, "a\x00": true, "a\n": false, "a\r": false} {
		if got := ValidType(typ); got != want {
			t.Errorf("ValidType(%q) = %v, want %v", typ, got, want)
		}
	}
}

func TestAppendComment(t *testing.T) {
	tests := []struct{ text, want string }{
		{"", ":\n"},
		{"keep-alive", ": keep-alive\n"},
		{"a\nb", ": a\n: b\n"},
		{"a\r\n", ": a\n:\n"},
	}
	for _, tt := range tests {
		if got := AppendComment(nil, tt.text); string(got) != tt.want {
			t.Errorf("AppendComment(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestAppendRetry(t *testing.T) {
	if got := AppendRetry(nil, 3*time.Second); string(got) != "retry: 3000\n" {
		t.Errorf("AppendRetry(3s) = %q", got)
	}
}

// Encoding into a reused buffer is what the hub does once per event before
// fanning the bytes out; it must not allocate.
func TestAppendToDoesNotAllocate(t *testing.T) {
	ev := typicalEvent()
	buf := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		buf, err = ev.AppendTo(buf[:0])
		if err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("AppendTo into a reused buffer: %v allocations, want 0", allocs)
	}
}

func typicalEvent() Event {
	return Event{
		ID:   "01J9ZV7Q2K3M4N5P6Q7R8S9T0V",
		Type: "task.claimed",
		Data: `{"task":"17","by":"phone-4","at":"2026-11-23T09:00:00Z"}` + "\n" + `{"board":"kitchen"}`,
	}
}
