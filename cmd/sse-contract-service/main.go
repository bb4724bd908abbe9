// Command sse-contract-service exposes the sseclient package through the REST
// interface of the LaunchDarkly SSE contract test suite
// (github.com/launchdarkly/sse-contract-tests), so that the suite can check
// the client against the event stream standard. See docs/sse.md for how to
// run the suite against it.
//
// Usage:
//
//	sse-contract-service [-listen 127.0.0.1:8000]
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8000", "address to listen on")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *listen)
	if err == nil {
		err = run(ctx, ln, logger)
	}
	if err != nil {
		logger.Error("sse-contract-service failed", "err", err)
		os.Exit(1)
	}
}

// run serves on ln until ctx is done or the test harness asks the service to
// stop.
func run(ctx context.Context, ln net.Listener, logger *slog.Logger) error {
	svc := newService(logger)
	srv := &http.Server{Handler: svc.routes(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("sse-contract-service listening", "addr", ln.Addr().String())

	select {
	case <-ctx.Done():
	case <-svc.quit:
		logger.Info("stop requested by the test harness")
	case err := <-served:
		return err
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	shutdownErr := srv.Shutdown(shutdownCtx)
	svc.closeAll()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return shutdownErr
}
