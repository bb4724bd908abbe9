package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ssehub/ssehub/auth"
)

// page state the client tests read: what each HubSource saw.
const clientPage = `
	window.log = {};
	window.watch = async (name, url, options) => {
		const { HubSource } = await import('/ssehub.js');
		const w = window.log[name] = { got: [], opens: 0, errors: [], resets: [] };
		const src = new HubSource(url, { ...options, onReset: (info) => w.resets.push(info) });
		src.onopen = () => w.opens++;
		src.onerror = (e) => w.errors.push(e.status);
		src.onmessage = (e) => w.got.push(e.data + '@' + e.lastEventId);
		src.addEventListener('ssehub-reset', (e) => w.got.push('reset@' + e.lastEventId));
		w.src = src;
		return true;
	};
	true`

func watch(t *testing.T, ctx context.Context, name, url, options string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`watch(`+quoteJS(name)+`, `+quoteJS(url)+`, `+options+`)`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
}

func got(t *testing.T, ctx context.Context, name string) []string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.log[`+quoteJS(name)+`].got`))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestBrowserClientAgainstTheHub drives /ssehub.js in Chromium against the
// real hub: a token in the Authorization header opens private topics, an
// explicit resume id replays from there, a hub restart is resumed exactly
// (Last-Event-ID across the reconnection, the shutdown's retry honoured),
// a restart on a wiped store is answered with the reset callback, and a
// refused token closes the source.
func TestBrowserClientAgainstTheHub(t *testing.T) {
	ctx := newBrowser(t)
	cfg := testConfig(t, "file:"+t.TempDir())
	cfg.Listen = freeAddr(t)
	cfg.ShutdownRetry = 1000 * time.Millisecond
	cfg.ShutdownJitter = 300 * time.Millisecond
	base, stop := startHub(t, cfg)
	reader, err := auth.Sign([]byte(testKey), nil, []string{"private/{id}"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/healthz"), chromedp.Evaluate[chromedp.Void](clientPage)); err != nil {
		t.Fatal(err)
	}

	// A token only a header can carry; the anonymous source does not get
	// the private event.
	watch(t, ctx, "reader", "/events", `{topics: ['private/{id}', 'news'], token: `+quoteJS(reader)+`}`)
	watch(t, ctx, "anonymous", "/events", `{topics: ['private/{id}', 'news'], token: () => Promise.resolve('')}`)
	waitJS(t, ctx, `log.reader.opens === 1 && log.anonymous.opens === 1`, 5*time.Second)
	secret := mustPublish(t, base, `{"topic":"private/1","data":"secret","private":true}`)
	one := mustPublish(t, base, `{"topic":"news","data":"one"}`)
	waitJS(t, ctx, `log.reader.got.length === 2 && log.anonymous.got.length === 1`, 5*time.Second)
	expect(t, got(t, ctx, "reader"), "secret@"+secret, "one@"+one)
	expect(t, got(t, ctx, "anonymous"), "one@"+one)

	// An explicit resume id replays what followed it.
	watch(t, ctx, "resumed", "/events", `{topics: ['private/{id}', 'news'], token: `+quoteJS(reader)+`, lastEventId: `+quoteJS(secret)+`}`)
	waitJS(t, ctx, `log.resumed.got.length === 1`, 5*time.Second)
	expect(t, got(t, ctx, "resumed"), "one@"+one)

	// A restart on the same store: the source reconnects by itself after
	// the retry the hub sent at shutdown and gets exactly what it missed.
	stop()
	waitJS(t, ctx, `log.reader.src.readyState !== 1 && log.reader.errors.length >= 1`, 5*time.Second)
	if r := evalJS[float64](t, ctx, `log.reader.src.retry`); r < 1000 || r >= 1300 {
		t.Errorf("after the shutdown the source waits %vms, want the hub's 1000–1300", r)
	}
	base, stop = startHub(t, cfg)
	two := mustPublish(t, base, `{"topic":"news","data":"two"}`)
	three := mustPublish(t, base, `{"topic":"private/2","data":"three","private":true}`)
	waitJS(t, ctx, `log.reader.opens === 2 && log.reader.got.length >= 4 && log.anonymous.got.length >= 2`, 20*time.Second)
	expect(t, got(t, ctx, "reader"), "secret@"+secret, "one@"+one, "two@"+two, "three@"+three)
	expect(t, got(t, ctx, "anonymous"), "one@"+one, "two@"+two)

	// A restart on a wiped store does not know the source's id: the reset
	// reaches the callback, and the stream goes on live from the new
	// position.
	stop()
	wiped := cfg
	wiped.Store = "file:" + t.TempDir()
	base, _ = startHub(t, wiped)
	waitJS(t, ctx, `log.reader.resets.length === 1 && log.reader.src.readyState === 1`, 20*time.Second)
	reset := evalJS[map[string]string](t, ctx, `log.reader.resets[0]`)
	if reset["reason"] != "unknown-id" || reset["lastEventId"] != three || reset["resumeFrom"] == "" {
		t.Errorf("reset callback got %v", reset)
	}
	four := mustPublish(t, base, `{"topic":"news","data":"four"}`)
	waitJS(t, ctx, `log.reader.got.length >= 6`, 5*time.Second)
	expect(t, got(t, ctx, "reader"), "secret@"+secret, "one@"+one, "two@"+two, "three@"+three, "reset@"+reset["resumeFrom"], "four@"+four)

	// A forged token is refused with 401, and the source stops for good.
	watch(t, ctx, "forged", "/events", `{topics: ['news'], token: 'forged'}`)
	waitJS(t, ctx, `log.forged.src.readyState === 2`, 5*time.Second)
	if errs := evalJS[[]int](t, ctx, `log.forged.errors`); len(errs) != 1 || errs[0] != 401 || evalJS[int](t, ctx, `log.forged.opens`) != 0 {
		t.Errorf("forged token: errors %v, want exactly one with status 401", errs)
	}
	evalJS[bool](t, ctx, `Object.values(log).forEach((w) => w.src.close()) || true`)
}

func expect(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("the source received\n %q\nwant\n %q", got, want)
	}
}

func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func quoteJS(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`)
	return "'" + r.Replace(s) + "'"
}

