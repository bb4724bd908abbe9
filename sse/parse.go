package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// DefaultMaxEventSize is the limit a [Parser] applies when its MaxEventSize
// is zero.
const DefaultMaxEventSize = 8 << 20

// ErrEventTooLarge is returned by [Parser.Next] when a line, or the data and
// event type of one event together with the line being read, exceed the
// parser's MaxEventSize. It is wrapped with the limit; test for it with
// errors.Is.
var ErrEventTooLarge = errors.New("sse: event exceeds the maximum event size")

const (
	// readSize is the size of the parser's read buffer. A line longer than
	// this grows the buffer, up to the maximum event size.
	readSize = 32 << 10
	// keepSize is the largest buffer kept after the event that needed it, so
	// that one huge event does not pin its memory for the rest of the stream.
	keepSize = 64 << 10
	bom      = "\xEF\xBB\xBF"
	// maxEmptyReads is how many reads returning nothing in a row are taken as
	// a broken reader, as bufio does.
	maxEmptyReads = 100
)

// Parser reads events from a "text/event-stream" following the WHATWG HTML
// standard's algorithm for interpreting an event stream:
//
//   - the stream is decoded as UTF-8: invalid bytes are replaced with U+FFFD
//     and one leading byte order mark is skipped, even when it arrives split
//     across reads;
//   - lines end at LF, CRLF or a lone CR, also when the CR and LF of a CRLF
//     arrive in different reads;
//   - a line starting with a colon is a comment; otherwise the field name is
//     what precedes the first colon (the whole line if there is none) and one
//     space after the colon is removed from the value;
//   - "event" sets the event type, "data" appends its value and a LF to the
//     data buffer, "id" sets the last event ID unless the value contains NUL,
//     "retry" sets the reconnection time when the value is only ASCII digits,
//     and any other field is ignored;
//   - a blank line dispatches the event: the last event ID is updated even
//     when nothing is dispatched, an event whose data buffer is empty is not
//     dispatched (and its event type is forgotten), the final LF of the data
//     is removed, and the type is "message" when the stream gave none;
//   - an event not finished by a blank line when the stream ends is
//     discarded.
//
// Set the exported fields before the first call to [Parser.Next]. A Parser
// is not safe for concurrent use.
type Parser struct {
	// MaxEventSize bounds the memory the parser holds for one event, in bytes
	// as received: no line may be longer, and the data and event type of an
	// event plus the line being read may not together be longer. Next returns
	// ErrEventTooLarge beyond it. Zero means DefaultMaxEventSize.
	MaxEventSize int

	// OnComment, if not nil, is called by Next with the text of each comment
	// line, without the colon and without one space following it, when the
	// line is read: comments are not part of events.
	OnComment func(text string)

	rd  io.Reader
	err error // sticky: returned by every later call to Next

	buf      []byte // read buffer; unread bytes are buf[r:w]
	r, w     int
	lfAt     int  // index in buf of the next LF at or after r, if lfAt >= r
	lfFrom   int  // buf[r:lfFrom] is known to hold no LF
	crFrom   int  // buf[r:crFrom] is known to hold no CR
	skipLF   bool // the last line ended with CR: a LF right after it belongs to it
	bomDone  bool // the start of the stream has been checked for a BOM
	readEOF  bool
	readErr  error
	idBuf    []byte // the last event ID buffer
	typeBuf  []byte // the event type buffer
	dataBuf  []byte // the data buffer
	lastID   string // the last event ID string, set at dispatch
	lastType string // the last dispatched event type, reused to save allocations
	retry    time.Duration
	retrySet bool
}

// NewParser returns a parser that reads the event stream from r.
func NewParser(r io.Reader) *Parser {
	return &Parser{rd: r, lfAt: -1}
}

// Reset discards any unfinished event and makes p read a new stream from r,
// as a client does when it reconnects: the new stream may start with a BOM,
// and the last event ID and the reconnection time are kept. Buffers are
// reused.
func (p *Parser) Reset(r io.Reader) {
	p.rd = r
	p.err, p.readErr, p.readEOF = nil, nil, false
	p.r, p.w, p.lfAt, p.lfFrom, p.crFrom = 0, 0, -1, 0, 0
	p.skipLF, p.bomDone = false, false
	p.idBuf = append(p.idBuf[:0], p.lastID...)
	p.typeBuf = p.typeBuf[:0]
	p.dataBuf = p.dataBuf[:0]
}

