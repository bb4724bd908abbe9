//go:build linux

package evloop_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/httpapi/internal/evloop"
	"github.com/ssehub/ssehub/hub"
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

// BenchmarkWrite measures the floor under every delivery: one 60-byte
// write system call, to /dev/null (the system call alone) and to a
// loopback TCP socket whose reader drains it on another goroutine (the
// kernel's TCP work for both ends of the connection).
//
//	go test -run '^$' -bench Write ./httpapi/internal/evloop/
func BenchmarkWrite(b *testing.B) {
	msg := make([]byte, 60)
	b.Run("devnull", func(b *testing.B) {
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		fd := int(f.Fd())
		for b.Loop() {
			if _, err := syscall.Write(fd, msg); err != nil {
				b.Fatal(err)
			}
		}
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
		for b.Loop() {
			if _, err := conn.Write(msg); err != nil {
				b.Fatal(err)
			}
		}
		conn.Close()
		<-done
	})
}