// TestBrowserClientFromAnotherOrigin: a page of an origin listed in
// --cors-origins imports /ssehub.js from the hub and subscribes with a
// token and a resume id, which makes the browser ask first (a preflight
// for Authorization and Last-Event-ID). localhost and 127.0.0.1 are two
// origins of the same hub.
func TestBrowserClientFromAnotherOrigin(t *testing.T) {
	// Listed exactly, or "*": the client sends no cookies, so the wildcard
	// answer (never with credentials) is enough.
	for _, listed := range []string{"exactly", "*"} {
		t.Run("listed "+listed, func(t *testing.T) { testClientFromAnotherOrigin(t, listed == "*") })
	}
}

func testClientFromAnotherOrigin(t *testing.T, star bool) {
	ctx := newBrowser(t)
	cfg := testConfig(t, "memory:")
	cfg.Listen = freeAddr(t)
	_, port, _ := strings.Cut(cfg.Listen, ":")
	cfg.Auth.CORSOrigins = listFlag{"http://localhost:" + port}
	if star {
		cfg.Auth.CORSOrigins = listFlag{"*"}
	}
	base, _ := startHub(t, cfg)
	reader, err := auth.Sign([]byte(testKey), nil, []string{"private/{id}"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	first := mustPublish(t, base, `{"topic":"private/1","data":"missed","private":true}`)
	second := mustPublish(t, base, `{"topic":"private/1","data":"replayed","private":true}`)
	err = chromedp.Do(ctx, chromedp.Navigate("http://localhost:"+port+"/healthz"), chromedp.Evaluate[chromedp.Void](`
		window.got = [];
		import(`+quoteJS(base+"/ssehub.js")+`).then(({ HubSource }) => {
			window.src = new HubSource(`+quoteJS(base+"/events")+`, { topics: ['private/{id}'], token: `+quoteJS(reader)+`, lastEventId: `+quoteJS(first)+` });
			src.onmessage = (e) => got.push(e.data + '@' + e.lastEventId);
		});
		true`))
	if err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `window.got.length === 1`, 5*time.Second)
	third := mustPublish(t, base, `{"topic":"private/1","data":"live","private":true}`)
	waitJS(t, ctx, `window.got.length === 2`, 5*time.Second)
	expect(t, evalJS[[]string](t, ctx, `window.got`), "replayed@"+second, "live@"+third)
	if origin := evalJS[string](t, ctx, `location.origin`); origin != "http://localhost:"+port {
		t.Fatalf("the page's origin is %s", origin)
	}
	evalJS[bool](t, ctx, `src.close(), true`)
}

// TestBrowserClientPOSTSubscription: /ssehub.js subscribes with its
// selectors in a POST body, more of them than fit the hub's URL limit (a
// GET of them is refused 414), receives what they match, and resumes a hub
// restart without loss or duplicate: on reconnection it sends the same
// body and its last id in the Last-Event-ID header. A form body works the
// same way.
func TestBrowserClientPOSTSubscription(t *testing.T) {
	ctx := newBrowser(t)
	cfg := testConfig(t, "file:"+t.TempDir())
	cfg.Listen = freeAddr(t)
	cfg.Limits.MaxURLBytes = 512
	cfg.ShutdownRetry = 500 * time.Millisecond
	cfg.ShutdownJitter = 300 * time.Millisecond
	base, stop := startHub(t, cfg)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/healthz"), chromedp.Evaluate[chromedp.Void](clientPage)); err != nil {
		t.Fatal(err)
	}
	evalJS[bool](t, ctx, `window.rooms = Array.from({length: 50}, (_, i) => 'building/7/floor/' + i + '/room'); true`)
	code, err := chromedp.Run(ctx, chromedp.Evaluate[int](`fetch('/events?' + rooms.map((r) => 'topic=' + encodeURIComponent(r)).join('&')).then((r) => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || code != 414 {
		t.Fatalf("the GET of 50 selectors answered %d (%v), want 414: the test must exceed the URL limit", code, err)
	}
	watch(t, ctx, "json", "/events", `{method: 'POST', topics: rooms}`)
	watch(t, ctx, "form", "/events", `{method: 'POST', body: () => new URLSearchParams(rooms.map((r) => ['topic', r]))}`)
	waitJS(t, ctx, `log.json.opens === 1 && log.form.opens === 1`, 5*time.Second)
	one := mustPublish(t, base, `{"topic":"building/7/floor/49/room","data":"one"}`)
	mustPublish(t, base, `{"topic":"building/7/floor/50/room","data":"not subscribed"}`)
	two := mustPublish(t, base, `{"topic":"building/7/floor/0/room","data":"two"}`)
	waitJS(t, ctx, `log.json.got.length === 2 && log.form.got.length === 2`, 5*time.Second)

	stop()
	waitJS(t, ctx, `log.json.errors.length >= 1 && log.form.errors.length >= 1`, 5*time.Second)
	base, _ = startHub(t, cfg)
	three := mustPublish(t, base, `{"topic":"building/7/floor/25/room","data":"three"}`)
	waitJS(t, ctx, `log.json.opens === 2 && log.form.opens === 2 && log.json.got.length >= 3 && log.form.got.length >= 3`, 20*time.Second)
	four := mustPublish(t, base, `{"topic":"building/7/floor/1/room","data":"four"}`)
	waitJS(t, ctx, `log.json.got.length >= 4 && log.form.got.length >= 4`, 5*time.Second)
	for _, name := range []string{"json", "form"} {
		expect(t, got(t, ctx, name), "one@"+one, "two@"+two, "three@"+three, "four@"+four)
		if errs := evalJS[[]int](t, ctx, `log.`+name+`.errors`); len(errs) != 1 || errs[0] != 0 {
			t.Errorf("%s: errors %v, want one network error (the restart) and no refusal", name, errs)
		}
	}
	evalJS[bool](t, ctx, `Object.values(log).forEach((w) => w.src.close()) || true`)
}