// LastEventID returns the stream's last event ID: the value of the last "id"
// field as of the latest blank line, whether or not an event was dispatched
// there (an empty id clears it; an id in an unfinished event does not count).
// It is what a client sends as Last-Event-ID when it reconnects.
func (p *Parser) LastEventID() string { return p.lastID }

// SetLastEventID sets the last event ID, as if an event with that id had been
// dispatched; a client uses it when it starts from a known position.
func (p *Parser) SetLastEventID(id string) {
	p.lastID = id
	p.idBuf = append(p.idBuf[:0], id...)
}

// Retry returns the reconnection time the stream last set with a "retry"
// field, and whether it set one at all.
func (p *Parser) Retry() (d time.Duration, ok bool) { return p.retry, p.retrySet }

// Next returns the next dispatched event. At the end of the stream it returns
// io.EOF, discarding an unfinished event. Other errors come from the reader,
// or are ErrEventTooLarge. Once Next has returned an error it returns the
// same error until [Parser.Reset].
func (p *Parser) Next() (Event, error) {
	if p.err != nil {
		return Event{}, p.err
	}
	for {
		line, ok := p.nextLine()
		if !ok {
			if err := p.fill(); err != nil {
				p.err = err
				return Event{}, err
			}
			continue
		}
		if err := p.checkSize(len(line)); err != nil {
			p.err = err
			return Event{}, err
		}
		if len(line) == 0 {
			if ev, ok := p.dispatch(); ok {
				return ev, nil
			}
			continue
		}
		p.processField(line)
	}
}

// nextLine returns the next complete line in the buffer, without its line
// ending, or false if the buffer holds no complete line.
func (p *Parser) nextLine() ([]byte, bool) {
	if !p.bomDone && !p.skipBOM() {
		return nil, false
	}
	if p.skipLF && p.r < p.w {
		p.skipLF = false
		if p.buf[p.r] == '\n' {
			p.r++
		}
	}
	lf := p.nextLF()
	end := lf
	if end < 0 {
		end = p.w
	}
	from := max(p.r, p.crFrom)
	if i := bytes.IndexByte(p.buf[from:end], '\r'); i >= 0 {
		line := p.buf[p.r : from+i]
		p.r = from + i + 1
		p.skipLF = true
		return line, true
	}
	if lf < 0 {
		p.crFrom = p.w
		return nil, false
	}
	line := p.buf[p.r:lf]
	p.r = lf + 1
	return line, true
}

// nextLF returns the index in buf of the next LF in buf[r:w], or -1. It
// remembers what it found and how far it looked, so that neither a stream of
// CR-terminated lines nor a long line arriving in small reads is searched
// again and again.
func (p *Parser) nextLF() int {
	if p.lfAt >= p.r {
		return p.lfAt
	}
	from := max(p.r, p.lfFrom)
	if i := bytes.IndexByte(p.buf[from:p.w], '\n'); i >= 0 {
		p.lfAt = from + i
		return p.lfAt
	}
	p.lfFrom = p.w
	return -1
}

// skipBOM skips a byte order mark at the start of the stream. It returns
// false while the buffer holds a proper prefix of one, so more must be read.
func (p *Parser) skipBOM() bool {
	avail := p.buf[p.r:p.w]
	n := min(len(avail), len(bom))
	switch {
	case string(avail[:n]) != bom[:n]:
	case n < len(bom):
		return false
	default:
		p.r += len(bom)
	}
	p.bomDone = true
	return true
}

// fill reads more of the stream into the buffer, making room first. It
// returns io.EOF at the end of the stream: an unfinished line or event left
// in the buffer is discarded.
func (p *Parser) fill() error {
	if p.bomDone {
		if err := p.checkSize(p.w - p.r); err != nil {
			return err
		}
	}
	if p.readEOF {
		return io.EOF
	}
	if p.readErr != nil {
		return p.readErr
	}
	p.makeRoom()
	for range maxEmptyReads {
		n, err := p.rd.Read(p.buf[p.w:])
		p.w += n
		if err == io.EOF {
			p.readEOF = true
		} else if err != nil {
			p.readErr = err
		}
		if n > 0 || err != nil {
			return nil
		}
	}
	return io.ErrNoProgress
}

