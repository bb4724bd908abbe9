package evloop

// Figures are the loop's own measurements, for metrics.
type Figures struct {
	Streams       int   // streams held now
	Blocked       int   // of them, those whose socket has refused bytes and waits to drain
	WriteTimeouts int64 // streams closed since the start because their client took nothing for WriteTimeout
}

// Figures reads the loop's figures. It walks the streams under the loop's
// lock, which is cheap beside a scrape interval.
func (l *Loop) Figures() Figures {
	l.mu.Lock()
	f := Figures{Streams: len(l.conns), WriteTimeouts: l.timeouts.Load()}
	for _, c := range l.conns {
		if c.blockedSince.Load() != 0 {
			f.Blocked++
		}
	}
	l.mu.Unlock()
	return f
}
