package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/auth"
)

// TestFirstStartOffTerminalKeepsTheKeyOutOfTheLog: when standard output
// is not a terminal (a journal), the first start shows neither the key nor
// a token, and logs where the key is and how to make a token.
func TestFirstStartOffTerminalKeepsTheKeyOutOfTheLog(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, "file:"+dir)
	cfg.Auth.Shared.Key = ""
	var out bytes.Buffer
	var logs syncBuffer
	logger, err := newLogger("info", "text", &logs)
	if err != nil {
		t.Fatal(err)
	}
	m := &Main{Config: cfg, Out: &out, Terminal: false, Logger: logger}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, keyFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the generated key was not kept: %v", err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	key := strings.TrimSpace(string(b))
	if out.Len() != 0 {
		t.Errorf("printed on a non-terminal: %q", out.String())
	}
	if strings.Contains(logs.String(), key) || strings.Contains(logs.String(), "Bearer") {
		t.Errorf("the log shows the key or a token:\n%s", logs.String())
	}
	for _, want := range []string{path, "ssehub token"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, logs.String())
		}
	}
}

// TestTokenAndPublishFindTheKeyLikeServe: with the hub's own --config (or
// --store, or SSEHUB_STORE), `ssehub token` signs with the key the hub
// generated, and `ssehub publish` needs no --token.
func TestTokenAndPublishFindTheKeyLikeServe(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, fmt.Sprintf("store = %q\nlisten = \"127.0.0.1:0\"\ndemo = false\nretry = \"3s\"\n", "file:"+dir))
	cfg, _, err := loadServe(t, []string{"--config", file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := startHub(t, cfg)
	b, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	verifier := auth.NewVerifier([]byte(strings.TrimSpace(string(b))))

	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
	}{
		"--config":      {[]string{"--config", file}, nil},
		"SSEHUB_CONFIG": {nil, map[string]string{"SSEHUB_CONFIG": file}},
		"--store":       {[]string{"--store", "file:" + dir}, nil},
		"SSEHUB_STORE":  {nil, map[string]string{"SSEHUB_STORE": "file:" + dir}},
		"--data":        {[]string{"--data", dir}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"token", "--publish", "news"}, tc.args...)
			if code := run(context.Background(), args, strings.NewReader(""), &out, &errOut, envOf(tc.env)); code != 0 {
				t.Fatalf("token: exit %d: %s", code, errOut.String())
			}
			if _, err := verifier.Verify(context.Background(), strings.TrimSpace(out.String())); err != nil {
				t.Errorf("the token does not verify with the hub's key: %v", err)
			}
		})
	}

	s := openStream(t, base+"/events?topic=news", "")
	var out, errOut bytes.Buffer
	args := []string{"publish", "--config", file, "--url", base, "--topic", "news", "hello"}
	if code := run(context.Background(), args, strings.NewReader(""), &out, &errOut, envOf(nil)); code != 0 {
		t.Fatalf("publish: exit %d: %s", code, errOut.String())
	}
	if ev := s.next(t); ev.Data != "hello" || ev.ID != strings.TrimSpace(out.String()) {
		t.Errorf("got %+v, published id %q", ev, out.String())
	}

	// A hub that keeps no key cannot give one.
	out.Reset()
	errOut.Reset()
	args = []string{"publish", "--store", "memory:", "--url", base, "--topic", "news", "hello"}
	if code := run(context.Background(), args, strings.NewReader(""), &out, &errOut, envOf(nil)); code != 1 || !strings.Contains(errOut.String(), "--jwt-key") {
		t.Errorf("publish with a memory store and no key: exit %d, %q", code, errOut.String())
	}
}

