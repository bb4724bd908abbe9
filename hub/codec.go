package hub

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// The binary encoding of an Event, shared by every durable Log (the file
// store now, Redis and NATS later) so that a stored event means the same
// thing to all of them:
//
//	version  byte    codecVersion (1)
//	flags    byte    flagPrivate | flagTime
//	seq      uvarint
//	time     varint  Unix nanoseconds, present only with flagTime
//	retry    uvarint nanoseconds
//	id       string
//	type     string
//	topics   uvarint count, then that many strings
//	data     string
//
// A string is a uvarint length followed by that many bytes. A decoder meeting
// a version it does not know refuses the event rather than guess.
const (
	codecVersion = 1

	flagPrivate = 1 << 0
	flagTime    = 1 << 1
	knownFlags  = flagPrivate | flagTime
)

// ErrCorrupt is wrapped by [Event.UnmarshalBinary] when bytes are not an
// encoded event.
var ErrCorrupt = errors.New("corrupt event encoding")

// minTime and maxTime bound the times whose Unix nanoseconds fit an int64.
// A time outside them is clamped, never wrapped around into another date.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// AppendBinary appends the binary encoding of e to b and returns the
// extended buffer. It implements [encoding.BinaryAppender]; the error is
// always nil. Time is kept to the nanosecond (times beyond the years
// 1678–2262 are clamped to them) and loses its location and monotonic reading.
func (e *Event) AppendBinary(b []byte) ([]byte, error) {
	var flags byte
	if e.Private {
		flags |= flagPrivate
	}
	if !e.Time.IsZero() {
		flags |= flagTime
	}
	b = append(b, codecVersion, flags)
	b = binary.AppendUvarint(b, e.Seq)
	if flags&flagTime != 0 {
		t := e.Time
		if t.Before(minTime) {
			t = minTime
		} else if t.After(maxTime) {
			t = maxTime
		}
		b = binary.AppendVarint(b, t.UnixNano())
	}
	b = binary.AppendUvarint(b, uint64(max(e.Retry, 0)))
	b = appendString(b, e.ID)
	b = appendString(b, e.Type)
	b = binary.AppendUvarint(b, uint64(len(e.Topics)))
	for _, t := range e.Topics {
		b = appendString(b, t)
	}
	return appendString(b, e.Data), nil
}

// MarshalBinary returns the binary encoding of e. It implements
// [encoding.BinaryMarshaler].
func (e *Event) MarshalBinary() ([]byte, error) {
	return e.AppendBinary(make([]byte, 0, e.BinarySize()))
}

// BinarySize returns an upper bound of the length of e's binary encoding,
// for sizing buffers and accounting bytes held.
func (e *Event) BinarySize() int {
	const v = binary.MaxVarintLen64
	// version, flags; seq, time, retry, topic count; lengths of id, type, data.
	n := 2 + 4*v + 3*v + len(e.ID) + len(e.Type) + len(e.Data)
	for _, t := range e.Topics {
		n += v + len(t)
	}
	return n
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// UnmarshalBinary sets e to the event encoded in data, replacing all of its
// fields. It implements [encoding.BinaryUnmarshaler]. Hostile input cannot
// make it panic or allocate much more than len(data): every length is
// checked against the bytes that remain. Errors wrap [ErrCorrupt].
func (e *Event) UnmarshalBinary(data []byte) error {
	// All strings share one allocation: the copy of the input.
	return e.UnmarshalBinaryString(string(data))
}

// UnmarshalBinaryString is UnmarshalBinary for an encoding held in a
// string: the event's strings are parts of data, so decoding copies no
// bytes. A store whose reads already give it a buffer of its own (a
// network client's copy of a message) decodes from that without a second
// copy.
func (e *Event) UnmarshalBinaryString(data string) error {
	if len(data) < 2 {
		return fmt.Errorf("%w: %d bytes", ErrCorrupt, len(data))
	}
	if data[0] != codecVersion {
		return fmt.Errorf("%w: unknown version %d", ErrCorrupt, data[0])
	}
	flags := data[1]
	if flags&^knownFlags != 0 {
		return fmt.Errorf("%w: unknown flags %#x", ErrCorrupt, flags)
	}
	d := decoder{s: data, off: 2}
	var ev Event
	ev.Private = flags&flagPrivate != 0
	ev.Seq = d.uvarint()
	if flags&flagTime != 0 {
		ev.Time = time.Unix(0, d.varint()).UTC()
	}
	retry := d.uvarint()
	if retry > math.MaxInt64 {
		d.fail("retry out of range")
	}
	ev.Retry = time.Duration(retry)
	ev.ID = d.string()
	ev.Type = d.string()
	n := d.uvarint()
	// Every topic takes at least one byte, so n cannot exceed what is left.
	if n > uint64(len(d.s)-d.off) {
		d.fail("topic count exceeds input")
	}
	if d.err == nil && n > 0 {
		ev.Topics = make([]string, n)
		for i := range ev.Topics {
			ev.Topics[i] = d.string()
		}
	}
	ev.Data = d.string()
	if d.err == nil && d.off != len(d.s) {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return d.err
	}
	*e = ev
	return nil
}

// decoder reads the encoding from a string; the first error sticks and
// makes every later read return a zero value.
type decoder struct {
	s   string
	off int
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at byte %d", ErrCorrupt, what, d.off)
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	var x uint64
	var shift uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if d.off >= len(d.s) {
			d.fail("truncated varint")
			return 0
		}
		c := d.s[d.off]
		d.off++
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				d.fail("varint overflows 64 bits")
				return 0
			}
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	d.fail("varint overflows 64 bits")
	return 0
}

func (d *decoder) varint() int64 {
	ux := d.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.s)-d.off) {
		d.fail("string longer than input")
		return ""
	}
	s := d.s[d.off : d.off+int(n)]
	d.off += int(n)
	return s
}
