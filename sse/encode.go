package sse

import (
	"io"
	"strconv"
	"time"
)

// AppendTo validates e and appends its encoding to dst. On error dst is
// returned unchanged. Appending to a buffer with enough capacity does not
// allocate, so one encoding can be shared by every subscriber of a stream.
func (e *Event) AppendTo(dst []byte) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return dst, err
	}
	if e.Comment != "" {
		dst = AppendComment(dst, e.Comment)
	}
	if e.ID != "" {
		dst = appendField(dst, "id", e.ID)
	}
	if e.Type != "" {
		dst = appendField(dst, "event", e.Type)
	}
	if e.Retry > 0 {
		dst = AppendRetry(dst, e.Retry)
	}
	dst = appendLines(dst, "data", e.Data)
	return append(dst, '\n'), nil
}

// MarshalText returns the encoding of e, or an error if e is not valid.
func (e *Event) MarshalText() ([]byte, error) {
	return e.AppendTo(make([]byte, 0, e.EncodedLen()))
}

// WriteTo writes the encoding of e to w.
func (e *Event) WriteTo(w io.Writer) (int64, error) {
	b, err := e.MarshalText()
	if err != nil {
		return 0, err
	}
	n, err := w.Write(b)
	return int64(n), err
}

// EncodedLen returns an upper bound of the size of e's encoding, to size a
// buffer before [Event.AppendTo].
func (e *Event) EncodedLen() int {
	n := len(e.Data) + len("data: \n\n")
	for i := 0; i < len(e.Data); i++ {
		if e.Data[i] == '\n' || e.Data[i] == '\r' {
			n += len("data: ")
		}
	}
	if e.ID != "" {
		n += len("id: \n") + len(e.ID)
	}
	if e.Type != "" {
		n += len("event: \n") + len(e.Type)
	}
	if e.Retry > 0 {
		n += len("retry: \n") + 20
	}
	if e.Comment != "" {
		n += 3 * (len(e.Comment) + 1)
	}
	return n
}

// AppendComment appends text as comment lines (": text"), one per line of
// text, where lines end at LF, CRLF or a lone CR. An empty text gives the
// shortest comment, a lone ":" line, often used as a heartbeat.
func AppendComment(dst []byte, text string) []byte {
	if text == "" {
		return append(dst, ":\n"...)
	}
	return appendLines(dst, "", text)
}

// AppendRetry appends a "retry" field telling the client to wait d before
// reconnecting. The standard counts it in whole milliseconds; a positive d
// under one millisecond is written as 1, not as 0 (reconnect at once).
func AppendRetry(dst []byte, d time.Duration) []byte {
	ms := d.Milliseconds()
	if ms == 0 && d > 0 {
		ms = 1
	}
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, ms, 10)
	return append(dst, '\n')
}

// appendField appends "name: value\n". The value must not contain CR or LF.
// The space after the colon is always written, so that a value that starts
// with a space keeps it: the parser removes exactly one.
func appendField(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	if value == "" {
		return append(dst, ":\n"...)
	}
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, '\n')
}

// appendLines appends one "name: line" field per line of value, splitting at
// LF, CRLF and lone CR exactly as the parser does, so that no line ending in
// value can start a field of its own.
func appendLines(dst []byte, name, value string) []byte {
	start := 0
	for i := 0; i < len(value); i++ {
		switch value[i] {
		case '\n':
			dst = appendField(dst, name, value[start:i])
			start = i + 1
		case '\r':
			dst = appendField(dst, name, value[start:i])
			if i+1 < len(value) && value[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	return appendField(dst, name, value[start:])
}
