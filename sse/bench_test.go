package sse

import (
	"bytes"
	"io"
	"testing"
)

// benchStream is a large stream of typical events: an id, a type, one or two
// data lines and a heartbeat comment now and then.
func benchStream(b *testing.B) []byte {
	b.Helper()
	var stream []byte
	ev := typicalEvent()
	for i := 0; len(stream) < 8<<20; i++ {
		if i%50 == 0 {
			stream = AppendComment(stream, "keep-alive")
		}
		var err error
		if stream, err = ev.AppendTo(stream); err != nil {
			b.Fatal(err)
		}
	}
	return stream
}

func BenchmarkParse(b *testing.B) {
	stream := benchStream(b)
	r := bytes.NewReader(stream)
	p := NewParser(r)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	events := 0
	for b.Loop() {
		r.Reset(stream)
		p.Reset(r)
		for {
			if _, err := p.Next(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
			events++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
}

func BenchmarkEncode(b *testing.B) {
	ev := typicalEvent()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = ev.AppendTo(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}
