package hub

import (
	"sort"
	"sync"
)

// recent keeps the latest dispatched events in memory, encoded, with what
// is needed to filter them (topics, private flag), so that a subscriber
// resuming a little behind (the usual case after a deploy or a network
// blip) is served the very bytes the dispatcher made for live delivery: no
// log read, no decoding, no encoding per resumer, nothing that waits on a
// disk or a network round trip. Older positions fall back to the log.
//
// It covers a contiguous range: every event of the log with a Seq in
// (after, last] is held, because the dispatcher reads the log in order and
// adds each event before it records the event as dispatched. The oldest
// entries are dropped first, once the entries' bytes exceed the budget.
type recent struct {
	mu       sync.RWMutex
	ring     []recentEntry // a ring: oldest at head, n entries
	head, n  int
	bytes    int
	maxBytes int    // <= 0: keep nothing
	after    uint64 // every event after this and up to the newest is held
}

type recentEntry struct {
	seq     uint64
	topics  []string
	private bool
	frame   []byte // nil for an event that cannot be sent
}

// recentEntryCost is what an entry costs besides its frame: the entry and
// a share of the topics it keeps alive.
const recentEntryCost = 80

func (r *recent) init(maxBytes int, after uint64) {
	r.maxBytes = maxBytes
	r.after = after
}

// add appends the event just read from the log, dropping the oldest
// entries over the budget. Only the dispatcher calls it, in log order.
func (r *recent) add(ev *Event, frame []byte) {
	if r.maxBytes <= 0 {
		return
	}
	cost := len(frame) + recentEntryCost
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.n > 0 && r.bytes+cost > r.maxBytes {
		r.dropOldest()
	}
	if cost > r.maxBytes {
		r.after = ev.Seq // too large to keep: the range restarts after it
		return
	}
	if r.n == len(r.ring) {
		r.grow()
	}
	r.ring[(r.head+r.n)%len(r.ring)] = recentEntry{ev.Seq, ev.Topics, ev.Private, frame}
	r.n++
	r.bytes += cost
}

func (r *recent) dropOldest() {
	e := &r.ring[r.head]
	r.after = e.seq
	r.bytes -= len(e.frame) + recentEntryCost
	*e = recentEntry{}
	r.head = (r.head + 1) % len(r.ring)
	r.n--
}

// grow doubles the ring, which so far held every entry the budget allows.
func (r *recent) grow() {
	ring := make([]recentEntry, max(64, 2*len(r.ring)))
	for i := range r.n {
		ring[i] = r.ring[(r.head+i)%len(r.ring)]
	}
	r.ring, r.head = ring, 0
}

// reset forgets every entry: the dispatcher continues after pos, and what
// lies between is not in the log any more.
func (r *recent) reset(pos uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.ring)
	r.head, r.n, r.bytes = 0, 0, 0
	r.after = pos
}

// lookup returns the topics and private flag of the event at seq, if the
// entries hold it.
func (r *recent) lookup(seq uint64) (topics []string, private, ok bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.maxBytes <= 0 || seq <= r.after {
		return nil, false, false
	}
	i := sort.Search(r.n, func(i int) bool { return r.ring[(r.head+i)%len(r.ring)].seq >= seq })
	if i == r.n {
		return nil, false, false
	}
	e := &r.ring[(r.head+i)%len(r.ring)]
	return e.topics, e.private, e.seq == seq
}

// read appends to out the frames s wants among the events after s.pos, at
// most limit events and about maxBytes of frames, and advances s.pos past
// the events it looked at. ok is false, and nothing changes, when the
// entries no longer reach back to s.pos: the log has those events. more
// is true when entries remain after the ones read.
func (r *recent) read(s *Subscription, out [][]byte, limit, maxBytes int) (_ [][]byte, more, ok bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.maxBytes <= 0 || s.pos < r.after {
		return out, false, false
	}
	// Entries are in Seq order: find the first one after s.pos.
	i := sort.Search(r.n, func(i int) bool { return r.ring[(r.head+i)%len(r.ring)].seq > s.pos })
	bytes := 0
	for end := min(r.n, i+limit); i < end && bytes < maxBytes; i++ {
		e := &r.ring[(r.head+i)%len(r.ring)]
		s.pos = e.seq
		if e.frame != nil && s.wantsTopics(e.topics, e.private) {
			out = append(out, e.frame)
			bytes += len(e.frame)
		}
	}
	return out, i < r.n, true
}
