package main

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestServeLimitsFromFlags: the limit flags reach the running server,
// each answered as docs/configuration.md says.
func TestServeLimitsFromFlags(t *testing.T) {
	var cfg Config
	fs := newFlagSet("serve", io.Discard)
	cfg.register(fs)
	args := []string{"--max-body-bytes", "1KiB", "--max-url-bytes", "200", "--max-conns", "4", "--limit-exempt", "none",
		"--publish-rate-per-addr", "3", "--read-header-timeout", "200ms", "--body-read-timeout", "200ms",
		"--listen", "127.0.0.1:0", "--store", "memory:", "--jwt-key", testKey, "--demo=false"}
	if err := parseFlags(fs, args, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	base, _ := startHub(t, cfg)
	tok := publisherToken(t)

	if status, answer := post(t, base, tok, `{"topic":"t","data":"`+strings.Repeat("x", 2000)+`"}`); status != 413 || answer["reason"] != "body-too-large" {
		t.Errorf("large body: %d %v, want 413 body-too-large", status, answer)
	}
	resp, err := http.Get(base + "/events?topic=" + strings.Repeat("x", 200))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 414 {
		t.Errorf("long URL: %d, want 414", resp.StatusCode)
	}
	// One publish made above; two more are within the rate of 3.
	for range 2 {
		mustPublish(t, base, `{"topic":"t"}`)
	}
	if status, answer := post(t, base, tok, `{"topic":"t"}`); status != 429 || answer["reason"] != "rate-limited" {
		t.Errorf("publish over the rate: %d %v, want 429 rate-limited", status, answer)
	}

	// A request whose headers never end is closed after the header timeout.
	nc, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	io.WriteString(nc, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(nc); err != nil || len(b) != 0 {
		t.Errorf("slow headers: read %q, %v; want the server to close the connection", b, err)
	}

	// Four connections at most: three streams and one held open, then 503.
	for range 3 {
		openStream(t, base+"/events?topic=t", "")
	}
	fourth, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer fourth.Close()
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err = fresh.Get(base + "/events?topic=t")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("over --max-conns: %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func TestLimitFlagsAreChecked(t *testing.T) {
	for _, args := range [][]string{
		{"--max-topics", "65"}, {"--max-selectors", "0"}, {"--max-batch", "0"}, {"--max-conns", "-1"},
		{"--publish-rate", "-1"}, {"--read-header-timeout", "0s"}, {"--limit-exempt", "10.0.0.0/33"},
	} {
		var stderr strings.Builder
		err := serve(t.Context(), append(args, "--store", "memory:", "--listen", "127.0.0.1:0"), io.Discard, &stderr, func(string) string { return "" })
		if err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

func TestLimitExemptFlag(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"none", "none"}, {"10.1.2.3", "10.1.2.3/32"}, {"10.1.2.3/8, ::1", "10.0.0.0/8,::1/128"},
	} {
		var p prefixFlag
		p.prefixes = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		if err := p.Set(tc.in); err != nil || p.String() != tc.want {
			t.Errorf("Set(%q): %q, %v; want %q", tc.in, p.String(), err, tc.want)
		}
	}
}

func TestDefaultMaxConnsLeavesRoomUnderTheFileLimit(t *testing.T) {
	n := openFileLimit()
	if n == 0 {
		t.Skip("no open-file limit to read on this platform")
	}
	if got := defaultMaxConns(); got >= n || got < 64 {
		t.Fatalf("default --max-conns %d with an open-file limit of %d", got, n)
	}
}
