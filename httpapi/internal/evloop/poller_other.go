//go:build !linux

package evloop

// Elsewhere than Linux there is no poller yet: New fails with
// ErrUnsupported and streams are served with a goroutine each.

type poller struct{}

type event struct {
	fd       int
	gen      uint32
	readable bool
}

func (p *poller) open() error                  { return ErrUnsupported }
func (p *poller) add(fd int, gen uint32) error { return ErrUnsupported }
func (p *poller) remove(fd int)                {}
func (p *poller) wait() ([]event, error)       { return nil, ErrUnsupported }
func (p *poller) wake()                        {}
func (p *poller) close()                       {}

type iovecs struct{}

func (*iovecs) writev(fd int, bufs [][]byte) (int, error) { return 0, ErrUnsupported }
func read(fd int, buf []byte) (int, error)                { return 0, ErrUnsupported }
