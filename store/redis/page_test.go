package redis

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// rangeReply encodes events as Redis answers XRANGE on the events stream.
func rangeReply(evs []*hub.Event) []byte {
	b := fmt.Appendf(nil, "*%d\r\n", len(evs))
	for _, ev := range evs {
		c := *ev
		c.Seq = 0
		enc, _ := c.MarshalBinary()
		id := fmt.Sprintf("0-%d", ev.Seq)
		meta := fmt.Sprintf("%d %d %s", ev.Time.UnixMilli(), len(enc), ev.ID)
		b = fmt.Appendf(b, "*2\r\n$%d\r\n%s\r\n*4\r\n$1\r\nm\r\n$%d\r\n%s\r\n$1\r\ne\r\n$%d\r\n", len(id), id, len(meta), meta, len(enc))
		b = append(append(b, enc...), "\r\n"...)
	}
	return b
}

func sample(first uint64, n int) []*hub.Event {
	evs := make([]*hub.Event, n)
	for i := range evs {
		evs[i] = &hub.Event{Seq: first + uint64(i), ID: fmt.Sprint("id", i), Topics: []string{"t"},
			Data: "line\r\n" + strings.Repeat("x", i), Time: time.Unix(1_700_000_000, 0).UTC()}
	}
	return evs
}

