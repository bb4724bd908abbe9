package hub

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestEventBinaryRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 30, 0, 123456789, time.UTC)
	tests := []struct {
		name string
		ev   Event
	}{
		{"zero", Event{}},
		{"minimal", Event{Seq: 1, Topics: []string{"t"}}},
		{"every field", Event{
			Seq: 1<<63 + 5, ID: "order-42", Topics: []string{"a", "b/c", "https://x/{id}"},
			Type: "update", Data: "line 1\nline 2\r\n", Retry: 1500 * time.Millisecond,
			Private: true, Time: at,
		}},
		{"empty strings kept apart", Event{Topics: []string{"", "", "x"}, Data: ""}},
		{"binary-ish data", Event{Topics: []string{"t"}, Data: "\x00\xff\x80 é"}},
		{"large data", Event{Topics: []string{"t"}, Data: strings.Repeat("x", 1<<20)}},
		{"time before 1970", Event{Topics: []string{"t"}, Time: time.Date(1901, 1, 1, 0, 0, 0, 1, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.ev.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > tt.ev.BinarySize() {
				t.Errorf("encoded %d bytes, BinarySize promised at most %d", len(b), tt.ev.BinarySize())
			}
			got := Event{ID: "stale", Topics: []string{"stale"}, Private: true}
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.ev) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, tt.ev)
			}
		})
	}
}

func TestEventBinaryTimeLosesLocationOnly(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 7, time.FixedZone("X", 3600))
	b, _ := (&Event{Time: at}).MarshalBinary()
	var got Event
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(at) {
		t.Errorf("time %v, want the instant %v", got.Time, at)
	}
}

func TestEventBinaryClampsFarTimes(t *testing.T) {
	for _, at := range []time.Time{time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)} {
		b, _ := (&Event{Time: at}).MarshalBinary()
		var got Event
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if at.Year() < 1970 && !got.Time.Equal(minTime) || at.Year() > 1970 && !got.Time.Equal(maxTime) {
			t.Errorf("%v decoded as %v, want it clamped", at, got.Time)
		}
	}
}

func TestEventUnmarshalBinaryRejects(t *testing.T) {
	valid, _ := (&Event{Seq: 3, ID: "x", Topics: []string{"t"}, Data: "hello"}).MarshalBinary()
	huge := binary.AppendUvarint(nil, math.MaxUint64)
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"one byte", []byte{codecVersion}},
		{"unknown version", append([]byte{2}, valid[1:]...)},
		{"unknown flag", append([]byte{codecVersion, 0x80}, valid[2:]...)},
		{"truncated", valid[:len(valid)-1]},
		{"trailing byte", append(bytes.Clone(valid), 0)},
		{"varint too long", append([]byte{codecVersion, 0}, bytes.Repeat([]byte{0xff}, 11)...)},
		{"varint overflows", append([]byte{codecVersion, 0}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02)},
		{"retry out of range", append([]byte{codecVersion, 0, 1}, huge...)},
		{"string length beyond input", append([]byte{codecVersion, 0, 1, 0}, huge...)},
		{"topic count beyond input", append([]byte{codecVersion, 0, 1, 0, 0, 0}, 0xff, 0xff, 0xff, 0xff, 0x0f)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := Event{ID: "kept"}
			err := ev.UnmarshalBinary(tt.b)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			if ev.ID != "kept" {
				t.Errorf("a failed decode changed the event: %+v", ev)
			}
		})
	}
}

func TestEventUnmarshalBinaryAllocatesInProportion(t *testing.T) {
	// A count claiming 2^32 topics in a few bytes must be refused before
	// anything is allocated for them.
	b := append([]byte{codecVersion, 0, 1, 0, 0, 0}, 0x80, 0x80, 0x80, 0x80, 0x10)
	const runs = 100
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		var ev Event
		if ev.UnmarshalBinary(b) == nil {
			t.Fatal("a topic count beyond the input was accepted")
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 1024 {
		t.Errorf("%d bytes allocated to decode %d hostile bytes", per, len(b))
	}
}

func FuzzEventUnmarshalBinary(f *testing.F) {
	for _, ev := range []Event{
		{},
		{Seq: 1, ID: "a", Topics: []string{"t", "u"}, Type: "x", Data: "d\nd", Retry: time.Second, Private: true, Time: time.Unix(1, 2)},
	} {
		b, _ := ev.MarshalBinary()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev, fromString Event
		err := ev.UnmarshalBinary(b)
		if serr := fromString.UnmarshalBinaryString(string(b)); (serr == nil) != (err == nil) || !reflect.DeepEqual(fromString, ev) {
			t.Fatalf("UnmarshalBinaryString = %+v, %v; UnmarshalBinary = %+v, %v", fromString, serr, ev, err)
		}
		if err != nil {
			return
		}
		again, _ := ev.MarshalBinary()
		var back Event
		if err := back.UnmarshalBinary(again); err != nil {
			t.Fatalf("re-encoding of a decoded event does not decode: %v", err)
		}
		if !reflect.DeepEqual(back, ev) {
			t.Fatalf("decode(encode(ev)) != ev:\n got %+v\nwant %+v", back, ev)
		}
	})
}

func BenchmarkEventBinary(b *testing.B) {
	ev := Event{Seq: 123456, Topics: []string{"https://example.com/books/1"}, Type: "update",
		Data: strings.Repeat("x", 200), Time: time.Now()}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 512)
		for b.Loop() {
			buf, _ = ev.AppendBinary(buf[:0])
		}
	})
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		enc, _ := ev.MarshalBinary()
		for b.Loop() {
			var got Event
			if err := got.UnmarshalBinary(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
