package redis

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/ssehub/ssehub/hub"
)

// A Read takes the XRANGE reply raw into a pooled buffer and cuts the
// events out of it with respReader: go-redis's own decoding makes a map
// and four strings per entry, which bounded replay. The tail's XREAD is
// read the same way. Only what XRANGE and XREAD answer is understood:
// arrays (and one map) of bulk strings, a null, and an error. The events
// copy what they keep (parseRange), so the buffer is reused.

var buffers = sync.Pool{New: func() any { return new(reply) }}

// maxPooled is the largest buffer kept for reuse: a page of large events
// is not held on to.
const maxPooled = 4 << 20

func takeBuffer() *reply { return buffers.Get().(*reply) }

func giveBuffer(r *reply) {
	if cap(r.b) <= maxPooled {
		r.b = r.b[:0]
		buffers.Put(r)
	}
}

// reply is where go-redis writes a raw reply. go-redis hands it each bulk
// string as an [io.LimitedReader] of the connection's reader; reply reads
// the string in one piece straight from that reader, where bytes.Buffer
// would grow by 512 bytes and read twice.
type reply struct{ b []byte }

func (r *reply) Write(p []byte) (int, error) {
	r.b = append(r.b, p...)
	return len(p), nil
}

func (r *reply) ReadFrom(src io.Reader) (int64, error) {
	lr, ok := src.(*io.LimitedReader)
	if !ok {
		return 0, errors.New("redis: a raw reply came without its length")
	}
	n := int(lr.N)
	r.b = slices.Grow(r.b, n)
	got, err := io.ReadFull(lr.R, r.b[len(r.b):len(r.b)+n])
	r.b = r.b[:len(r.b)+got]
	lr.N -= int64(got)
	return int64(got), err
}

// parseRange reads an XRANGE reply of the events stream, checking that the
// entries' Seqs follow after and each other densely: a reply starting
// beyond after+1 reports ErrTrimmed, and anything malformed an error
// saying so. Hostile input cannot make it panic or allocate much beyond
// the events it holds.
//
// The events' encodings are copied into one string, which the events'
// strings are parts of, and the events are one slice: a page costs a few
// allocations, not a few per event.
func parseRange(raw []byte, after uint64) ([]*hub.Event, error) {
	evs, _, err := parseRangeLast(raw, after)
	return evs, err
}

// parseRangeLast is parseRange that also returns the encoding of the last
// event, a part of raw.
func parseRangeLast(raw []byte, after uint64) ([]*hub.Event, []byte, error) {
	r := respReader{b: raw}
	evs, err := r.entries(after)
	return evs, r.last, err
}

// parseRead reads an XREAD reply of the events stream as parseRange reads
// XRANGE's: the same entries, inside a map of one stream (RESP3) or an
// array of one [stream, entries] pair (RESP2), or a null when the read
// waited and nothing came.
func parseRead(raw []byte, after uint64) ([]*hub.Event, error) {
	evs, _, err := parseReadLast(raw, after)
	return evs, err
}

// parseReadLast is parseRead that also returns the encoding of the last
// event, a part of raw.
func parseReadLast(raw []byte, after uint64) ([]*hub.Event, []byte, error) {
	if string(raw) == "_\r\n" || string(raw) == "*-1\r\n" {
		return nil, nil, nil
	}
	r := respReader{b: raw}
	if len(raw) > 0 && raw[0] == '%' {
		if n := r.header('%'); n != 1 && r.err == nil {
			r.failf("a map of %d streams", n)
		}
	} else if n := r.array(); n != 1 || r.array() != 2 {
		r.failf("not one [stream, entries] pair")
	}
	r.bulk() // the stream's name
	if r.err != nil {
		return nil, nil, r.err
	}
	evs, err := r.entries(after)
	return evs, r.last, err
}

