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
		var cfg Config
		fs := newFlagSet("serve", io.Discard)
		cfg.register(fs)
		if err := parseFlags(fs, nil, withEnvAliases(func(k string) string { return env[k] }, mercureEnvAliases)); err != nil {
			t.Fatal(err)
		}
		if cfg.Mercure.PublisherKey != "publisher-secret" || cfg.Mercure.SubscriberKey != "subscriber-secret" {
			t.Fatalf("keys %q %q", cfg.Mercure.PublisherKey, cfg.Mercure.SubscriberKey)
		}
		cfg.Listen, cfg.Store, cfg.JWTKey, cfg.Demo = "127.0.0.1:0", "memory:", testKey, false
		base, _ := startHub(t, cfg)
		mercurePublish(t, base, "publisher-secret", url.Values{"topic": {"t"}, "data": {"x"}})
		// The SSEHUB_ twin wins over the alias.
		env["SSEHUB_MERCURE_PUBLISHER_JWT_KEY"] = "twin"
		var again Config
		fs = newFlagSet("serve", io.Discard)
		again.register(fs)
		if err := parseFlags(fs, nil, withEnvAliases(func(k string) string { return env[k] }, mercureEnvAliases)); err != nil || again.Mercure.PublisherKey != "twin" {
			t.Fatalf("with both set: %q, %v", again.Mercure.PublisherKey, err)
		}
	})
	t.Run("MERCURE_EXTRA_DIRECTIVES", func(t *testing.T) {
		env := map[string]string{
			"MERCURE_EXTRA_DIRECTIVES": "anonymous\nsubscriptions\n# a comment\ncors_origins https://a.example https://b.example\n" +
				"publish_origins https://a.example\nheartbeat 25s\ncookie_name myCookie\ntransport bolt {\n\tpath /data/mercure.db\n}\nui\n" +
				"subscriber_jwt sub-secret HS512",
			"SSEHUB_HEARTBEAT": "5s", // the twin wins
		}
		getenv, ignored := mercureEnv(func(k string) string { return env[k] })
		var cfg Config
		fs := newFlagSet("serve", io.Discard)
		cfg.register(fs)
		if err := parseFlags(fs, nil, getenv); err != nil {
			t.Fatal(err)
		}
		m := cfg.Mercure
		if !m.Anonymous || !m.Subscriptions || strings.Join(cfg.CORSOrigins, " ") != "https://a.example https://b.example" ||
			strings.Join(m.PublishOrigins, " ") != "https://a.example" || m.CookieName != "myCookie" ||
			m.SubscriberKey != "sub-secret" || m.SubscriberAlg != "HS512" || cfg.Heartbeat != 5*time.Second {
			t.Errorf("config %+v, cors %v, heartbeat %v", m, cfg.CORSOrigins, cfg.Heartbeat)
		}
		if strings.Join(ignored, " ") != "transport ui" {
			t.Errorf("ignored %q, want transport and ui", ignored)
		}
	})
	t.Run("an algorithm not supported", func(t *testing.T) {
		cfg := testConfig(t, "memory:")
		cfg.Mercure.PublisherKey, cfg.Mercure.PublisherAlg = "k", "RS256"
		m := &Main{Config: cfg}
		if err := m.Open(t.Context()); err == nil {
			t.Fatal("opened with an RS256 key it cannot check")
		}
	})
}
