package httpapi

import "bytes"

// decodeSimple decodes the body most publishers send, one object such as
// {"topic":"t","data":"text"}, without encoding/json: its decoder, the
// reflection and the allocations took about a tenth of the hub's CPU per
// publish at 40,000 publishes/s (docs/benchmarks.md). It takes only what it
// can decode exactly as strictUnmarshal would: the lower-case field names,
// each once; strings without escapes or control characters; topics as an
// array of such strings; data as such a string; retry as a plain
// non-negative integer; private as true or false. For anything else ok is
// false and the caller decodes the body with encoding/json, which also
// words the errors. The body must be valid UTF-8 and trimmed of spaces.
// FuzzDecodeSimple holds the two decoders to the same result.
func decodeSimple(body []byte) (req publishRequest, ok bool) {
	d := simpleDecoder{b: body}
	if !d.expect('{') {
		return req, false
	}
	var seen uint8
	if d.skipSpace(); d.peek() == '}' {
		d.i++
		return req, d.i == len(d.b)
	}
	for {
		name, ok := d.rawString()
		if !ok || !d.expect(':') {
			return req, false
		}
		var bit uint8
		switch string(name) {
		case "topic":
			bit, ok = 1<<0, d.text(&req.Topic)
		case "topics":
			bit = 1 << 1
			req.Topics, ok = d.strings()
		case "data":
			bit = 1 << 2
			from := d.skipSpace()
			_, ok = d.rawString()
			req.Data = d.b[from:d.i] // the literal, quotes included
		case "type":
			bit, ok = 1<<3, d.text(&req.Type)
		case "id":
			bit, ok = 1<<4, d.text(&req.ID)
		case "retry":
			bit = 1 << 5
			req.Retry, ok = d.integer()
		case "private":
			bit = 1 << 6
			req.Private, ok = d.boolean()
		default:
			return req, false
		}
		if !ok {
			return req, false
		}
		if seen&bit != 0 {
			return req, false // a repeated field: encoding/json keeps the last
		}
		seen |= bit
		d.skipSpace()
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return req, d.i == len(d.b)
		default:
			return req, false
		}
	}
}

// simpleDecoder reads the tokens decodeSimple takes, at b[i:].
type simpleDecoder struct {
	b []byte
	i int
}

func (d *simpleDecoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// skipSpace skips JSON white space and returns where it stopped.
func (d *simpleDecoder) skipSpace() int {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return d.i
		}
	}
	return d.i
}

// expect takes c, after white space.
func (d *simpleDecoder) expect(c byte) bool {
	if d.skipSpace(); d.peek() != c {
		return false
	}
	d.i++
	return true
}

// rawString takes a string literal with no escape and no control
// character, after white space, and returns its text.
func (d *simpleDecoder) rawString() ([]byte, bool) {
	if !d.expect('"') {
		return nil, false
	}
	end := bytes.IndexByte(d.b[d.i:], '"')
	if end < 0 {
		return nil, false
	}
	s := d.b[d.i : d.i+end]
	if bytes.IndexByte(s, '\\') >= 0 || !noControl(s) {
		return nil, false
	}
	d.i += end + 1
	return s, true
}

// text takes such a string into *dst.
func (d *simpleDecoder) text(dst *string) bool {
	s, ok := d.rawString()
	if ok {
		*dst = string(s)
	}
	return ok
}

// strings takes an array of such strings.
func (d *simpleDecoder) strings() ([]string, bool) {
	if !d.expect('[') {
		return nil, false
	}
	list := []string{} // encoding/json gives [] as empty, not nil
	if d.skipSpace(); d.peek() == ']' {
		d.i++
		return list, true
	}
	for {
		s, ok := d.rawString()
		if !ok {
			return nil, false
		}
		list = append(list, string(s))
		d.skipSpace()
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			return list, true
		default:
			return nil, false
		}
	}
}

// integer takes 0 or a number of up to 15 digits without a leading zero,
// sign, fraction or exponent.
func (d *simpleDecoder) integer() (int64, bool) {
	start := d.skipSpace()
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	digits := d.b[start:d.i]
	if len(digits) == 0 || len(digits) > 15 || (digits[0] == '0' && len(digits) > 1) {
		return 0, false
	}
	var n int64
	for _, c := range digits {
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// boolean takes true or false.
func (d *simpleDecoder) boolean() (bool, bool) {
	d.skipSpace()
	switch rest := d.b[d.i:]; {
	case bytes.HasPrefix(rest, []byte("true")):
		d.i += 4
		return true, true
	case bytes.HasPrefix(rest, []byte("false")):
		d.i += 5
		return false, true
	}
	return false, false
}
