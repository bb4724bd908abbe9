package sse

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Event is one server-sent event.
//
// When encoding, every field is optional: an empty ID or Type is not written,
// a Retry of zero is not written, and Data is always written (an event with
// empty Data is dispatched by clients with empty data). Comment, when not
// empty, is written as comment lines before the fields.
//
// When parsing, ID holds the stream's last event ID at the time the event was
// dispatched (it persists across events, as the standard says), Type holds the
// event type ("message" when the stream gave none) and Data the data buffer
// without its final line feed. Retry and Comment are zero in parsed events:
// the parser reports them separately.
type Event struct {
	ID      string
	Type    string
	Data    string
	Retry   time.Duration
	Comment string
}

// Errors returned by [Event.Validate] and the encoder. They are wrapped with
// the offending field, so test for them with errors.Is.
var (
	ErrInvalidID    = errors.New("sse: id must not contain CR, LF or NUL")
	ErrInvalidType  = errors.New("sse: event type must not contain CR or LF")
	ErrInvalidRetry = errors.New("sse: retry must not be negative")
)

// Validate reports whether e can be encoded without letting any of its
// values escape their field.
func (e *Event) Validate() error {
	if i := strings.IndexAny(e.ID, "\r\n\x00"); i >= 0 {
		return fmt.Errorf("%w (byte %d is %q)", ErrInvalidID, i, e.ID[i])
	}
	if i := strings.IndexAny(e.Type, "\r\n"); i >= 0 {
		return fmt.Errorf("%w (byte %d is %q)", ErrInvalidType, i, e.Type[i])
	}
	if e.Retry < 0 {
		return ErrInvalidRetry
	}
	return nil
}

// ValidID reports whether id can be sent as an event id.
func ValidID(id string) bool { return !strings.ContainsAny(id, "\r\n\x00") }

// ValidType reports whether typ can be sent as an event type.
func ValidType(typ string) bool { return !strings.ContainsAny(typ, "\r\n") }
