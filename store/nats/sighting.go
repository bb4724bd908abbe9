package nats

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
)

// A Mark (l.mark) catches a stream that lost its tail while it ends before
// what the node saw. It cannot catch one whose lost sequences were handed
// out again by a node that never saw them: after a crash of the server's
// machine, a node whose tail had not yet read the newest messages, or one
// started since, appends at once, and the stream ends where it did, or
// past it, with other events under the same sequences. The sighting
// catches that: the newest message the node saw the data of, by its
// sequence. JetStream stores a message once under a sequence of a stream,
// so other data under that sequence means the stream is not the one the
// node saw (checkSighting).
type sighting struct {
	epoch   string
	seq     uint64
	subject string // the subject it was stored on (see Log.base)
	data    []byte // as published: nothing writes to it after
}

// saw records that the stream of epoch ep held data, stored on subject, at
// seq, if that is newer than what the node saw so far in the epoch it
// serves.
func (l *Log) saw(ep string, seq uint64, subject string, data []byte) {
	if seq == 0 || ep != *l.epoch.Load() {
		return
	}
	var next *sighting
	for {
		cur := l.seen.Load()
		if cur != nil && cur.epoch == ep && cur.seq >= seq {
			return
		}
		if next == nil {
			next = &sighting{epoch: ep, seq: seq, subject: subject, data: data}
		}
		if l.seen.CompareAndSwap(cur, next) {
			return
		}
	}
}

// sighted returns what the node saw in epoch ep, to check the stream
// against; the zero sighting when nothing.
func (l *Log) sighted(ep string) sighting {
	if s := l.seen.Load(); s != nil && s.epoch == ep {
		return *s
	}
	return sighting{epoch: ep}
}

// msgGetReply is the part of JetStream's answer to a message get that
// the sighting check reads.
type msgGetReply struct {
	Message *struct {
		Subject string `json:"subject"`
		Seq     uint64 `json:"seq"`
		Data    []byte `json:"data"` // base64 in the JSON
	} `json:"message"`
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

// errCodeNoMessage is JetStream's "no message found".
const errCodeNoMessage = 10037

// lookAtSighting starts asking the stream for the message at the sequence
// of what the node saw in the epoch it serves, beside the caller's own
// requests; the returned function waits for the answer (it must be
// called). differs reports that the stream holds another message there;
// a message trimmed since, or one on another subject (the stream was
// replaced since the look that found it in the sighting's epoch, which
// the caller's own look tells), does not differ. The caller acts on it
// only once its own look found the stream still in s.epoch: the sighting
// says nothing of another epoch's stream.
func (l *Log) lookAtSighting(ctx context.Context) (s sighting, wait func() (differs bool, err error)) {
	if ep := l.epoch.Load(); ep != nil { // nil before the first Info
		s = l.sighted(*ep)
	}
	if s.seq == 0 {
		return s, func() (bool, error) { return false, nil }
	}
	done := make(chan struct{})
	var differs bool
	var err error
	go func() {
		defer close(done)
		differs, err = l.fetchSighted(ctx, s)
	}()
	return s, func() (bool, error) {
		<-done
		return differs, err
	}
}

// fetchSighted is lookAtSighting's request: one message get, with no look
// at the stream's info first.
func (l *Log) fetchSighted(ctx context.Context, s sighting) (differs bool, err error) {
	req := strconv.AppendUint([]byte(`{"seq":`), s.seq, 10)
	req = append(req, '}')
	m, err := l.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+l.name, req)
	if err != nil {
		return false, l.fail(ctx, "checking the newest event seen", err)
	}
	var reply msgGetReply
	if err := json.Unmarshal(m.Data, &reply); err != nil {
		return false, fmt.Errorf("nats: checking the newest event seen: an answer that is not JSON: %v", err)
	}
	switch {
	case reply.Error != nil && (reply.Error.ErrCode == errCodeNoMessage || reply.Error.Code == 404):
		return false, nil // trimmed since (or the stream is gone, which the caller's look tells)
	case reply.Error != nil:
		return false, l.fail(ctx, "checking the newest event seen", fmt.Errorf("%d %s", reply.Error.Code, reply.Error.Description))
	case reply.Message == nil || reply.Message.Seq != s.seq || reply.Message.Subject != s.subject:
		return false, nil
	}
	return !bytes.Equal(reply.Message.Data, s.data), nil
}

// refilled is lostTail's error for a stream found holding another message
// under the sighting's sequence.
func (l *Log) refilled(ctx context.Context, s sighting) error {
	return l.lostTail(ctx, fmt.Sprintf("the stream holds another event under %d than the one this node saw there", s.seq))
}
