package browsertest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
)

// publishSeen is what the hub saw of one publish request.
type publishSeen struct {
	origin string
	cookie bool
}

// corsHub serves the API alone with opts, plus /login, which sets the
// mercureAuthorization cookie as an application would. It records every
// publish request.
type corsHub struct {
	url string
	hub *hub.Hub

	mu       sync.Mutex
	publishs []publishSeen
}

func startCORSHub(t *testing.T, opts httpapi.Options) *corsHub {
	t.Helper()
	mlog := memory.New(memory.Options{})
	h, err := hub.New(mlog, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := &corsHub{hub: h}
	token, err := auth.Sign(testKey, []string{"*"}, []string{"*"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	opts.Verifier = auth.NewVerifier(testKey)
	mux := http.NewServeMux()
	httpapi.New(h, opts).Register(mux)
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: auth.CookieName, Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		fmt.Fprint(w, "<!doctype html><link rel=icon href='data:,'><title>logged in</title>")
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/publish" {
			_, err := r.Cookie(auth.CookieName)
			c.mu.Lock()
			c.publishs = append(c.publishs, publishSeen{r.Header.Get("Origin"), err == nil})
			c.mu.Unlock()
		}
		mux.ServeHTTP(w, r)
	}))
	c.url = srv.URL
	t.Cleanup(func() {
		h.Close()
		srv.Close()
		mlog.Close()
	})
	return c
}

// visit navigates to url and waits until its page is the one shown, so
// the scripts that follow run in it.
func visit(t *testing.T, b *browser, url, title string) {
	t.Helper()
	run(t, b.ctx, chromedp.Navigate(url))
	waitFor(t, b.ctx, "the page "+url, fmt.Sprintf(`document.readyState === 'complete' && document.title === %q`, title), 5*time.Second)
}

func (c *corsHub) seen() []publishSeen {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]publishSeen(nil), c.publishs...)
}

// pageOrigin serves an empty page: another origin of the same site as the
// hub (127.0.0.1 on another port), like a sibling application on a
// subdomain, to which a SameSite=Lax cookie is still sent.
func pageOrigin(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<!doctype html><link rel=icon href='data:,'><title>page</title>")
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestBrowserCookieCannotPublishFromAnotherOrigin: a page of an unlisted
// origin makes Chromium send the hub's cookie with a text/plain POST (no
// preflight needed); the hub refuses it and publishes nothing. A page of
// the listed publisher origin publishes with the same cookie, with and
// without a preflight, and reads the answer.
func TestBrowserCookieCannotPublishFromAnotherOrigin(t *testing.T) {
	evil, admin := pageOrigin(t), pageOrigin(t)
	c := startCORSHub(t, httpapi.Options{PublishOrigins: []string{admin}})
	b := newBrowser(t)
	visit(t, b, c.url+"/login", "logged in")
	visit(t, b, evil+"/", "page")
	b.expect("status of 403")
	eval[string](t, b.ctx, fmt.Sprintf(`window.r = 'pending';
		fetch(%q, {method: 'POST', mode: 'no-cors', credentials: 'include', headers: {'Content-Type': 'text/plain'},
			body: JSON.stringify({topic: 't', data: 'forged'})}).then(() => window.r = 'sent', e => window.r = 'failed ' + e); 'ok'`,
		c.url+"/publish"))
	waitFor(t, b.ctx, "the forged publish to be sent", `window.r === 'sent'`, 5*time.Second)
	if seen := c.seen(); len(seen) != 1 || seen[0] != (publishSeen{evil, true}) {
		t.Fatalf("the hub saw %+v, want one publish from %s carrying the cookie", seen, evil)
	}
	if n := c.hub.Stats().Published; n != 0 {
		t.Fatalf("%d events published by a page of another origin", n)
	}

	visit(t, b, admin+"/", "page")
	for _, contentType := range []string{"text/plain", "application/json"} { // the second is preflighted
		status := eval[int](t, b.ctx, fmt.Sprintf(`fetch(%q, {method: 'POST', credentials: 'include', headers: {'Content-Type': %q},
			body: JSON.stringify({topic: 't', data: 'from admin'})}).then(r => r.status, e => -1)`, c.url+"/publish", contentType),
			chromedp.EvalAwaitPromise)
		if status != 200 {
			t.Errorf("publish from the listed origin (%s): status %v, want 200", contentType, status)
		}
	}
	if n := c.hub.Stats().Published; n != 2 {
		t.Errorf("%d events published from the listed origin, want 2", n)
	}
}

// TestBrowserReadsOnlyFromListedOrigins: a listed origin's page opens a
// credentialed EventSource and receives the private events its cookie
// allows; an unlisted origin's page cannot open one; with "*", any page
// reads public events without credentials, and a credentialed
// EventSource still fails, since "*" never comes with credentials.
func TestBrowserReadsOnlyFromListedOrigins(t *testing.T) {
	app, evil := pageOrigin(t), pageOrigin(t)
	for _, tc := range []struct {
		name    string
		origins []string
		page    string
		creds   bool
		opens   bool
	}{
		{"listed origin, credentials", []string{app}, app, true, true},
		{"unlisted origin, credentials", []string{app}, evil, true, false},
		{"unlisted origin, no credentials", []string{app}, evil, false, false},
		{"star, no credentials", []string{"*"}, evil, false, true},
		{"star, credentials", []string{"*"}, evil, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCORSHub(t, httpapi.Options{CORSOrigins: tc.origins})
			b := newBrowser(t)
			visit(t, b, c.url+"/login", "logged in")
			visit(t, b, tc.page+"/", "page")
			if !tc.opens {
				// How Chromium logs a CORS refusal: the reason, then the
				// failed load.
				b.expect("blocked by CORS policy")
				b.expect("net::ERR_FAILED")
			}
			eval[string](t, b.ctx, fmt.Sprintf(`window.got = []; window.state = 'connecting';
				window.es = new EventSource(%q, {withCredentials: %v});
				es.onopen = () => window.state = 'open';
				es.onerror = () => { if (es.readyState === EventSource.CLOSED) window.state = 'refused'; };
				es.onmessage = (e) => window.got.push(e.data); 'ok'`, c.url+"/events?topic=users/{id}&topic=news", tc.creds))
			if !tc.opens {
				waitFor(t, b.ctx, "the stream to be refused", `window.state === 'refused'`, 5*time.Second)
				return
			}
			waitFor(t, b.ctx, "the stream to open", `window.state === 'open'`, 5*time.Second)
			ctx := context.Background()
			if _, err := c.hub.Publish(ctx, hub.Event{Topics: []string{"users/1"}, Data: "private", Private: true}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.hub.Publish(ctx, hub.Event{Topics: []string{"news"}, Data: "public"}); err != nil {
				t.Fatal(err)
			}
			want := `["public"]`
			if tc.creds {
				want = `["private","public"]` // the cookie grants subscribe *
			}
			// The public event comes last on the stream: once it is in,
			// the private one has arrived if it ever will.
			waitFor(t, b.ctx, "the public event", `window.got.includes('public')`, 5*time.Second)
			if got := eval[string](t, b.ctx, `JSON.stringify(window.got)`); got != want {
				t.Errorf("received %s, want %s", got, want)
			}
			eval[string](t, b.ctx, `es.close(); 'ok'`)
		})
	}
}
