//go:build linux

package evloop_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fanoutReaderEnv, set in a child of the test binary, makes it the reader
// of benchFanoutWrite instead of running tests: "ADDR N" dials N
// connections to ADDR and reads them until they all end.
const fanoutReaderEnv = "SSEHUB_FANOUT_READER"

// benchFanoutWrite is the kernel's floor under the load `ssehub bench
// --subscribers n --rate 10` puts on a hub: n loopback connections, each
// written one frame in turn, the whole round ten times a second, and read
// in another process by one epoll reader on the other processor, as the
// hub's streams are by the load tool. Per write it costs more than
// loopback-tcp-spread's 1,000 connections: each write touches a socket
// (and its peer) that 10,000 others pushed out of the processor's caches.
func benchFanoutWrite(b *testing.B, msg []byte, n int, every time.Duration) {
	var cpus unix.CPUSet
	pinned := unix.SchedGetaffinity(0, &cpus) == nil && cpus.Count() >= 2
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d", fanoutReaderEnv, ln.Addr(), n))
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := child.Start(); err != nil {
		b.Fatal(err)
	}
	defer child.Wait()
	defer child.Process.Kill() // a no-op once it has ended
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(time.Minute))
	for range n {
		c, err := ln.Accept()
		if err != nil {
			b.Fatalf("the reader's connection %d of %d: %v", len(conns)+1, n, err)
		}
		conns = append(conns, c)
	}
	fds := rawFDs(b, conns)
	if pinned {
		pinThread(b, cpus, 0)
	}
	i := 0
	next := time.Now()
	measureThreadCPU(b, func() {
		for b.Loop() {
			if i == 0 {
				next = next.Add(every)
			}
			if err := writeAll(fds[i], msg); err != nil {
				b.Fatal(err)
			}
			if i++; i == n {
				i = 0
				time.Sleep(time.Until(next))
			}
		}
	})
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	// The reader reports what it read once every connection has ended.
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("the reader said nothing: %v", err)
	}
	var reads, got int64
	if _, err := fmt.Sscan(line, &reads, &got); err != nil {
		b.Fatalf("the reader said %q: %v", line, err)
	}
	if want := int64(b.N) * int64(len(msg)); got != want {
		b.Fatalf("the reader got %d bytes of %d", got, want)
	}
	b.ReportMetric(float64(reads)/float64(b.N), "reads/write")
}

// fanoutReader is the child of benchFanoutWrite: it dials the connections
// named by spec ("ADDR N"), reads them with one epoll loop pinned to the
// second processor it may use, and prints how many reads and bytes it
// took once every connection has ended.
func fanoutReader(spec string) error {
	addr, count, _ := strings.Cut(spec, " ")
	n, err := strconv.Atoi(count)
	if err != nil || n <= 0 {
		return fmt.Errorf("%s=%q: want ADDR N", fanoutReaderEnv, spec)
	}
	runtime.LockOSThread()
	var cpus unix.CPUSet
	if unix.SchedGetaffinity(0, &cpus) == nil && cpus.Count() >= 2 {
		if err := pinTo(cpus, 1); err != nil {
			return err
		}
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(epfd)
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i+1, err)
		}
		conns[i] = c
		raw, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			return err
		}
		var fd int
		raw.Control(func(f uintptr) { fd = int(f) })
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return err
		}
	}
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	var reads, got int64
	deadline := time.Now().Add(10 * time.Minute) // the parent is gone: stop anyway
	for open := n; open > 0 && time.Now().Before(deadline); {
		k, err := unix.EpollWait(epfd, events, 1000)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return err
		}
		for _, ev := range events[:max(k, 0)] {
			m, err := unix.Read(int(ev.Fd), buf)
			switch {
			case m > 0:
				reads++
				got += int64(m)
			case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			default: // ended (or broken): stop watching it
				unix.EpollCtl(epfd, unix.EPOLL_CTL_DEL, int(ev.Fd), nil)
				open--
			}
		}
	}
	for _, c := range conns {
		c.Close()
	}
	fmt.Println(reads, got)
	return nil
}
