package browsertest

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
	"github.com/ssehub/ssehub/web"
)

const adminToken = "admin-token-0123456789abcdef"

// startAdmin serves a hub's admin side as the admin listener does (the
// admin dashboard, /api/stats, /api/admin/) and returns its base URL and
// the hub.
func startAdmin(t *testing.T) (string, *hub.Hub) {
	t.Helper()
	mlog := memory.New(memory.Options{})
	h, err := hub.New(mlog, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	site, err := web.New(web.Options{Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(h, httpapi.Options{NoStats: true, StatsInterval: 300 * time.Millisecond})
	mux := http.NewServeMux()
	site.Register(mux)
	mux.Handle("GET /api/stats", api.Stats())
	mux.Handle("/api/admin/", api.Admin(adminToken))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		h.Close()
		srv.Close()
		mlog.Close()
	})
	return srv.URL, h
}

// TestAdminDashboardClicksThrough drives the admin page with real clicks
// and typing, and fails on any error the page logs but the 401 it is
// meant to get: a wrong token, the right one, a disconnect and a trim.
func TestAdminDashboardClicksThrough(t *testing.T) {
	base, h := startAdmin(t)
	sub, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"news", "rooms/{id}"}, Door: "native", Remote: "192.0.2.7:4321"})
	if err != nil {
		t.Fatal(err)
	}
	// Read as a stream server would: the subscription leaves the
	// registry when its reader sees it end.
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		defer sub.Close()
		var frames [][]byte
		for err := error(nil); err == nil; {
			frames, err = sub.Next(t.Context(), frames[:0])
		}
	}()
	for range 3 {
		if _, err := h.Publish(t.Context(), hub.Event{Topics: []string{"news"}, Data: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	b := newBrowser(t)
	run(t, b.ctx, chromedp.Navigate(base+"/"))
	waitFor(t, b.ctx, "live figures", `document.querySelector('#f-published').textContent === '3' && document.querySelector('#conn').dataset.state === 'live'`, 5*time.Second)

	b.expect("status of 401")
	run(t, b.ctx, chromedp.SendKeys(`#a-token`, "not-the-token"), chromedp.Click(`#admin-login button[type=submit]`))
	waitFor(t, b.ctx, "the refusal", `document.querySelector('#a-state').textContent.includes('401')`, 5*time.Second)

	run(t, b.ctx, chromedp.SendKeys(`#a-token`, adminToken), chromedp.Click(`#admin-login button[type=submit]`))
	waitFor(t, b.ctx, "the subscriber listed", `document.querySelector('#a-subscribers').textContent.includes('192.0.2.7:4321')`, 5*time.Second)
	screenshot(t, b.ctx, "admin")

	run(t, b.ctx, chromedp.Click(`#a-subscribers button`))
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the disconnected subscription did not end")
	}
	waitFor(t, b.ctx, "the disconnect", `document.querySelector('#a-sub-result').classList.contains('ok') && document.querySelectorAll('#a-subscribers tr').length === 0`, 5*time.Second)

	run(t, b.ctx, chromedp.SendKeys(`#a-trim-value`, "0"), chromedp.Click(`#a-trim-button`), chromedp.Click(`#a-trim-button`))
	waitFor(t, b.ctx, "the trim", `document.querySelector('#a-trim-result').textContent === 'Removed 3 events.'`, 5*time.Second)

	run(t, b.ctx, chromedp.Click(`#a-forget`))
	waitFor(t, b.ctx, "the token forgotten", `document.querySelector('#admin-panels').hidden && sessionStorage.length === 0`, 5*time.Second)
}
