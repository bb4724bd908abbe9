package redis

import (
	"crypto/sha1"
	"encoding/hex"
)

// A Mark (l.mark) catches a log that lost its tail while it ends before
// what the node saw. It cannot catch one whose lost Seqs were handed out
// again by a node that never saw them: after a failover to a replica that
// lacked the newest appends, another node appends at once, and the log
// ends where it did, but with other events. The sighting catches that: the
// newest event the node saw the encoding of, by its Seq and a sum of the
// encoding. An entry is written once in an epoch, so another encoding
// under that Seq means the log is not the one the node saw (refilledLua).
type sighting struct {
	epoch string
	seq   uint64
	sum   string // hex SHA-1 of the entry's e field, as Lua's sha1hex
}

// encodingSum is the sum of an entry's encoding a sighting keeps.
func encodingSum(enc []byte) string {
	s := sha1.Sum(enc)
	return hex.EncodeToString(s[:])
}

// saw records that the log held enc at seq in epoch ep, if that is newer
// than what the node saw so far in the epoch it serves.
func (l *Log) saw(ep string, seq uint64, enc []byte) {
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
			next = &sighting{epoch: ep, seq: seq, sum: encodingSum(enc)}
		}
		if l.seen.CompareAndSwap(cur, next) {
			return
		}
	}
}

// sighted returns what the node saw in epoch ep, to check the log
// against; the zero sighting when nothing.
func (l *Log) sighted(ep string) sighting {
	if s := l.seen.Load(); s != nil && s.epoch == ep {
		return *s
	}
	return sighting{epoch: ep}
}

// differs reports whether raw, an XRANGE reply for s's Seq alone, holds
// another event than s. A reply without the entry (trimmed since) does
// not differ: it tells nothing.
func (s sighting) differs(raw []byte) bool {
	if s.seq == 0 {
		return false
	}
	r := respReader{b: raw}
	if _, err := r.entries(s.seq - 1); err != nil || r.last == nil {
		return false
	}
	return encodingSum(r.last) != s.sum
}
