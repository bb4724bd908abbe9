package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ssehub/ssehub/auth"
)

// mercurePublish posts a Mercure form with a token for every topic and
// returns the id the hub answers.
func mercurePublish(t *testing.T, base, key string, form url.Values) string {
	t.Helper()
	token, err := auth.Sign([]byte(key), []string{"*"}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/.well-known/mercure", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("publish %v: %d %s", form, resp.StatusCode, body)
	}
	return string(body)
}

// TestBrowserMercureResumesAfterHubRestart: a plain EventSource in
// Chromium on /.well-known/mercure, with its token in the authorization
// query parameter, receives what both doors publish, survives a restart of
// the hub and receives exactly what it missed, private updates included.
func TestBrowserMercureResumesAfterHubRestart(t *testing.T) {
	ctx := newBrowser(t)
	cfg := testConfig(t, "file:"+t.TempDir())
	cfg.Listen = freeAddr(t)
	cfg.ShutdownRetry = 1500 * time.Millisecond
	cfg.ShutdownJitter = 500 * time.Millisecond
	base, stop := startHub(t, cfg)
	reader, err := auth.Sign([]byte(testKey), nil, []string{"https://example.com/users/{name}"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	src := "/.well-known/mercure?topic=" + url.QueryEscape("https://example.com/users/{name}") + "&authorization=" + reader
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/healthz"),
		chromedp.Evaluate[chromedp.Void](`
			window.got = []; window.opens = 0;
			const es = new EventSource(`+"`"+src+"`"+`);
			es.onopen = () => window.opens++;
			es.onmessage = (e) => window.got.push(e.data + "@" + e.lastEventId);
			true`),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `window.opens === 1`, 5*time.Second)
	alice := url.Values{"topic": {"https://example.com/users/alice"}}
	with := func(extra ...string) url.Values {
		f := url.Values{}
		for k, v := range alice {
			f[k] = v
		}
		for i := 0; i+1 < len(extra); i += 2 {
			f.Set(extra[i], extra[i+1])
		}
		return f
	}
	one := mercurePublish(t, base, testKey, with("data", "one", "id", "urn:uuid:00000000-0000-4000-8000-000000000001"))
	two := mustPublish(t, base, `{"topic":"https://example.com/users/alice","data":"two"}`)
	waitJS(t, ctx, `window.got.length === 2`, 5*time.Second)

	stop()
	base, _ = startHub(t, cfg)
	three := mercurePublish(t, base, testKey, with("data", "three", "private", "on"))
	four := mercurePublish(t, base, testKey, with("data", "four"))
	waitJS(t, ctx, `window.opens === 2 && window.got.length >= 4`, 15*time.Second)

	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.got`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"one@" + one, "two@" + two, "three@" + three, "four@" + four}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("browser received %v, want %v", got, want)
	}
}

// TestServeMercureDoor: `ssehub serve` answers the Mercure protocol by
// default with --jwt-key, not at all with --mercure=false, and takes the
// keys of Mercure's image from its environment variables.
func TestServeMercureDoor(t *testing.T) {
	t.Run("on by default", func(t *testing.T) {
		base, _ := startHub(t, testConfig(t, "memory:"))
		if id := mercurePublish(t, base, testKey, url.Values{"topic": {"t"}, "data": {"x"}}); id == "" {
			t.Fatal("no id")
		}
	})
	t.Run("off", func(t *testing.T) {
		cfg := testConfig(t, "memory:")
		cfg.Mercure.Enabled = false
		base, _ := startHub(t, cfg)
		resp, err := http.Get(base + "/.well-known/mercure?topic=t")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("status %d, want 404", resp.StatusCode)
		}
	})
	t.Run("Mercure's environment", func(t *testing.T) {
		env := map[string]string{"MERCURE_PUBLISHER_JWT_KEY": "publisher-secret", "MERCURE_SUBSCRIBER_JWT_KEY": "subscriber-secret"}
		cfg := parseServe(t, env)
		if cfg.Auth.Publisher.Key != "publisher-secret" || cfg.Auth.Subscriber.Key != "subscriber-secret" || len(cfg.Auth.Algorithms) != 0 {
			t.Fatalf("keys %q %q, algorithms %v", cfg.Auth.Publisher.Key, cfg.Auth.Subscriber.Key, cfg.Auth.Algorithms)
		}
		cfg.Listen, cfg.Store, cfg.Demo = "127.0.0.1:0", "memory:", false
		base, _ := startHub(t, cfg)
		mercurePublish(t, base, "publisher-secret", url.Values{"topic": {"t"}, "data": {"x"}})
		// The SSEHUB_ twin wins over the alias.
		env["SSEHUB_PUBLISHER_JWT_KEY"] = "twin"
		if again := parseServe(t, env); again.Auth.Publisher.Key != "twin" {
			t.Fatalf("with both set: %q", again.Auth.Publisher.Key)
		}
	})
	t.Run("Mercure's algorithms", func(t *testing.T) {
		for _, tc := range []struct{ pub, sub, want string }{
			{"", "", ""},
			{"HS512", "", "HS512,HS256"},
			{"RS256", "RS256", "RS256"},
			{"", "ES256", "HS256,ES256"},
		} {
			cfg := parseServe(t, map[string]string{"MERCURE_PUBLISHER_JWT_ALG": tc.pub, "MERCURE_SUBSCRIBER_JWT_ALG": tc.sub})
			if got := strings.Join(cfg.Auth.Algorithms, ","); got != tc.want {
				t.Errorf("publisher %q, subscriber %q: --jwt-algorithms %q, want %q", tc.pub, tc.sub, got, tc.want)
			}
		}
	})
	t.Run("MERCURE_EXTRA_DIRECTIVES", func(t *testing.T) {
		env := map[string]string{
			"MERCURE_EXTRA_DIRECTIVES": "anonymous\nsubscriptions\n# a comment\ncors_origins https://a.example https://b.example\n" +
				"publish_origins https://a.example\nheartbeat 25s\ncookie_name myCookie\ntransport bolt {\n\tpath /data/mercure.db\n}\nui\n" +
				"subscriber_jwt sub-secret HS512",
			"SSEHUB_HEARTBEAT": "5s", // the twin wins
			"SSEHUB_ANONYMOUS": "false",
		}
		_, ignored := mercureEnv(func(k string) string { return env[k] })
		cfg := parseServe(t, env)
		m, a := cfg.Mercure, cfg.Auth
		if a.Anonymous || !m.Subscriptions || strings.Join(a.CORSOrigins, " ") != "https://a.example https://b.example" ||
			strings.Join(a.PublishOrigins, " ") != "https://a.example" || m.CookieName != "myCookie" ||
			a.Subscriber.Key != "sub-secret" || strings.Join(a.Algorithms, ",") != "HS256,HS512" || cfg.Heartbeat != 5*time.Second {
			t.Errorf("mercure %+v, auth %+v, heartbeat %v", m, a, cfg.Heartbeat)
		}
		if strings.Join(ignored, " ") != "transport ui" {
			t.Errorf("ignored %q, want transport and ui", ignored)
		}
	})
}

// parseServe parses serve's flags from env, as `ssehub serve` does.
func parseServe(t *testing.T, env map[string]string) Config {
	t.Helper()
	getenv, _ := mercureEnv(func(k string) string { return env[k] })
	var cfg Config
	fs := newFlagSet("serve", io.Discard)
	cfg.register(fs)
	if err := parseFlags(fs, nil, getenv); err != nil {
		t.Fatal(err)
	}
	return cfg
}