// TestClientsTakeOnlyTheSharedKeysOfTheFile: `ssehub publish` reads the
// hub's store and jwt-key from its file, not the hub's retry, and still
// refuses a key that is not the hub's.
func TestClientsTakeOnlyTheSharedKeysOfTheFile(t *testing.T) {
	fs := newFlagSet("publish", io.Discard)
	retry := fs.Duration("retry", 0, "")
	var hk hubKeyFlags
	hk.register(fs)
	file := writeFile(t, "store = \"file:/srv/hub\"\nretry = \"3s\"\nlisten = \":1\"\n")
	if err := hk.parse(fs, []string{"--config", file}, envOf(nil)); err != nil {
		t.Fatal(err)
	}
	if hk.store != "file:/srv/hub" || *retry != 0 {
		t.Errorf("store %q, retry %v; want the file's store and no retry", hk.store, *retry)
	}
	bad := writeFile(t, "stor = \"file:/srv/hub\"\n")
	if err := hk.parse(fs, []string{"--config", bad}, envOf(nil)); err == nil || !strings.Contains(err.Error(), "line 1: stor") {
		t.Errorf("an unknown key gave %v", err)
	}
}

// TestClientsTrimTheKeyAsServeDoes: a key given with a line end around it
// (SSEHUB_JWT_KEY from a Kubernetes secret or an env file made from a
// file) is trimmed by the hub; `ssehub token` and `ssehub publish`, given
// the same variable, sign with the same trimmed key.
func TestClientsTrimTheKeyAsServeDoes(t *testing.T) {
	env := map[string]string{"SSEHUB_JWT_KEY": "  a-secret-from-a-file-with-a-line-end\n"}
	cfg, _, err := loadServe(t, []string{"--store", "memory:", "--listen", "127.0.0.1:0", "--demo=false"}, env)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := startHub(t, cfg)

	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"token", "--publish", "news"}, strings.NewReader(""), &out, &errOut, envOf(env)); code != 0 {
		t.Fatalf("token: exit %d: %s", code, errOut.String())
	}
	resp, body := request(t, base, http.MethodPost, "/publish", `{"topic":"news","data":"x"}`, bearer(strings.TrimSpace(out.String())))
	if resp.StatusCode != http.StatusOK {
		t.Errorf("publish with the token of `ssehub token`: %s %s", resp.Status, body)
	}

	out.Reset()
	errOut.Reset()
	args := []string{"publish", "--url", base, "--topic", "news", "hello"}
	if code := run(context.Background(), args, strings.NewReader(""), &out, &errOut, envOf(env)); code != 0 {
		t.Errorf("publish without --token: exit %d: %s", code, errOut.String())
	}
}

// TestPublishLeavesTheHubsRetryToTheHub: SSEHUB_RETRY is the hub's
// reconnection delay, as a file's retry is. `ssehub publish` run in the
// hub's environment (docker exec, the service's env file) must not send it
// with every event, which would reset every subscriber's delay; its own
// --retry still does.
func TestPublishLeavesTheHubsRetryToTheHub(t *testing.T) {
	base, _ := startHub(t, testConfig(t, "memory:"))
	env := map[string]string{"SSEHUB_RETRY": "5s", "SSEHUB_JWT_KEY": testKey}
	for _, tc := range []struct {
		args []string
		want int64 // milliseconds
	}{
		{nil, 0},
		{[]string{"--retry", "2s"}, 2000},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"publish", "--url", base, "--topic", "news"}, tc.args...)
		if code := run(context.Background(), append(args, "hello"), strings.NewReader(""), &out, &errOut, envOf(env)); code != 0 {
			t.Fatalf("publish %q: exit %d: %s", tc.args, code, errOut.String())
		}
		id := strings.TrimSpace(out.String())
		resp, body := request(t, base, http.MethodGet, "/history?topic=news", "", nil)
		var page struct {
			Events []struct {
				ID    string
				Retry int64
			}
		}
		if err := json.Unmarshal([]byte(body), &page); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("history: %s %s", resp.Status, body)
		}
		last := page.Events[len(page.Events)-1]
		if last.ID != id || last.Retry != tc.want {
			t.Errorf("publish %q with SSEHUB_RETRY=5s: event %+v, want id %s and retry %d ms", tc.args, last, id, tc.want)
		}
	}
}
