package redis

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// A replay reads page after page, and each page is one round trip in which
// Redis builds the reply and only then the client parses it: the two wait
// for each other. Seqs are dense, so once a page comes back full the next
// pages' positions are known. The log fetches them in the background, and
// the Read for such a position takes its page instead of asking Redis for
// it, while Redis builds the pages after it.
//
// A page fetched ahead was read at an earlier moment than the Read that
// takes it, so before it is returned one small Read of the position's first
// event, and of the page's last, checks it against Redis as it is now: same
// epoch (the stream was not replaced since), the first event still
// retained (so, as trimming removes the oldest events only, the whole page
// is), and the last one the same (a log that lost its tail and was given
// other events under the same Seqs would differ there; the mark catches
// it only once the log ends before what the node saw). A short page is
// used only if the log still ends where it did. The Read then answers what
// a Read at that moment would.
//
// Read-ahead is bounded for the whole log, whatever the number of readers
// (a reconnect storm of thousands): a few fetches in flight, each holding
// one of the pool's connections, and a bounded number and size of pages
// held. A page not taken within aheadTTL is dropped, and Close drops them
// all and waits for the fetches.
const (
	aheadDepth    = 2        // pages fetched ahead of a full one
	maxAheadPages = 64       // pages held or being fetched
	maxFetching   = 4        // fetches in flight
	maxAheadBytes = 32 << 20 // event bytes held in pages not yet taken
	aheadTTL      = 2 * time.Second
)

// aheadLimits are the bounds above; tests make them smaller.
type aheadLimits struct {
	pages, bytes int
	ttl          time.Duration
}

// aheadPage is a page being read, or read, ahead of its Read.
type aheadPage struct {
	after uint64
	limit int
	done  chan struct{} // closed once the fields below are set
	evs   []*hub.Event
	meta  pageMeta
	err   error
	bytes int         // counted in readAheads.bytes while held
	drop  *time.Timer // drops it when nobody took it
}

// readAheads holds a log's pages read ahead, by position.
type readAheads struct {
	mu       sync.Mutex
	pages    map[uint64]*aheadPage
	fetching int
	bytes    int
	closed   bool
	taken    int64 // pages a Read returned, for tests
	limits   aheadLimits
	wg       sync.WaitGroup // fetches
}

// readAhead answers a Read from a page read ahead for after. ok is false
// when there is none to use; the caller then reads from Redis. A page is
// used only as a Read from Redis would answer now: limit events of it, or
// all of a shorter one if the log still ends where it did.
func (l *Log) readAhead(ctx context.Context, after uint64, limit int) (_ []*hub.Event, ok bool, _ error) {
	p := l.ahead.take(after)
	if p == nil {
		return nil, false, nil
	}
	// The pages after this one, while Redis has nothing else to do: if
	// this one is short, they meet the end of the log and are dropped.
	l.ahead.start(l, after+uint64(limit), limit)
	// The check, while the page may still be on its way: the first event
	// and the last one a full page gives.
	tail := after + uint64(min(limit, p.limit))
	first, now, err := l.readPageAnd(ctx, after, 1, tail)
	if err != nil {
		return nil, true, err // what a Read now answers
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return nil, true, ctx.Err()
	}
	if p.err != nil || len(first) == 0 || p.meta.epoch != now.epoch {
		return nil, false, nil
	}
	evs := p.evs
	switch {
	case len(evs) >= limit:
		evs = evs[:limit]
		if now.tail == nil || !sameEvent(now.tail, evs[len(evs)-1]) {
			return nil, false, nil // the log lost its tail and was given others
		}
	case len(evs) == 0 || evs[len(evs)-1].Seq != now.last:
		return nil, false, nil // the log has grown since
	default:
		// A short page that ends where the log ends. The log may have
		// lost its tail since and been given as many other events by a
		// node that saw nothing of it: the page's last event must be the
		// log's still. (A full page's is checked with the first.)
		_, end, err := l.readPageAnd(ctx, after, 1, evs[len(evs)-1].Seq)
		if err != nil {
			return nil, true, err
		}
		if end.epoch != p.meta.epoch || end.tail == nil || !sameEvent(end.tail, evs[len(evs)-1]) {
			return nil, false, nil
		}
	}
	l.ahead.mu.Lock()
	l.ahead.taken++
	l.ahead.mu.Unlock()
	return evs, true, nil
}

