package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// BenchmarkIdleSubscriberMemoryTLS is BenchmarkIdleSubscriberMemory over
// TLS straight to the hub: 2,000 idle streams over HTTP/2 (multiplexed,
// 250 to a connection) and over HTTP/1.1 (a connection each), reporting the
// growth of the hub process's resident memory per stream. TLS streams are
// served with a goroutine each, not by the event loop.
//
//	go test -run '^$' -bench IdleSubscriberMemoryTLS -benchtime 1x ./cmd/ssehub/
func BenchmarkIdleSubscriberMemoryTLS(b *testing.B) {
	const streams = 2000
	bin := filepath.Join(b.TempDir(), "ssehub")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	cert := newTestCert(b, "bench")
	dir := b.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert.write(b, certPath, keyPath)
	for _, proto := range []string{"h2", "http1.1"} {
		b.Run(proto, func(b *testing.B) {
			addr := freeAddr(b)
			cmd := exec.Command(bin, "serve", "--listen", addr, "--store", "memory:", "--jwt-key", testKey,
				"--demo=false", "--log-level", "warn", "--tls-cert", certPath, "--tls-key", keyPath)
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() {
				cmd.Process.Kill()
				cmd.Wait()
			}()
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certPool(cert), ServerName: "localhost"}}
			if proto == "h2" {
				tr.ForceAttemptHTTP2 = true
			} else {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // no h2
			}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr}
			base := "https://" + addr
			waitUntil(b, 20*time.Second, func() bool {
				resp, err := c.Get(base + "/readyz")
				if err != nil {
					return false
				}
				resp.Body.Close()
				return resp.StatusCode == http.StatusOK
			}, "the hub is ready")

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var mu sync.Mutex
			var bodies []io.Closer
			defer func() {
				for _, body := range bodies {
					body.Close()
				}
			}()
			open := func(n int) {
				sem := make(chan struct{}, 16)
				var wg sync.WaitGroup
				errs := make(chan error, n)
				for range n {
					sem <- struct{}{}
					wg.Go(func() {
						defer func() { <-sem }()
						req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/events?topic=idle", nil)
						resp, err := c.Do(req)
						if err != nil {
							errs <- err
							return
						}
						first := make([]byte, 2)
						if _, err := io.ReadFull(resp.Body, first); err != nil || resp.ProtoMajor != map[string]int{"h2": 2, "http1.1": 1}[proto] {
							errs <- fmt.Errorf("stream over %s: first bytes %q, %v", resp.Proto, first, err)
						}
						mu.Lock()
						bodies = append(bodies, resp.Body)
						mu.Unlock()
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
			}
			open(50)
			before, err := processRSS(cmd.Process.Pid)
			if err != nil {
				b.Fatal(err)
			}
			open(streams)
			after, err := processRSS(cmd.Process.Pid)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(after-before)/streams, "bytes/subscriber")
		})
	}
}
