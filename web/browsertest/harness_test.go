package browsertest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ssehub/ssehub/internal/testchromium"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/demo"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
	"github.com/ssehub/ssehub/web"
)

var testKey = []byte("browser-test-key-0123456789abcdef")

// startHub runs the whole server on loopback with short demo intervals and
// returns its base URL. Everything stops when the test ends.
func startHub(t *testing.T) string {
	t.Helper()
	mlog := memory.New(memory.Options{})
	h, err := hub.New(mlog, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	demos, err := demo.New(demo.Options{Hub: h, PublishURL: base, Key: testKey,
		ClockInterval: 300 * time.Millisecond, StocksInterval: 150 * time.Millisecond, MonitorInterval: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	site, err := web.New(web.Options{Demos: true})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	httpapi.New(h, httpapi.Options{Verifier: auth.NewVerifier(testKey), StatsInterval: 300 * time.Millisecond}).Register(mux)
	site.Register(mux)
	demos.Register(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = demos.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		h.Close()
		srv.Close()
		mlog.Close()
	})
	return base
}

// browser is one headless Chromium with a fresh profile; it records every
// console error, uncaught exception and error entry of the browser log
// (failed loads, refused content) of its tabs.
type browser struct {
	ctx context.Context

	mu       sync.Mutex
	errors   []string
	expected []string // parts of errors the test provokes on purpose
	wg       sync.WaitGroup
}

// expect lets one error that contains part through: the browser logs every
// refused request (a 403, a 409) that a test provokes on purpose.
func (b *browser) expect(part string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expected = append(b.expected, part)
}

// newBrowser starts Chromium for the test. At the end of the test, any
// error a page logged fails it.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	// Chromium sometimes fails to come up on a loaded machine; a fresh
	// process usually does. (A chromedp context whose first start failed
	// must not be used again: its allocator panics on a second try.)
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		var b *browser
		if b, err = startBrowser(t); err == nil {
			return b
		}
		t.Logf("starting Chromium, attempt %d: %v", attempt, err)
	}
	t.Fatalf("starting Chromium: %v", err)
	return nil
}

// startBrowser starts a Chromium and watches its first tab; the test's
// cleanup stops it and reports the page errors nobody expected.
func startBrowser(t *testing.T) (*browser, error) {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(testchromium.Path(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Env("TMPDIR=" + testchromium.Temp(t)),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{}
	ctx, cancelCtx := chromedp.NewContext(actx)
	b.ctx = ctx
	stop := func() {
		cancelCtx()
		cancelAlloc()
		b.wg.Wait()
	}
	if err := chromedp.Do(ctx); err != nil {
		stop()
		return nil, err
	}
	t.Cleanup(stop)
	b.watch(t, ctx)
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
	next:
		for _, e := range b.errors {
			for i, part := range b.expected {
				if strings.Contains(e, part) {
					b.expected = append(b.expected[:i], b.expected[i+1:]...)
					continue next
				}
			}
			t.Errorf("page error: %s", e)
		}
	})
	return b, nil
}

// tab opens another tab in the same browser.
func (b *browser) tab(t *testing.T) context.Context {
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	b.watch(t, ctx)
	return ctx
}

// watch collects the errors of the tab of ctx until it closes.
func (b *browser) watch(t *testing.T, ctx context.Context) {
	t.Helper()
	// Start the tab first: Console would swallow an error of the start.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	messages := chromedp.Console(ctx)
	b.wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.errors = append(b.errors, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
				b.mu.Unlock()
			}
		}
	})
}

// run runs actions in ctx, failing the test on error.
func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls a JavaScript condition until it is true, or fails the test
// after d: the only way these tests wait.
func waitFor(t *testing.T, ctx context.Context, what, expr string, d time.Duration) {
	t.Helper()
	ok, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(20*time.Millisecond)))
	if err != nil || !ok {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('main') ? document.querySelector('main').innerText.slice(0, 800) : ''`))
		t.Fatalf("waiting %v for %s: %v\npage shows:\n%s", d, what, err, body)
	}
}

// eval evaluates a JavaScript expression.
func eval[T any](t *testing.T, ctx context.Context, expr string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// screenshot saves the page to docs/screenshots/NAME.png when
// SSEHUB_SCREENSHOTS=1, so ordinary test runs leave the tree alone.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv("SSEHUB_SCREENSHOTS") != "1" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "docs", "screenshots", name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}
