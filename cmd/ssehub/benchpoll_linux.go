package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const defaultBenchReader = "epoll"

// pollSubscribers reads every stream from one goroutine per core, each
// waiting on its own epoll set, until ctx ends. Level-triggered epoll
// means one read per wake-up: a goroutine per stream costs the reading
// side two reads (the second one finds nothing and parks) and a goroutine
// switch per event, which on two shared cores takes time from the hub
// being measured.
func pollSubscribers(ctx context.Context, subs []*benchSubscriber, lastDelivery *atomic.Int64, wg *sync.WaitGroup) error {
	shards := make([][]*benchSubscriber, min(defaultProcs, len(subs)))
	for i, s := range subs {
		shards[i%len(shards)] = append(shards[i%len(shards)], s)
	}
	for _, shard := range shards {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			return fmt.Errorf("epoll: %w", err)
		}
		fds := make([]int, len(shard))
		for i, s := range shard {
			if fds[i], err = rawFD(s); err == nil {
				ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fds[i]), Pad: int32(i)}
				err = unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fds[i], &ev)
			}
			if err != nil {
				unix.Close(epfd)
				return fmt.Errorf("epoll: %w", err)
			}
		}
		wg.Go(func() {
			defer unix.Close(epfd)
			defer func() {
				for _, s := range shard {
					s.close()
				}
			}()
			now := time.Now().UnixNano()
			for _, s := range shard {
				if err := s.feed(s.initial, now, lastDelivery); err != nil {
					s.err.Store(&err)
				}
			}
			readShard(ctx, epfd, shard, fds, lastDelivery)
		})
	}
	return nil
}

func readShard(ctx context.Context, epfd int, shard []*benchSubscriber, fds []int, lastDelivery *atomic.Int64) {
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	for ctx.Err() == nil {
		n, err := unix.EpollWait(epfd, events, 50) // ms: how soon ctx is noticed
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			for _, s := range shard {
				s.err.Store(&err)
			}
			return
		}
		for _, ev := range events[:n] {
			s, fd := shard[ev.Pad], fds[ev.Pad]
			m, err := unix.Read(fd, buf)
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			if err == nil && m == 0 {
				err = io.EOF
			}
			if err == nil {
				err = s.feed(buf[:m], time.Now().UnixNano(), lastDelivery)
			}
			if err != nil {
				s.err.Store(&err)
				_ = unix.EpollCtl(epfd, unix.EPOLL_CTL_DEL, fd, nil)
			}
		}
	}
}

// rawFD returns the descriptor of a subscriber's connection.
func rawFD(s *benchSubscriber) (int, error) {
	sc, ok := s.conn.(syscall.Conn)
	if !ok {
		return 0, errors.New("connection without a descriptor")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	fd := -1
	if err := raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return 0, err
	}
	return fd, nil
}

// streamPoller reads streams that are added while it runs (the resumers of
// a storm, each read from the moment it is connected), from one goroutine
// per core.
type streamPoller struct {
	epfds []int
	slots []atomic.Pointer[benchSubscriber]
	fds   []int
	last  atomic.Int64 // the last delivery to any of them, unix nanos
}

// newStreamPoller starts readers for up to n streams, until ctx ends.
func newStreamPoller(ctx context.Context, n int, wg *sync.WaitGroup) (*streamPoller, error) {
	p := &streamPoller{slots: make([]atomic.Pointer[benchSubscriber], n), fds: make([]int, n)}
	for range defaultProcs {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			for _, fd := range p.epfds {
				unix.Close(fd)
			}
			return nil, fmt.Errorf("epoll: %w", err)
		}
		p.epfds = append(p.epfds, epfd)
	}
	for _, epfd := range p.epfds {
		wg.Go(func() {
			defer unix.Close(epfd)
			p.read(ctx, epfd)
		})
	}
	return p, nil
}

// add starts reading stream i, s, which no other goroutine uses now.
func (p *streamPoller) add(i int, s *benchSubscriber) error {
	fd, err := rawFD(s)
	if err != nil {
		return err
	}
	if err := s.feed(s.initial, time.Now().UnixNano(), &p.last); err != nil {
		s.err.Store(&err)
	}
	p.fds[i] = fd
	p.slots[i].Store(s) // publishes fds[i] and s to the readers
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd), Pad: int32(i)}
	return unix.EpollCtl(p.epfds[i%len(p.epfds)], unix.EPOLL_CTL_ADD, fd, &ev)
}

func (p *streamPoller) read(ctx context.Context, epfd int) {
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	for ctx.Err() == nil {
		n, err := unix.EpollWait(epfd, events, 50) // ms: how soon ctx is noticed
		if err != nil {
			continue // EINTR; a closed epfd ends with ctx
		}
		for _, ev := range events[:n] {
			s := p.slots[ev.Pad].Load()
			fd := p.fds[ev.Pad]
			m, err := unix.Read(fd, buf)
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			if err == nil && m == 0 {
				err = io.EOF
			}
			if err == nil {
				err = s.feed(buf[:m], time.Now().UnixNano(), &p.last)
			}
			if err != nil {
				s.err.Store(&err)
				_ = unix.EpollCtl(epfd, unix.EPOLL_CTL_DEL, fd, nil)
			}
		}
	}
}
