package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
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

// runCLI runs ssehub with args and an empty environment, and returns its
// exit code, its standard output trimmed and its standard error.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &out, &errOut, envOf(nil))
	return code, strings.TrimSpace(out.String()), errOut.String()
}

// hubFromFile starts a hub, as `ssehub serve --config FILE` does, from a
// configuration file of a memory store and text, and returns its URL and
// the file.
func hubFromFile(t *testing.T, text string) (base, file string) {
	t.Helper()
	file = writeFile(t, "listen = \"127.0.0.1:0\"\ndemo = false\nstore = \"memory:\"\n"+text)
	cfg, _, err := loadServe(t, []string{"--config", file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	base, _ = startHub(t, cfg)
	return base, file
}

// TestClientsSignWithEachSidesKeyFromTheConfig: the hub's configuration
// file gives publishers and subscribers keys of their own, besides a
// shared jwt-key neither side uses. With that file, `ssehub token
// --subscribe` signs with the subscribers' key and `ssehub publish` and
// `ssehub token` (publish rights) with the publishers': the private event
// reaches the subscriber.
func TestClientsSignWithEachSidesKeyFromTheConfig(t *testing.T) {
	base, file := hubFromFile(t, `jwt-key = "a shared secret neither side uses"
publisher-jwt-key = "the publishers' own secret"
subscriber-jwt-key = "the subscribers' own secret"
`)
	code, reader, stderr := runCLI(t, "token", "--config", file, "--subscribe", "users/1")
	if code != 0 {
		t.Fatalf("token --subscribe: exit %d: %s", code, stderr)
	}
	s := openStreamWith(t, base+"/events?topic=users/1", bearer(reader))
	code, id, stderr := runCLI(t, "publish", "--config", file, "--url", base, "--topic", "users/1", "--private", "for user 1")
	if code != 0 {
		t.Fatalf("publish --config: exit %d: %s", code, stderr)
	}
	if ev := s.next(t); ev.Data != "for user 1" || ev.ID != id {
		t.Errorf("the subscriber got %+v, want the private event %s", ev, id)
	}

	code, writer, stderr := runCLI(t, "token", "--config", file)
	if code != 0 {
		t.Fatalf("token: exit %d: %s", code, stderr)
	}
	if resp, body := request(t, base, http.MethodPost, "/publish", `{"topic":"news","data":"x"}`, bearer(writer)); resp.StatusCode != http.StatusOK {
		t.Errorf("publish with the token of `ssehub token --config`: %s %s", resp.Status, body)
	}
}

// TestTokenRefusesToPublishAndSubscribeAcrossTwoKeys: the hub checks
// publisher and subscriber tokens each with its own key, so one token for
// both would be refused by one side: `ssehub token` says so and what to
// do instead of printing it. With one key for both sides, or a --key-file
// to sign with, it makes the token, and the hub takes it on both sides.
func TestTokenRefusesToPublishAndSubscribeAcrossTwoKeys(t *testing.T) {
	split := writeFile(t, `store = "memory:"
jwt-key = "a shared secret neither side uses"
publisher-jwt-key = "the publishers' own secret"
subscriber-jwt-key = "the subscribers' own secret"
`)
	code, out, stderr := runCLI(t, "token", "--config", split, "--publish", "news", "--subscribe", "users/1")
	if code != 1 || out != "" {
		t.Errorf("token --publish --subscribe with two keys: exit %d, printed %q", code, out)
	}
	for _, want := range []string{"--publisher-jwt-key", "--subscriber-jwt-key", "make two"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the error does not say %q: %s", want, stderr)
		}
	}

	base, shared := hubFromFile(t, "jwt-key = \"one secret for both\"\n")
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("one secret for both\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"one key":    {"--config", shared},
		"--key-file": {"--config", split, "--key-file", secretFile},
	} {
		code, token, stderr := runCLI(t, append([]string{"token", "--publish", "users/1", "--subscribe", "users/1"}, args...)...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, stderr)
		}
		if resp, body := request(t, base, http.MethodPost, "/publish", `{"topic":"users/1","data":"`+name+`","private":true}`, bearer(token)); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: publish: %s %s", name, resp.Status, body)
		}
		if resp, body := request(t, base, http.MethodGet, "/history?topic=users/1", "", bearer(token)); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"`+name+`"`) {
			t.Errorf("%s: private history: %s %s", name, resp.Status, body)
		}
	}
}

// TestClientsRefuseToSignWithAPublicKey: the hub checks publisher tokens
// with a PEM public key from its configuration file, which signs nothing.
// `ssehub publish --config` and `ssehub token --config` say which flag
// holds it and what to give instead; `ssehub token --key-file` with the
// private half makes a token the hub takes. A hub given the private key
// itself (it uses its public half) is one the clients can sign for.
func TestClientsRefuseToSignWithAPublicKey(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der := must[[]byte](t)(x509.MarshalPKCS8PrivateKey(priv))
	privFile := writePEM(t, t.TempDir(), "publisher.pem", "PRIVATE KEY", der)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must[[]byte](t)(x509.MarshalPKIXPublicKey(priv.Public()))})
	base, file := hubFromFile(t, fmt.Sprintf("jwt-key = \"a shared secret\"\npublisher-jwt-key = %q\n", pubPEM))

	code, _, stderr := runCLI(t, "publish", "--config", file, "--url", base, "--topic", "news", "hello")
	if code != 1 || !strings.Contains(stderr, "--publisher-jwt-key (file "+file+":5)") || !strings.Contains(stderr, "public key") || !strings.Contains(stderr, "--token") {
		t.Errorf("publish with a public publisher key: exit %d: %s", code, stderr)
	}
	code, out, stderr := runCLI(t, "token", "--config", file)
	if code != 1 || out != "" || !strings.Contains(stderr, "--publisher-jwt-key") || !strings.Contains(stderr, "public key") || !strings.Contains(stderr, "--key-file") {
		t.Errorf("token with a public publisher key: exit %d, printed %q: %s", code, out, stderr)
	}
	code, token, stderr := runCLI(t, "token", "--config", file, "--key-file", privFile, "--publish", "news")
	if code != 0 {
		t.Fatalf("token --key-file: exit %d: %s", code, stderr)
	}
	if resp, body := request(t, base, http.MethodPost, "/publish", `{"topic":"news","data":"x"}`, bearer(token)); resp.StatusCode != http.StatusOK {
		t.Errorf("publish with the token of the private half: %s %s", resp.Status, body)
	}

	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	base, file = hubFromFile(t, fmt.Sprintf("jwt-key = \"a shared secret\"\npublisher-jwt-key = %q\n", privPEM))
	if code, _, stderr := runCLI(t, "publish", "--config", file, "--url", base, "--topic", "news", "hello"); code != 0 {
		t.Errorf("publish with a hub given the private key: exit %d: %s", code, stderr)
	}
}

// TestClientsTakeTheHubsAudienceAndIssuer: a hub whose configuration file
// sets jwt-audience and jwt-issuer refuses tokens without them. With that
// file, `ssehub publish` puts them in the token it makes, and `ssehub
// token` by default; its --audience and --issuer still win.
func TestClientsTakeTheHubsAudienceAndIssuer(t *testing.T) {
	base, file := hubFromFile(t, `jwt-key = "a secret"
jwt-audience = "https://push.example"
jwt-issuer = "https://app.example"
`)
	s := openStream(t, base+"/events?topic=news", "")
	code, id, stderr := runCLI(t, "publish", "--config", file, "--url", base, "--topic", "news", "hello")
	if code != 0 {
		t.Fatalf("publish --config: exit %d: %s", code, stderr)
	}
	if ev := s.next(t); ev.Data != "hello" || ev.ID != id {
		t.Errorf("the subscriber got %+v, want the event %s", ev, id)
	}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, http.StatusOK},
		{[]string{"--audience", "https://other.example"}, http.StatusUnauthorized},
		{[]string{"--issuer", "https://other.example"}, http.StatusUnauthorized},
	} {
		code, token, stderr := runCLI(t, append([]string{"token", "--config", file}, tc.args...)...)
		if code != 0 {
			t.Fatalf("token %q: exit %d: %s", tc.args, code, stderr)
		}
		if resp, body := request(t, base, http.MethodPost, "/publish", `{"topic":"news","data":"x"}`, bearer(token)); resp.StatusCode != tc.want {
			t.Errorf("publish with the token of `ssehub token --config %q`: %s %s, want %d", tc.args, resp.Status, body, tc.want)
		}
	}
}
