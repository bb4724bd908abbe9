package hub

// QueueCaps returns the capacities of a subscription's queue buffers, for
// tests that check an idle subscription lets go of what a burst grew.
// Only the subscription's owner may call it.
func QueueCaps(s *Subscription) (queue, spare int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cap(s.queue), cap(s.spare)
}
