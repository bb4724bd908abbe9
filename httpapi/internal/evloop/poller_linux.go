package evloop

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// poller is Linux epoll, edge-triggered: an event comes when a socket
// becomes writable again after it was full, or when its client sent
// something or hung up.
type poller struct {
	epfd   int
	wakefd int // an eventfd that interrupts wait
	events []unix.EpollEvent
	ready  []event
}

// event is the readiness of one connection: the generation tells a reused
// descriptor from the one the event was for.
type event struct {
	fd       int
	gen      uint32
	readable bool
}

func (p *poller) open() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return err
	}
	p.epfd, p.wakefd = epfd, wakefd
	p.events = make([]unix.EpollEvent, 256)
	return nil
}

func (p *poller) add(fd int, gen uint32) error {
	ev := unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET,
		Fd:     int32(fd),
		Pad:    int32(gen),
	}
	return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
}

func (p *poller) remove(fd int) {
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
}

// wait blocks until some sockets are ready. The slice it returns is reused
// by the next call.
func (p *poller) wait() ([]event, error) {
	for {
		n, err := unix.EpollWait(p.epfd, p.events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		p.ready = p.ready[:0]
		for _, ev := range p.events[:n] {
			if int(ev.Fd) == p.wakefd {
				var b [8]byte
				_, _ = unix.Read(p.wakefd, b[:])
				continue
			}
			p.ready = append(p.ready, event{
				fd:       int(ev.Fd),
				gen:      uint32(ev.Pad),
				readable: ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0,
			})
		}
		return p.ready, nil
	}
}

// wake makes a wait return.
func (p *poller) wake() {
	b := [8]byte{1}
	_, _ = unix.Write(p.wakefd, b[:])
}

func (p *poller) close() {
	unix.Close(p.epfd)
	unix.Close(p.wakefd)
}

// iovecs is a worker's vector for writev, reused from call to call.
type iovecs []unix.Iovec

// writev writes bufs to a non-blocking socket. A small write, such as one
// event alone (how every delivery goes at 10 events/s per stream), is a
// raw system call: it never blocks and takes a few microseconds, so the
// goroutine need not tell the Go scheduler it entered a system call, and
// the scheduler does not hand its processor to another thread and back
// while a worker writes to thousands of sockets in a row. At 10,000
// subscribers that halved the hub's CPU per delivery, and the reader's too
// (docs/benchmarks.md). A larger batch goes through the scheduler, which
// may then run other goroutines on the processor while the kernel copies.
func (v *iovecs) writev(fd int, bufs [][]byte) (int, error) {
	iov := (*v)[:0]
	total := 0
	for _, b := range bufs {
		if len(b) > 0 {
			e := unix.Iovec{Base: &b[0]}
			e.SetLen(len(b))
			iov = append(iov, e)
			total += len(b)
		}
	}
	*v = iov
	defer clear(iov) // the frames are shared: do not keep them alive
	if len(iov) == 0 {
		return 0, nil
	}
	call := unix.Syscall
	if total <= rawWriteBytes {
		call = unix.RawSyscall
	}
	for {
		n, _, errno := call(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		switch errno {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		default:
			return 0, errno
		}
	}
}

// rawWriteBytes is the largest write made as a raw system call.
const rawWriteBytes = 4 << 10

// read reads from a non-blocking socket.
func read(fd int, buf []byte) (int, error) {
	return retryEINTR(func() (int, error) { return unix.Read(fd, buf) })
}

// retryEINTR calls op again while a signal interrupts it; on error it
// returns 0 bytes.
func retryEINTR(op func() (int, error)) (int, error) {
	for {
		n, err := op()
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, err
		}
		return n, nil
	}
}
