package hub

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// Event is one published event.
type Event struct {
	// Seq is the event's position in the log, assigned by [Log.Append]:
	// strictly increasing, starting at 1, never reused within one epoch.
	Seq uint64
	// ID is the id the publisher gave, or empty when the hub assigns one.
	// Hub-assigned ids are derived from the log's epoch and Seq (see [FormatID])
	// and filled in when the event leaves the hub.
	ID string
	// Topics the event is published to; at least one.
	Topics []string
	// Type is the SSE event type; empty means the default "message".
	Type string
	// Data is the payload, UTF-8 text.
	Data string
	// Retry, when positive, is sent to subscribers as their reconnection delay.
	Retry time.Duration
	// Private events reach only subscribers allowed to receive one of Topics.
	Private bool
	// Time is when the hub accepted the event.
	Time time.Time
}

// Limits on what a publisher may send.
const (
	MaxTopics    = 64
	MaxTopicLen  = 1024
	MaxIDLen     = 256
	MaxTypeLen   = 256
	DefaultLimit = 1 << 20 // default maximum Data size in bytes
)

// Errors a publish can fail with. They are wrapped with details; test with errors.Is.
var (
	ErrInvalidEvent = errors.New("invalid event")
	ErrDuplicateID  = errors.New("an event with this id already exists")
	ErrReservedID   = errors.New("id has the form the hub uses for its own ids")
)

// Validate checks what the hub needs of an event before it is appended: at
// least one topic, topics and type of sane length, an id and type that cannot
// inject SSE fields. maxData limits Data's size (0: no limit).
func (e *Event) Validate(maxData int) error {
	if len(e.Topics) == 0 {
		return fmt.Errorf("%w: at least one topic is required", ErrInvalidEvent)
	}
	if len(e.Topics) > MaxTopics {
		return fmt.Errorf("%w: %d topics, at most %d allowed", ErrInvalidEvent, len(e.Topics), MaxTopics)
	}
	for _, t := range e.Topics {
		if t == "" || len(t) > MaxTopicLen {
			return fmt.Errorf("%w: a topic must be 1 to %d bytes long", ErrInvalidEvent, MaxTopicLen)
		}
	}
	if len(e.ID) > MaxIDLen {
		return fmt.Errorf("%w: id longer than %d bytes", ErrInvalidEvent, MaxIDLen)
	}
	if !sse.ValidID(e.ID) {
		return fmt.Errorf("%w: id must not contain CR, LF or NUL", ErrInvalidEvent)
	}
	if len(e.Type) > MaxTypeLen {
		return fmt.Errorf("%w: type longer than %d bytes", ErrInvalidEvent, MaxTypeLen)
	}
	if !sse.ValidType(e.Type) {
		return fmt.Errorf("%w: type must not contain CR or LF", ErrInvalidEvent)
	}
	if e.Retry < 0 {
		return fmt.Errorf("%w: retry must not be negative", ErrInvalidEvent)
	}
	if maxData > 0 && len(e.Data) > maxData {
		return fmt.Errorf("%w: data is %d bytes, at most %d allowed", ErrInvalidEvent, len(e.Data), maxData)
	}
	return nil
}

// FormatID returns the id the hub gives the event at seq in a log of the
// given epoch: "EPOCH-SEQ". Clients treat it as opaque; the hub parses it back
// to resume a stream without an index lookup.
func FormatID(epoch string, seq uint64) string {
	var buf [48]byte // one allocation, the string's, for any usual epoch
	b := append(append(buf[:0], epoch...), '-')
	return string(strconv.AppendUint(b, seq, 10))
}

// ParseID is the inverse of [FormatID]. ok is false when id does not have the
// form of a hub-assigned id. Seq 0 names the position before the first event.
func ParseID(id string) (epoch string, seq uint64, ok bool) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(id[i+1:], 10, 64)
	if err != nil || strconv.FormatUint(seq, 10) != id[i+1:] {
		return "", 0, false
	}
	return id[:i], seq, true
}