// entries reads the rest of r's reply as an array of stream entries
// following after (see parseRange).
func (r *respReader) entries(after uint64) ([]*hub.Event, error) {
	n := r.array()
	var encs [][]byte
	if r.err == nil && n > 0 {
		// Every entry takes at least 16 bytes, which bounds the slice.
		encs = make([][]byte, 0, min(n, (len(r.b)-r.off)/16))
	}
	size := 0
	for i := 0; i < n && r.err == nil; i++ {
		if r.array() != 2 {
			r.failf("an entry is not [id, fields]")
			break
		}
		seq, ok := seqOf(r.bulk())
		if !ok && r.err == nil {
			r.failf("an entry id was not written by ssehub")
		}
		var enc []byte
		found := false
		for f := r.array(); f > 0 && r.err == nil; f -= 2 {
			name, value := r.bulk(), r.bulk()
			if string(name) == "e" {
				enc, found = value, true
			}
		}
		if r.err != nil {
			break
		}
		want := after + uint64(len(encs)) + 1
		switch {
		case !found:
			r.failf("entry 0-%d has no event", seq)
		case len(encs) == 0 && seq > want:
			return nil, fmt.Errorf("%w: reading after %d, oldest retained is %d", hub.ErrTrimmed, after, seq)
		case seq != want:
			r.failf("event %d where %d was due", seq, want)
		}
		encs = append(encs, enc)
		size += len(enc)
	}
	if r.err == nil && r.off != len(r.b) {
		r.failf("%d bytes after the reply", len(r.b)-r.off)
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(encs) > 0 {
		r.last = encs[len(encs)-1]
	}
	return decodeAll(encs, size, after)
}

// decodeAll decodes the encodings of the events following after, which
// take size bytes together.
func decodeAll(encs [][]byte, size int, after uint64) ([]*hub.Event, error) {
	if len(encs) == 0 {
		return nil, nil
	}
	var all strings.Builder
	all.Grow(size)
	for _, enc := range encs {
		all.Write(enc)
	}
	s := all.String()
	out := make([]*hub.Event, len(encs))
	slab := make([]hub.Event, len(encs))
	for i, enc := range encs {
		ev := &slab[i]
		seq := after + uint64(i) + 1
		if err := ev.UnmarshalBinaryString(s[:len(enc)]); err != nil {
			return nil, fmt.Errorf("redis: entry 0-%d: %w", seq, err)
		}
		s = s[len(enc):]
		ev.Seq = seq
		out[i] = ev
	}
	return out, nil
}

// seqOf reads an entry id "0-SEQ".
func seqOf(id []byte) (uint64, bool) {
	rest, ok := bytes.CutPrefix(id, []byte("0-"))
	if !ok || len(rest) == 0 || len(rest) > 19 {
		return 0, false
	}
	var v uint64
	for _, c := range rest {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// respReader reads RESP replies from a buffer; the first error sticks and
// makes every later read return nothing.
type respReader struct {
	b   []byte
	off int
	err error
	// last is the encoding of the last entry entries read: a part of
	// b, valid while b is.
	last []byte
}

func (r *respReader) failf(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("redis: malformed reply at byte %d: "+format, append([]any{r.off}, args...)...)
	}
}

// header reads a line "<kind><length>\r\n" and returns the length; a
// reply that is an error ("-..." or RESP3's "!") becomes r.err. The digits
// are read as they come: lengths are short, and a search for the line's
// end first cost as much again.
func (r *respReader) header(kind byte) int {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.failf("no line")
		return 0
	}
	switch c := r.b[r.off]; c {
	case kind:
	case '-', '!':
		line, _, _ := bytes.Cut(r.b[r.off+1:], []byte("\r\n"))
		if c == '-' {
			r.err = fmt.Errorf("redis: read: %s", line)
		} else {
			r.err = fmt.Errorf("redis: read: an error of %s bytes", line)
		}
		return 0
	default:
		r.failf("%q where %q was due", c, kind)
		return 0
	}
	n, i := 0, r.off+1
	for ; i < len(r.b) && r.b[i] >= '0' && r.b[i] <= '9'; i++ {
		if n > len(r.b) {
			r.failf("a length beyond the reply")
			return 0
		}
		n = n*10 + int(r.b[i]-'0')
	}
	switch {
	case i == r.off+1:
		r.failf("no length")
		return 0
	case i+1 >= len(r.b) || r.b[i] != '\r' || r.b[i+1] != '\n':
		r.failf("a length not ending its line")
		return 0
	}
	r.off = i + 2
	return n
}

// array reads an array's header and returns its length.
func (r *respReader) array() int {
	n := r.header('*')
	// Every element takes at least 4 bytes ("$0\r\n" is the shortest).
	if n > (len(r.b)-r.off)/4 {
		r.failf("an array of %d elements in %d bytes", n, len(r.b)-r.off)
		return 0
	}
	return n
}

// bulk reads a bulk string; the result shares r's buffer.
func (r *respReader) bulk() []byte {
	n := r.header('$')
	if r.err != nil {
		return nil
	}
	if n > len(r.b)-r.off-2 || r.b[r.off+n] != '\r' || r.b[r.off+n+1] != '\n' {
		r.failf("a string of %d bytes does not fit", n)
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n + 2
	return s
}