// start reads ahead the aheadDepth pages of limit events after from, those
// not read already, as far as the bounds let it.
func (a *readAheads) start(l *Log, from uint64, limit int) {
	if uint64(limit) >= maxSeq {
		return // no such page, and from+limit would wrap around
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range uint64(aheadDepth) {
		after := from + i*uint64(limit)
		if a.closed || len(a.pages) >= cmp.Or(a.limits.pages, maxAheadPages) || a.fetching >= maxFetching || after >= maxSeq {
			return
		}
		if a.pages[after] != nil {
			continue
		}
		if a.pages == nil {
			a.pages = make(map[uint64]*aheadPage)
		}
		p := &aheadPage{after: after, limit: limit, done: make(chan struct{})}
		a.pages[after] = p
		a.fetching++
		a.wg.Add(1)
		go a.fetch(l, p)
	}
}

// fetch reads p from Redis, bounded by the log's timeout and ended by
// Close, and keeps it for its Read unless that took it already.
func (a *readAheads) fetch(l *Log, p *aheadPage) {
	defer a.wg.Done()
	ctx, cancel := l.bound(l.ctx)
	evs, meta, err := l.readPage(ctx, p.after, p.limit)
	cancel()
	size := pageBytes(evs)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fetching--
	p.evs, p.meta, p.err = evs, meta, err
	close(p.done)
	if a.pages[p.after] != p {
		return // taken while it was read, or dropped by Close
	}
	if err != nil || len(evs) == 0 || a.bytes+size > cmp.Or(a.limits.bytes, maxAheadBytes) {
		// Nothing a Read could use, or too much to hold: its Read
		// reads from Redis.
		delete(a.pages, p.after)
		return
	}
	p.bytes = size
	a.bytes += size
	p.drop = time.AfterFunc(cmp.Or(a.limits.ttl, aheadTTL), func() { a.expire(p) })
}

// take removes the page read ahead for after and returns it, or nil.
func (a *readAheads) take(after uint64) *aheadPage {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.pages[after]
	if p != nil {
		a.remove(p)
	}
	return p
}

// expire drops p if nobody took it.
func (a *readAheads) expire(p *aheadPage) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pages[p.after] == p {
		a.remove(p)
	}
}

// remove takes p out of a; a.mu is held.
func (a *readAheads) remove(p *aheadPage) {
	delete(a.pages, p.after)
	a.bytes -= p.bytes
	p.bytes = 0
	if p.drop != nil {
		p.drop.Stop()
	}
}

// close drops every page and waits for the fetches, which the log's
// context, cancelled by then, ends.
func (a *readAheads) close() {
	a.mu.Lock()
	a.closed = true
	for _, p := range a.pages {
		a.remove(p)
	}
	a.mu.Unlock()
	a.wg.Wait()
}

// pageBytes is about what evs hold in memory.
func pageBytes(evs []*hub.Event) int {
	n := 0
	for _, ev := range evs {
		n += 128 + len(ev.ID) + len(ev.Type) + len(ev.Data)
		for _, t := range ev.Topics {
			n += 16 + len(t)
		}
	}
	return n
}

// sameEvent reports whether a and b are the same event: every field equal.
func sameEvent(a, b *hub.Event) bool {
	return a.Seq == b.Seq && a.ID == b.ID && slices.Equal(a.Topics, b.Topics) && a.Type == b.Type &&
		a.Data == b.Data && a.Retry == b.Retry && a.Private == b.Private && a.Time.Equal(b.Time)
}
