package redis

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/ssehub/ssehub/hub"
)

// A Read takes the XRANGE reply raw into a pooled buffer and cuts the
// events out of it with respReader: go-redis's own decoding makes a map
// and four strings per entry, which bounded replay. Only what XRANGE
// answers is understood: arrays of bulk strings, and an error. The events
// copy what they keep (UnmarshalBinary), so the buffer is reused.

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooled is the largest buffer kept for reuse: a page of large events
// is not held on to.
const maxPooled = 4 << 20

func takeBuffer() *bytes.Buffer { return buffers.Get().(*bytes.Buffer) }

func giveBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooled {
		b.Reset()
		buffers.Put(b)
	}
}

// parseRange reads an XRANGE reply of the events stream, checking that the
// entries' Seqs follow after and each other densely: a reply starting
// beyond after+1 reports ErrTrimmed, and anything malformed an error
// saying so. Hostile input cannot make it panic or allocate much beyond
// the events it holds.
func parseRange(raw []byte, after uint64) ([]*hub.Event, error) {
	r := respReader{b: raw}
	n := r.array()
	var out []*hub.Event
	if r.err == nil && n > 0 {
		// Every entry takes at least 16 bytes, which bounds the slice.
		out = make([]*hub.Event, 0, min(n, len(raw)/16))
	}
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
		want := after + uint64(len(out)) + 1
		switch {
		case !found:
			r.failf("entry 0-%d has no event", seq)
		case len(out) == 0 && seq > want:
			return nil, fmt.Errorf("%w: reading after %d, oldest retained is %d", hub.ErrTrimmed, after, seq)
		case seq != want:
			r.failf("event %d where %d was due", seq, want)
		}
		if r.err != nil {
			break
		}
		ev := new(hub.Event)
		if err := ev.UnmarshalBinary(enc); err != nil {
			return nil, fmt.Errorf("redis: entry 0-%d: %w", seq, err)
		}
		ev.Seq = seq
		out = append(out, ev)
	}
	if r.err == nil && r.off != len(r.b) {
		r.failf("%d bytes after the reply", len(r.b)-r.off)
	}
	if r.err != nil {
		return nil, r.err
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
}

func (r *respReader) failf(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("redis: malformed XRANGE reply at byte %d: "+format, append([]any{r.off}, args...)...)
	}
}

// header reads a line "<kind><length>\r\n" and returns the length; a
// reply that is an error ("-..." or RESP3's "!") becomes r.err.
func (r *respReader) header(kind byte) int {
	if r.err != nil {
		return 0
	}
	end := bytes.Index(r.b[r.off:], []byte("\r\n"))
	if end < 1 {
		r.failf("no line")
		return 0
	}
	line := r.b[r.off : r.off+end]
	switch line[0] {
	case '-':
		r.err = fmt.Errorf("redis: read: %s", line[1:])
		return 0
	case '!':
		r.err = fmt.Errorf("redis: read: an error of %s bytes", line[1:])
		return 0
	case kind:
	default:
		r.failf("%q where %q was due", line[0], kind)
		return 0
	}
	n := 0
	for _, c := range line[1:] {
		if c < '0' || c > '9' || n > len(r.b) {
			r.failf("bad length %q", line[1:])
			return 0
		}
		n = n*10 + int(c-'0')
	}
	if len(line) == 1 {
		r.failf("no length")
		return 0
	}
	r.off += end + 2
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
