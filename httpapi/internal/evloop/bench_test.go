//go:build linux

package evloop_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/httpapi/internal/evloop"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/sse"
	"golang.org/x/sys/unix"
)

// BenchmarkFanout publishes events to streams served by the loop over
// loopback TCP and waits until every client has read every event. The
// clients run in this process, so the figure includes reading.
//
//	go test -run '^$' -bench Fanout ./httpapi/internal/evloop/
func BenchmarkFanout(b *testing.B) {
	for _, streams := range []int{100, 1000} {
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
			f := newFixture(b, hub.Options{}, evloop.Options{})
			// Each client counts what it read; the publisher stays within
			// a window of the slowest, below the hub's queue size, so no
			// stream is dropped as too slow.
			read := make([]atomic.Int64, streams)
			progress := make(chan struct{}, 1)
			var wg sync.WaitGroup
			for i := range streams {
				c := f.open(hub.SubscribeRequest{Topics: []string{"bench"}})
				c.conn.SetReadDeadline(time.Time{})
				wg.Add(1)
				go func() {
					defer wg.Done()
					countFrames(c.r, b.N, func(n int) {
						read[i].Store(int64(n))
						select {
						case progress <- struct{}{}:
						default:
						}
					})
				}()
			}
			slowest := func() int64 {
				m := read[0].Load()
				for i := range read {
					m = min(m, read[i].Load())
				}
				return m
			}
			const batch, window = 100, 2048
			b.ResetTimer()
			for sent := 0; sent < b.N; sent += batch {
				for int64(sent)-slowest() > window {
					<-progress
				}
				evs := make([]hub.Event, min(batch, b.N-sent))
				for i := range evs {
					evs[i] = hub.Event{Topics: []string{"bench"}, Data: "a typical small event of about sixty bytes"}
				}
				if _, err := f.hub.Publish(context.Background(), evs...); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
			b.StopTimer()
			for i := range read {
				if n := read[i].Load(); n != int64(b.N) {
					b.Fatalf("a client read %d events, want %d", n, b.N)
				}
			}
			b.ReportMetric(float64(b.N*streams)/b.Elapsed().Seconds(), "deliveries/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*streams), "ns/delivery")
		})
	}
}

// countFrames reads until it has seen n frames (blank-line ends),
// reporting the count after every read.
func countFrames(r io.Reader, n int, report func(int)) {
	buf := make([]byte, 64<<10)
	var prev byte
	seen := 0
	for seen < n {
		m, err := r.Read(buf)
		for _, c := range buf[:m] {
			if c == '\n' && prev == '\n' {
				seen++
			}
			prev = c
		}
		report(seen)
		if err != nil {
			return
		}
	}
}

