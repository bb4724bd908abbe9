package main

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ssehub/ssehub/internal/testchromium"
)

// newBrowser starts headless Chromium for one test, or skips loudly when
// it is not installed (and fails under CI, which must install it).
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	return newBrowserWith(t)
}

// newBrowserWith is newBrowser with more Chromium options.
func newBrowserWith(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(testchromium.Path(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Env("TMPDIR="+testchromium.Temp(t)),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
	)
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// waitJS polls a JavaScript condition in the page until it is true, up to
// a bound.
func waitJS(t *testing.T, ctx context.Context, cond string, within time.Duration) {
	t.Helper()
	ok, err := chromedp.Run(ctx, chromedp.Poll[bool](cond,
		chromedp.WithPollingTimeout(within), chromedp.WithPollingInterval(20*time.Millisecond)))
	if err != nil || !ok {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.got)`))
		t.Fatalf("waiting for %s: %v (page saw %s)", cond, err, state)
	}
}

// TestBrowserResumesAfterHubRestart opens a plain EventSource in Chromium,
// restarts the hub under it, publishes while the browser is away, and checks
// that the browser reconnects by itself and receives exactly what it missed.
func TestBrowserResumesAfterHubRestart(t *testing.T) {
	ctx := newBrowser(t)
	cfg := testConfig(t, "file:"+t.TempDir())
	cfg.Listen = freeAddr(t)
	cfg.ShutdownRetry = 1500 * time.Millisecond
	cfg.ShutdownJitter = 500 * time.Millisecond
	base, stop := startHub(t, cfg)

	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/healthz"),
		chromedp.Evaluate[chromedp.Void](`
			window.got = []; window.opens = 0;
			const es = new EventSource("/events?topic=browser");
			es.onopen = () => window.opens++;
			es.onmessage = (e) => window.got.push(e.data + "@" + e.lastEventId);
			true`),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `window.opens === 1`, 5*time.Second)
	one := mustPublish(t, base, `{"topic":"browser","data":"one"}`)
	two := mustPublish(t, base, `{"topic":"browser","data":"two"}`)
	waitJS(t, ctx, `window.got.length === 2`, 5*time.Second)

	stop()
	base, _ = startHub(t, cfg)
	three := mustPublish(t, base, `{"topic":"browser","data":"three"}`)
	four := mustPublish(t, base, `{"topic":"browser","data":"four"}`)
	waitJS(t, ctx, `window.opens === 2 && window.got.length >= 4`, 15*time.Second)

	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.got`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"one@" + one, "two@" + two, "three@" + three, "four@" + four}
	if len(got) != len(want) {
		t.Fatalf("browser received %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d: browser got %q, want %q", i, got[i], want[i])
		}
	}
}
