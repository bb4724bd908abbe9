package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
)

func TestHealthURL(t *testing.T) {
	for listen, want := range map[string]string{
		":8080":          "http://127.0.0.1:8080/healthz",
		"0.0.0.0:8080":   "http://127.0.0.1:8080/healthz",
		"[::]:8080":      "http://[::1]:8080/healthz",
		"10.1.2.3:9000":  "http://10.1.2.3:9000/healthz",
		"localhost:8080": "http://localhost:8080/healthz",
	} {
		if got, err := healthURL(listen, "/healthz"); err != nil || got != want {
			t.Errorf("healthURL(%q) = %q, %v; want %q", listen, got, err, want)
		}
	}
	if _, err := healthURL("8080", "/healthz"); err == nil {
		t.Error("an address without a port was accepted")
	}
}

// TestHealthcheckCommand: the container's HEALTHCHECK succeeds against a
// running hub, found through the same SSEHUB_LISTEN the server reads, and
// fails, with a non-zero exit, when nothing listens there.
func TestHealthcheckCommand(t *testing.T) {
	cfg := testConfig(t, "memory:")
	base, _ := startHub(t, cfg)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	env := func(name string) string {
		if name == "SSEHUB_LISTEN" {
			return ":" + port
		}
		return ""
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"healthcheck"}, nil, &out, &errOut, env); code != 0 {
		t.Fatalf("healthcheck of a running hub exited %d: %s", code, errOut.String())
	}
	if want := "ok: http://127.0.0.1:" + port + "/healthz\n"; out.String() != want {
		t.Errorf("printed %q, want %q", out.String(), want)
	}
	out.Reset()
	if code := run(context.Background(), []string{"healthcheck", "--path", "/readyz"}, nil, &out, &errOut, env); code != 0 {
		t.Fatalf("readiness check exited %d: %s", code, errOut.String())
	}

	errOut.Reset()
	dead := freeAddr(t)
	if code := run(context.Background(), []string{"healthcheck", "--listen", dead}, nil, &out, &errOut, env); code != 1 {
		t.Fatalf("healthcheck with nothing listening exited %d, want 1", code)
	}
	if !strings.Contains(errOut.String(), "healthcheck:") {
		t.Errorf("the failure says %q", errOut.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"healthcheck", "--listen", strings.TrimPrefix(base, "http://"), "--path", "/nope"}, nil, &out, &errOut, env); code != 1 {
		t.Fatalf("healthcheck of a 404 exited %d, want 1", code)
	}
	if !strings.Contains(errOut.String(), "404") {
		t.Errorf("the failure says %q", errOut.String())
	}
}

// TestHealthcheckOfATLSHub: with the server's SSEHUB_TLS_CERT set, the
// check speaks HTTPS to it without being told.
func TestHealthcheckOfATLSHub(t *testing.T) {
	cfg, _, certPath, _ := tlsHub(t, "memory:")
	m, _ := runMain(t, cfg, nil, nil)
	env := func(name string) string {
		switch name {
		case "SSEHUB_LISTEN":
			return m.Addr().String()
		case "SSEHUB_TLS_CERT":
			return certPath
		}
		return ""
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"healthcheck"}, nil, &out, &errOut, env); code != 0 {
		t.Fatalf("healthcheck of a TLS hub exited %d: %s", code, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "ok: https://") {
		t.Errorf("printed %q, want an https check", out.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"healthcheck", "--tls=false"}, nil, &out, &errOut, env); code != 1 {
		t.Fatalf("plain HTTP to a TLS hub exited %d, want 1", code)
	}
}

// TestHealthcheckReadsTheHubsConfigFile: given the hub's --config (or
// SSEHUB_CONFIG), the check finds its address and that it serves HTTPS.
func TestHealthcheckReadsTheHubsConfigFile(t *testing.T) {
	cfg, _, certPath, _ := tlsHub(t, "memory:")
	m, _ := runMain(t, cfg, nil, nil)
	file := writeFile(t, fmt.Sprintf("listen = %q\ntls-cert = %q\ntls-key = %q\nheartbeat = \"5s\"\n",
		m.Addr().String(), certPath, cfg.TLSKey))
	for _, tc := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"healthcheck", "--config", file}, nil},
		{[]string{"healthcheck"}, map[string]string{"SSEHUB_CONFIG": file}},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), tc.args, nil, &out, &errOut, envOf(tc.env)); code != 0 {
			t.Fatalf("%v %v: exit %d: %s", tc.args, tc.env, code, errOut.String())
		}
		if want := "ok: https://" + m.Addr().String() + "/healthz\n"; out.String() != want {
			t.Errorf("printed %q, want %q", out.String(), want)
		}
	}
}