func TestParseRange(t *testing.T) {
	evs := sample(8, 3)
	got, err := parseRange(rangeReply(evs), 7)
	if err != nil || !reflect.DeepEqual(got, evs) {
		t.Fatalf("parseRange = %+v, %v; want %+v", got, err, evs)
	}
	if got, err := parseRange([]byte("*0\r\n"), 7); err != nil || len(got) != 0 {
		t.Errorf("empty reply: %v, %v", got, err)
	}
	if _, err := parseRange(rangeReply(evs), 5); !errors.Is(err, hub.ErrTrimmed) {
		t.Errorf("a reply starting beyond after+1: %v, want ErrTrimmed", err)
	}
	full := rangeReply(evs)
	for _, tc := range []struct {
		name string
		raw  []byte
		want string
	}{
		{"an error reply", []byte("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"), "WRONGTYPE"},
		{"a truncated reply", full[:len(full)-5], "malformed"},
		{"trailing bytes", append(full[:len(full):len(full)], "+OK\r\n"...), "after the reply"},
		{"a hole", rangeReply(append(sample(8, 1), sample(10, 1)...)), "where 9 was due"},
		{"a foreign entry id", []byte("*1\r\n*2\r\n$15\r\n1700000000000-0\r\n*0\r\n"), "not written by ssehub"},
		{"a huge array", []byte("*99999999999\r\n"), "malformed"},
		{"no event field", []byte("*1\r\n*2\r\n$3\r\n0-8\r\n*2\r\n$1\r\nm\r\n$0\r\n\r\n"), "no event"},
	} {
		if _, err := parseRange(tc.raw, 7); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	f.Add(rangeReply(sample(1, 2)), uint64(0))
	f.Add(rangeReply(sample(5, 1)), uint64(4))
	f.Add([]byte("*0\r\n"), uint64(0))
	f.Add([]byte("-ERR x\r\n"), uint64(0))
	f.Fuzz(func(t *testing.T, raw []byte, after uint64) {
		evs, err := parseRange(raw, after)
		if err != nil {
			return
		}
		for i, ev := range evs {
			if ev.Seq != after+uint64(i)+1 {
				t.Fatalf("event %d has Seq %d after %d", i, ev.Seq, after)
			}
		}
		again, err := parseRange(rangeReply(evs), after)
		if err != nil || !reflect.DeepEqual(again, evs) {
			t.Fatalf("parse(encode(evs)) = %+v, %v; want %+v", again, err, evs)
		}
	})
}

// readReply encodes events as Redis answers XREAD on the events stream:
// a map of one stream in RESP3, an array of one [stream, entries] pair in
// RESP2.
func readReply(evs []*hub.Event, resp3 bool) []byte {
	const key = "{s}:events"
	head := fmt.Sprintf("*1\r\n*2\r\n$%d\r\n%s\r\n", len(key), key)
	if resp3 {
		head = fmt.Sprintf("%%1\r\n$%d\r\n%s\r\n", len(key), key)
	}
	return append([]byte(head), rangeReply(evs)...)
}

func TestParseRead(t *testing.T) {
	evs := sample(8, 3)
	for _, resp3 := range []bool{true, false} {
		got, err := parseRead(readReply(evs, resp3), 7)
		if err != nil || !reflect.DeepEqual(got, evs) {
			t.Fatalf("parseRead(RESP3 %v) = %+v, %v; want %+v", resp3, got, err, evs)
		}
		if _, err := parseRead(readReply(evs, resp3), 5); !errors.Is(err, hub.ErrTrimmed) {
			t.Errorf("RESP3 %v: a reply starting beyond after+1: %v, want ErrTrimmed", resp3, err)
		}
	}
	for _, null := range []string{"_\r\n", "*-1\r\n"} {
		if got, err := parseRead([]byte(null), 7); err != nil || len(got) != 0 {
			t.Errorf("a null reply %q (the wait ended with nothing): %v, %v", null, got, err)
		}
	}
	full := readReply(evs, true)
	for _, tc := range []struct {
		name string
		raw  []byte
		want string
	}{
		{"an error reply", []byte("-NOGROUP x\r\n"), "NOGROUP"},
		{"a map of two streams", []byte("%2\r\n$1\r\na\r\n*0\r\n$1\r\nb\r\n*0\r\n"), "a map of 2 streams"},
		{"two pairs", []byte("*2\r\n*2\r\n$1\r\na\r\n*0\r\n*2\r\n$1\r\nb\r\n*0\r\n"), "one [stream, entries] pair"},
		{"a truncated reply", full[:len(full)-5], "malformed"},
		{"trailing bytes", append(full[:len(full):len(full)], "+OK\r\n"...), "after the reply"},
		{"a hole", readReply(append(sample(8, 1), sample(10, 1)...), false), "where 9 was due"},
		{"nothing", nil, "malformed"},
	} {
		if _, err := parseRead(tc.raw, 7); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

func FuzzParseRead(f *testing.F) {
	f.Add(readReply(sample(1, 2), true), uint64(0))
	f.Add(readReply(sample(5, 1), false), uint64(4))
	f.Add([]byte("_\r\n"), uint64(0))
	f.Add([]byte("-ERR x\r\n"), uint64(0))
	f.Fuzz(func(t *testing.T, raw []byte, after uint64) {
		evs, err := parseRead(raw, after)
		if err != nil {
			return
		}
		for i, ev := range evs {
			if ev.Seq != after+uint64(i)+1 {
				t.Fatalf("event %d has Seq %d after %d", i, ev.Seq, after)
			}
		}
		for _, resp3 := range []bool{true, false} {
			again, err := parseRead(readReply(evs, resp3), after)
			if err != nil || len(again) != len(evs) || len(evs) > 0 && !reflect.DeepEqual(again, evs) {
				t.Fatalf("parse(encode(evs)) = %+v, %v; want %+v", again, err, evs)
			}
		}
	})
}

// BenchmarkParseRange parses a page as a replay reads it: 512 events of
// 200 bytes on one topic.
func BenchmarkParseRange(b *testing.B) {
	evs := make([]*hub.Event, 512)
	for i := range evs {
		evs[i] = &hub.Event{Seq: 1001 + uint64(i), Topics: []string{"bench"}, Data: strings.Repeat("x", 200),
			Time: time.Unix(1_700_000_000, 0).UTC()}
	}
	raw := rangeReply(evs)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := parseRange(raw, 1000); err != nil {
			b.Fatal(err)
		}
	}
}
