package main

import (
	"bytes"
	"testing"
)

// FuzzChunkDecoder: the load tool's chunked-body decoder never panics, and
// gives the same bytes and the same verdict however its input is cut.
func FuzzChunkDecoder(f *testing.F) {
	for _, s := range []string{"5\r\nhello\r\n0\r\n\r\n", "3;ext=1\r\nabc\r\n", "zz\r\n", "7fffffff\r\nx", "0\r\n", "\r\n", "1\r\n"} {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint8) {
		decode := func(parts ...[]byte) ([]byte, error) {
			var d chunkDecoder
			var out []byte
			for _, p := range parts {
				if err := d.decode(p, func(b []byte) { out = append(out, b...) }); err != nil {
					return out, err
				}
			}
			return out, nil
		}
		whole, werr := decode(in)
		at := int(cut) % (len(in) + 1)
		split, serr := decode(in[:at], in[at:])
		if (werr == nil) != (serr == nil) || (werr == errChunkedEnd) != (serr == errChunkedEnd) {
			t.Fatalf("whole: %v, cut at %d: %v", werr, at, serr)
		}
		if werr == nil || werr == errChunkedEnd {
			if !bytes.Equal(whole, split) {
				t.Fatalf("whole gave %q, cut at %d gave %q", whole, at, split)
			}
		}
	})
}

// FuzzSizeFlag: a size the flag accepts is not negative and reads back as
// itself.
func FuzzSizeFlag(f *testing.F) {
	for _, s := range []string{"0", "1048576", "512KiB", "64MiB", "1GiB", "4TiB", "1B", "-1", "9223372036854775807", "1.5MiB", "KiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		var s sizeFlag
		if s.Set(v) != nil {
			return
		}
		var again sizeFlag
		if s < 0 || again.Set(s.String()) != nil || again != s {
			t.Fatalf("Set(%q) = %d, which does not read back (%d)", v, s, again)
		}
	})
}
