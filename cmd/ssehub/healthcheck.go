package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// healthcheckCmd asks a hub on this machine whether it is alive and exits
// non-zero when it is not. It exists for container images without curl or
// a shell (the Dockerfile's HEALTHCHECK): it reads --listen, or the same
// SSEHUB_LISTEN the server reads, so it finds the server without being told.
func healthcheckCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("healthcheck", stderr)
	listen := fs.String("listen", ":8080", "the address the hub listens on (as its --listen); a wildcard host is checked on loopback")
	path := fs.String("path", "/healthz", "the path to check: /healthz (alive) or /readyz (ready to serve)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long the check may take")
	// The server's own variables say whether it serves HTTPS, so an image
	// that turns TLS on needs no second setting for its health check.
	servesTLS := getenv("SSEHUB_TLS_CERT") != "" || getenv("SSEHUB_ACME_DOMAINS") != ""
	useTLS := fs.Bool("tls", servesTLS, "the hub serves HTTPS (default: when SSEHUB_TLS_CERT or SSEHUB_ACME_DOMAINS is set); its certificate is not checked")
	fs.String("config", "", "the hub's configuration file, to take its listen and TLS settings from")
	sources, err := loadFlags(fs, args, getenv, &fileKeys{known: serveFlagSet(), shared: []string{"listen"}})
	if err != nil {
		return err
	}
	if err := refuseArgs(fs); err != nil {
		return err
	}
	if sources["tls"].kind == "default" && sources["config"].kind != "default" {
		// The file may turn TLS on too: read it as the server would.
		var hub Config
		hfs := newFlagSet("serve", io.Discard)
		hub.register(hfs)
		if _, err := loadFlags(hfs, []string{"--config", fs.Lookup("config").Value.String()}, getenv, nil); err != nil {
			return err
		}
		*useTLS = hub.TLSCert != "" || len(hub.ACMEDomains) > 0
	}
	url, err := healthURL(*listen, *path)
	if err != nil {
		return err
	}
	client := &http.Client{}
	if *useTLS {
		url = "https" + strings.TrimPrefix(url, "http")
		// This asks this machine's own server whether it is alive, on a
		// loopback address its certificate does not name; what it
		// answers is not a secret.
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
		defer client.CloseIdleConnections()
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", url, resp.Status)
	}
	fmt.Fprintf(stdout, "ok: %s\n", url)
	return nil
}

// healthURL is the URL of path on the server listening on listen, as this
// machine reaches it: ":8080" and "0.0.0.0:8080" are checked at 127.0.0.1,
// "[::]:8080" at [::1].
func healthURL(listen, path string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("--listen %q: %v", listen, err)
	}
	switch ip := net.ParseIP(host); {
	case host == "" || (ip != nil && ip.To4() != nil && ip.IsUnspecified()):
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}
