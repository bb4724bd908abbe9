package sse

import (
	"strings"
	"unicode/utf8"
)

// decodeUTF8 returns b as a string, replacing each invalid sequence with
// U+FFFD the way the WHATWG "UTF-8 decode" algorithm does: one replacement
// per maximal prefix of a valid sequence, so "\xE2\x82A" gives "\uFFFDA" and
// not two replacements as one per byte would.
//
// The parser may decode line by line rather than the stream as a whole
// because CR, LF, ':' and ' ' are ASCII bytes, which always end an invalid
// sequence and are never part of a valid multi-byte one.
func decodeUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 2*utf8.UTFMax)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			size = invalidPrefixLen(b)
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.Write(b[:size])
		}
		b = b[size:]
	}
	return sb.String()
}

// invalidPrefixLen returns the length of the maximal subpart at the start of
// b, which does not begin with a valid UTF-8 sequence: a lead byte followed
// by the continuation bytes that could still have completed it.
func invalidPrefixLen(b []byte) int {
	lead := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF) // allowed range of the first continuation
	switch {
	case lead >= 0xC2 && lead <= 0xDF:
		need = 1
	case lead >= 0xE0 && lead <= 0xEF:
		need = 2
		if lead == 0xE0 {
			lo = 0xA0 // no overlong forms
		} else if lead == 0xED {
			hi = 0x9F // no surrogates
		}
	case lead >= 0xF0 && lead <= 0xF4:
		need = 3
		if lead == 0xF0 {
			lo = 0x90 // no overlong forms
		} else if lead == 0xF4 {
			hi = 0x8F // nothing above U+10FFFF
		}
	default:
		return 1
	}
	n := 1
	for ; n <= need && n < len(b); n++ {
		if b[n] < lo || b[n] > hi {
			break
		}
		lo, hi = 0x80, 0xBF
	}
	return n
}