// BenchmarkWrite measures the floor under every delivery: one write
// system call of a typical frame (an event of `ssehub bench`, 64 bytes of
// data, as one chunk of the chunked body: 128 bytes). Each reports the
// writing thread's own CPU time per write (cpu-ns/op) besides the time.
//
//   - devnull: the system call alone.
//
//   - loopback-tcp: one loopback TCP connection, written as fast as it
//     goes while a goroutine reads it. Its writes queue behind each
//     other, so the kernel sends many frames at once (and when acks come
//     back, in the reader's time): cheaper than any delivery to a stream
//     that had time to drain.
//
//   - loopback-tcp-spread: the kernel's floor for a delivery as the hub
//     makes it at 10 events/s per stream (#11): 1,000 connections
//     written in turn and read by one epoll reader, the way `ssehub
//     bench` reads, so each write finds its socket drained and is sent
//     at once. With two processors or more the writer runs on the first
//     and the reader on the second, as hub and load tool do under
//     taskset.
//
//   - loopback-tcp-fanout-10000: that load as the hub meets it in the
//     10,000 subscribers × 10 events/s run: 10,000 connections, a round
//     of writes to all of them every 100 ms, read by another process (see
//     benchFanoutWrite). This is the floor that run's CPU per delivery is
//     held against; -benchtime 200000x is 20 rounds.
//
//   - loopback-tcp-fanout-6000x10: the same for the end of the reconnect
//     storm (docs/storm.sh): 6,000 live streams, each written the ten
//     events of a batch in one write every 100 ms.
//
//     go test -run '^$' -bench Write ./httpapi/internal/evloop/
func BenchmarkWrite(b *testing.B) {
	msg := typicalFrame(b)
	b.Run("devnull", func(b *testing.B) {
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		fd := int(f.Fd())
		measureThreadCPU(b, func() {
			for b.Loop() {
				if _, err := syscall.Write(fd, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("loopback-tcp", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.Copy(io.Discard, c)
			c.Close()
		}()
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		measureThreadCPU(b, func() {
			for b.Loop() {
				if _, err := conn.Write(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
		conn.Close()
		<-done
	})
	b.Run("loopback-tcp-spread", func(b *testing.B) { benchSpreadWrite(b, msg, 1000) })
	b.Run("loopback-tcp-fanout-10000", func(b *testing.B) { benchFanoutWrite(b, msg, 10000, 100*time.Millisecond) })
	b.Run("loopback-tcp-fanout-6000x10", func(b *testing.B) { benchFanoutWrite(b, bytes.Repeat(msg, 10), 6000, 100*time.Millisecond) })
}

// benchSpreadWrite writes msg to n loopback connections in turn, read by
// one epoll reader, and reports besides the writer's CPU how many reads
// the reader needed per write (near 1: each write was read by itself, so
// none waited behind another).
func benchSpreadWrite(b *testing.B, msg []byte, n int) {
	var cpus unix.CPUSet
	pinned := unix.SchedGetaffinity(0, &cpus) == nil && cpus.Count() >= 2
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	writers := make([]net.Conn, n)
	readers := make([]net.Conn, n)
	defer func() {
		for i := range n {
			if writers[i] != nil {
				writers[i].Close()
			}
			if readers[i] != nil {
				readers[i].Close()
			}
		}
	}()
	for i := range n {
		if writers[i], err = net.Dial("tcp", ln.Addr().String()); err == nil {
			readers[i], err = ln.Accept()
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range readers {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(rawFD(b, c))}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, int(ev.Fd), &ev); err != nil {
			b.Fatal(err)
		}
	}
	var stop atomic.Bool
	var reads, bytesRead atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer unix.Close(epfd)
		if pinned {
			pinThread(b, cpus, 1)
		}
		events := make([]unix.EpollEvent, 256)
		buf := make([]byte, 64<<10)
		for !stop.Load() {
			k, err := unix.EpollWait(epfd, events, 10)
			if err != nil && !errors.Is(err, unix.EINTR) {
				b.Error(err)
				return
			}
			for _, ev := range events[:max(k, 0)] {
				if m, err := unix.Read(int(ev.Fd), buf); err == nil {
					reads.Add(1)
					bytesRead.Add(int64(m))
				}
			}
		}
	}()
	fds := rawFDs(b, writers)
	if pinned {
		pinThread(b, cpus, 0)
	}
	i := 0
	measureThreadCPU(b, func() {
		for b.Loop() {
			if err := writeAll(fds[i], msg); err != nil {
				b.Fatal(err)
			}
			if i++; i == n {
				i = 0
			}
		}
	})
	// Every byte is read before the reader stops, so its count is whole.
	want := int64(b.N) * int64(len(msg))
	for deadline := time.Now().Add(10 * time.Second); bytesRead.Load() < want && time.Now().Before(deadline); {
		runtime.Gosched()
	}
	stop.Store(true)
	<-done
	if got := bytesRead.Load(); got != want {
		b.Fatalf("the reader got %d bytes of %d", got, want)
	}
	b.ReportMetric(float64(reads.Load())/float64(b.N), "reads/write")
}

// pinThread locks the calling goroutine to its thread and the thread to
// the nth processor of cpus, for the rest of the goroutine: it never
// unlocks, so the runtime ends the thread with the goroutine instead of
// reusing a pinned thread.
func pinThread(b *testing.B, cpus unix.CPUSet, nth int) {
	runtime.LockOSThread()
	if err := pinTo(cpus, nth); err != nil {
		b.Error(err)
	}
}

// pinTo sets the calling thread's affinity to the nth processor of cpus
// (none: it stays as it is).
func pinTo(cpus unix.CPUSet, nth int) error {
	for cpu, seen := 0, 0; cpu < len(cpus)*64; cpu++ {
		if !cpus.IsSet(cpu) {
			continue
		}
		if seen == nth {
			var one unix.CPUSet
			one.Set(cpu)
			return unix.SchedSetaffinity(0, &one)
		}
		seen++
	}
	return nil
}

// rawFDs returns the descriptors of conns (see rawFD).
func rawFDs(b *testing.B, conns []net.Conn) []int {
	fds := make([]int, len(conns))
	for i, c := range conns {
		fds[i] = rawFD(b, c)
	}
	return fds
}

// typicalFrame is what the event loop writes for one event of the load
// tool: its SSE encoding as one chunk of a chunked body.
func typicalFrame(b *testing.B) []byte {
	e := sse.Event{ID: "u53xsmd4-721", Data: "1796181266231246974|" + strings.Repeat("x", 44)}
	frame, err := e.AppendTo(nil)
	if err != nil {
		b.Fatal(err)
	}
	var size [20]byte
	return bytes.Join(evloop.AppendChunk(nil, size[:], [][]byte{frame}), nil)
}

// rawFD returns a connection's descriptor, for writes that bypass the Go
// runtime's poller as the event loop's do.
func rawFD(b *testing.B, c net.Conn) int {
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	fd := -1
	raw.Control(func(f uintptr) { fd = int(f) })
	return fd
}

// writeAll writes msg to a non-blocking socket, waiting while it is full.
func writeAll(fd int, msg []byte) error {
	for len(msg) > 0 {
		n, err := syscall.Write(fd, msg)
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR) {
			runtime.Gosched()
			continue
		}
		if err != nil {
			return err
		}
		msg = msg[n:]
	}
	return nil
}

// measureThreadCPU runs loop on one OS thread and reports that thread's
// CPU time (user and system) per operation.
func measureThreadCPU(b *testing.B, loop func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var before, after unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &before); err != nil {
		b.Fatal(err)
	}
	loop()
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &after); err != nil {
		b.Fatal(err)
	}
	cpu := time.Duration(after.Utime.Nano() - before.Utime.Nano() + after.Stime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}