// makeRoom moves the unread bytes to the front of the buffer and grows it
// when they fill it, so that at least one more byte can be read.
func (p *Parser) makeRoom() {
	unread := p.w - p.r
	if p.buf == nil {
		p.buf = make([]byte, readSize)
	} else if unread == 0 && len(p.buf) > keepSize {
		p.buf = make([]byte, readSize)
	} else if unread == len(p.buf) {
		// Double, but not beyond the limit plus room for a BOM. The room
		// left is computed as a difference so that a limit near the
		// largest int does not overflow into growing one byte at a time.
		room := p.maxEventSize() - len(p.buf) + len(bom) + 1
		grown := make([]byte, len(p.buf)+max(min(len(p.buf), room), 1))
		copy(grown, p.buf[p.r:p.w])
		p.buf = grown
	} else if p.r > 0 {
		copy(p.buf, p.buf[p.r:p.w])
	}
	if p.lfAt >= p.r {
		p.lfAt -= p.r
	} else {
		p.lfAt = -1
	}
	p.lfFrom = max(p.lfFrom-p.r, 0)
	p.crFrom = max(p.crFrom-p.r, 0)
	p.r, p.w = 0, unread
}

func (p *Parser) maxEventSize() int {
	if p.MaxEventSize > 0 {
		return p.MaxEventSize
	}
	return DefaultMaxEventSize
}

// checkSize reports ErrEventTooLarge if a line of lineLen bytes would make
// the event exceed the maximum size.
func (p *Parser) checkSize(lineLen int) error {
	limit := p.maxEventSize()
	if lineLen+len(p.dataBuf)+len(p.typeBuf) > limit {
		return fmt.Errorf("%w of %d bytes", ErrEventTooLarge, limit)
	}
	return nil
}

// processField interprets one non-empty line.
func (p *Parser) processField(line []byte) {
	if line[0] == ':' {
		if p.OnComment != nil {
			p.OnComment(decodeUTF8(trimSpace(line[1:])))
		}
		return
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], trimSpace(line[i+1:])
	}
	switch string(name) {
	case "event":
		p.typeBuf = append(p.typeBuf[:0], value...)
	case "data":
		p.dataBuf = append(p.dataBuf, value...)
		p.dataBuf = append(p.dataBuf, '\n')
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.idBuf = append(p.idBuf[:0], value...)
		}
	case "retry":
		if d, ok := parseRetry(value); ok {
			p.retry, p.retrySet = d, true
		}
	}
}

// trimSpace removes one leading space.
func trimSpace(value []byte) []byte {
	if len(value) > 0 && value[0] == ' ' {
		return value[1:]
	}
	return value
}

// parseRetry interprets a retry value made only of ASCII digits as a number
// of milliseconds. A value too large for a time.Duration gives the largest.
func parseRetry(value []byte) (time.Duration, bool) {
	if len(value) == 0 {
		return 0, false
	}
	for _, c := range value {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	ms, err := strconv.ParseInt(string(value), 10, 64)
	if err != nil || ms > math.MaxInt64/int64(time.Millisecond) {
		return math.MaxInt64, true
	}
	return time.Duration(ms) * time.Millisecond, true
}

// dispatch ends the event being read at a blank line. It returns the event,
// or false when the data buffer is empty and there is nothing to dispatch.
func (p *Parser) dispatch() (Event, bool) {
	if string(p.idBuf) != p.lastID {
		p.lastID = decodeUTF8(p.idBuf)
	}
	if len(p.dataBuf) == 0 {
		p.typeBuf = p.typeBuf[:0]
		return Event{}, false
	}
	ev := Event{ID: p.lastID, Type: "message"}
	if len(p.typeBuf) > 0 {
		if string(p.typeBuf) != p.lastType {
			p.lastType = decodeUTF8(p.typeBuf)
		}
		ev.Type = p.lastType
	}
	ev.Data = decodeUTF8(p.dataBuf[:len(p.dataBuf)-1])
	p.typeBuf = p.typeBuf[:0]
	p.dataBuf = p.dataBuf[:0]
	if cap(p.dataBuf) > keepSize {
		p.dataBuf = nil
	}
	return ev, true
}
