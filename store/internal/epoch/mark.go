package epoch

import "sync/atomic"

// Mark is the highest Seq a node knows its log held in one epoch: the end
// of what it has appended, read or seen the log report. A log's sequence
// only grows within an epoch (trimming keeps the end), so a log of that
// epoch that ends before the mark lost events the node acknowledged or
// delivered, and must not hand their Seqs to other events. A Mark belongs
// to its epoch, so that what was seen in an old epoch does not count in a
// new one.
type Mark struct {
	Epoch string
	seq   atomic.Uint64
}

// NewMark returns the mark of epoch, at seq.
func NewMark(epoch string, seq uint64) *Mark {
	m := &Mark{Epoch: epoch}
	m.seq.Store(seq)
	return m
}

// Seq is the highest Seq the mark has seen.
func (m *Mark) Seq() uint64 { return m.seq.Load() }

// Saw records that the log held seq in m's epoch.
func (m *Mark) Saw(seq uint64) {
	for {
		cur := m.seq.Load()
		if seq <= cur || m.seq.CompareAndSwap(cur, seq) {
			return
		}
	}
}
