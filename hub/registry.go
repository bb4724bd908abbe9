package hub

import (
	"sync"
	"sync/atomic"
)

// registry holds the live subscriptions. Subscriptions whose selectors are
// all exact topics are indexed by topic, so an event reaches them with one
// map lookup per topic; the others are tried against every event.
//
// Lock order: registry.mu before Subscription.mu.
type registry struct {
	mu       sync.RWMutex
	exact    map[string]map[*Subscription]struct{}
	patterns map[*Subscription]struct{}
	count    int64
	// closed is set by close, under the write lock: from then on add
	// refuses, so no subscription can register after the hub ended all.
	closed bool
	// dispatched is the Seq of the last event fanned out. Only the single
	// dispatcher stores it, while holding the read lock, so a subscription
	// registered under the write lock knows exactly which events it will
	// receive live: those after dispatched. It is atomic because other
	// readers (Stats) may load it while the dispatcher stores it.
	dispatched atomic.Uint64
	// epoch is the epoch of the log the hub serves (Hub.Epoch). It is
	// stored under the write lock, with dispatched, when the log is
	// replaced, so add returns a position and the epoch it belongs to.
	epoch atomic.Pointer[string]
}

func (r *registry) init() {
	r.exact = make(map[string]map[*Subscription]struct{})
	r.patterns = make(map[*Subscription]struct{})
}

// add registers s and returns the Seq of the last event dispatched before
// it, and the epoch that Seq is of. It reports false, registering nothing,
// once the registry is closed.
func (r *registry) add(s *Subscription) (uint64, string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, "", false
	}
	r.count++
	if !s.exactOnly() {
		r.patterns[s] = struct{}{}
		return r.dispatched.Load(), *r.epoch.Load(), true
	}
	for _, sel := range s.selectors {
		set := r.exact[sel.raw]
		if set == nil {
			set = make(map[*Subscription]struct{})
			r.exact[sel.raw] = set
		}
		set[s] = struct{}{}
	}
	return r.dispatched.Load(), *r.epoch.Load(), true
}

func (r *registry) remove(s *Subscription) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !s.exactOnly() {
		if _, ok := r.patterns[s]; ok {
			delete(r.patterns, s)
			r.count--
		}
		return
	}
	removed := false
	for _, sel := range s.selectors {
		set := r.exact[sel.raw]
		if _, ok := set[s]; ok {
			removed = true
			delete(set, s)
			if len(set) == 0 {
				delete(r.exact, sel.raw)
			}
		}
	}
	if removed {
		r.count--
	}
}

// each calls fn for every subscription that may want an event on topics
// (some more than once), then records seq as dispatched, all under the read
// lock. matched is true when the subscription was found through the exact
// index, so one of its selectors is known to match.
func (r *registry) each(topics []string, seq uint64, fn func(s *Subscription, matched bool)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, t := range topics {
		for s := range r.exact[t] {
			fn(s, true)
		}
	}
	for s := range r.patterns {
		fn(s, false)
	}
	r.dispatched.Store(seq)
}

// close ends every subscription with err and refuses any later add. The
// flag and the ending happen under one write lock, so a Subscribe racing
// Close is either ended here or refused, never left registered and alive.
func (r *registry) close(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	r.endLocked(err)
}

// endAll ends every subscription with err.
func (r *registry) endAll(err error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	r.endLocked(err)
}

// endLocked ends every subscription with err; r.mu must be held.
func (r *registry) endLocked(err error) {
	for _, set := range r.exact {
		for s := range set {
			s.end(err)
		}
	}
	for s := range r.patterns {
		s.end(err)
	}
}

func (r *registry) size() (subs, topics int64, dispatched uint64) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.count, int64(len(r.exact)), r.dispatched.Load()
}
