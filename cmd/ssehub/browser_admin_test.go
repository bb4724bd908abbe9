package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserAdminDashboard opens the admin listener's dashboard in
// Chromium against the real hub: the figures stream there; without a token
// the admin panels ask for one; a wrong token is refused with a clear
// error and forgotten; the right one, kept in sessionStorage and never in
// the URL, lists a connected subscriber and its topic, whose Disconnect
// button really ends that stream; and a trim asks twice, then removes what
// it says.
func TestBrowserAdminDashboard(t *testing.T) {
	ctx := newBrowser(t)
	public, admin := adminHub(t)
	s := openStream(t, public+"/events?topic=watched&topic=rooms/{id}", "")
	for i := range 3 {
		mustPublish(t, public, `{"topic":"watched","data":"`+strconv.Itoa(i)+`"}`)
	}
	var subs adminSubscribers
	adminCall(t, admin, "GET", "/api/admin/subscribers", "", 200, &subs)
	if len(subs.Subscribers) != 1 {
		t.Fatalf("the admin API lists %d subscribers, want 1", len(subs.Subscribers))
	}
	id := strconv.FormatUint(subs.Subscribers[0].ID, 10)

	if err := chromedp.Do(ctx, chromedp.Navigate(admin+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `document.querySelector('#figures').dataset.updated && document.querySelector('#f-subscribers').textContent === '1' && document.querySelector('#f-published').textContent === '3'`, 10*time.Second)
	waitJS(t, ctx, `document.querySelector('#admin-panels').hidden && document.querySelector('#a-state').textContent.includes('Enter the admin token')`, 5*time.Second)
	if evalJS[bool](t, ctx, `!document.querySelector('#cluster').hidden`) {
		t.Error("a hub on its own log shows cluster figures")
	}

	submitToken := func(token string) {
		t.Helper()
		evalJS[bool](t, ctx, `document.querySelector('#a-token').value = `+quoteJS(token)+`; document.querySelector('#admin-login').requestSubmit(); true`)
	}
	submitToken(adminToken + "-wrong")
	waitJS(t, ctx, `document.querySelector('#a-state').classList.contains('err') && document.querySelector('#a-state').textContent.includes('refused this admin token (401')`, 5*time.Second)
	if evalJS[bool](t, ctx, `!document.querySelector('#admin-panels').hidden || sessionStorage.getItem('ssehub.admin.token') !== null`) {
		t.Error("after a refused token the panels show or the token is kept")
	}

	submitToken(adminToken)
	row := `document.querySelector('#a-subscribers tr[data-id="` + id + `"]')`
	waitJS(t, ctx, `!document.querySelector('#admin-panels').hidden && `+row+` !== null && `+row+`.textContent.includes('watched rooms/{id}')`, 5*time.Second)
	topics := evalJS[string](t, ctx, `document.querySelector('#a-topics').textContent`)
	if !strings.Contains(topics, "watched1") || !strings.Contains(topics, "rooms/{id}1") {
		t.Errorf("topics panel %q, want both selectors with 1 subscriber", topics)
	}
	if log := evalJS[string](t, ctx, `document.querySelector('#a-log').textContent`); !strings.Contains(log, "Events3") {
		t.Errorf("log panel %q, want 3 events", log)
	}
	if evalJS[bool](t, ctx, `location.href.includes(`+quoteJS(adminToken)+`) || sessionStorage.getItem('ssehub.admin.token') !== `+quoteJS(adminToken)) {
		t.Error("the token is in the URL, or not in sessionStorage")
	}

	evalJS[bool](t, ctx, row+`.querySelector('button').click(), true`)
	select {
	case <-s.errc:
	case <-time.After(5 * time.Second):
		t.Fatal("the disconnected subscriber's stream did not end")
	}
	waitJS(t, ctx, `document.querySelector('#a-sub-result').textContent.includes('Disconnected subscriber `+id+`') && `+row+` === null`, 5*time.Second)

	evalJS[bool](t, ctx, `document.querySelector('#a-trim-value').value = '1'; document.querySelector('#a-trim').requestSubmit(); true`)
	if b := evalJS[string](t, ctx, `document.querySelector('#a-trim-button').textContent`); b != "Confirm trim" {
		t.Fatalf("after one click the trim button says %q, want it to ask again", b)
	}
	evalJS[bool](t, ctx, `document.querySelector('#a-trim').requestSubmit(), true`)
	waitJS(t, ctx, `document.querySelector('#a-trim-result').textContent === 'Removed 2 events.' && document.querySelector('#a-log').textContent.includes('Events1')`, 5*time.Second)
}

// TestBrowserAdminDashboardShowsTheCluster: two hubs on one Redis log; the
// admin listener of one streams, in /api/stats and on its dashboard, the
// subscribers of each node (this one marked) and their total, and says so
// when the engine stops answering rather than showing a cluster of none.
func TestBrowserAdminDashboardShowsTheCluster(t *testing.T) {
	ctx := newBrowser(t)
	srv, store := redisStore(t)
	cfgA := testConfig(t, store)
	cfgA.AdminListen = "127.0.0.1:0"
	a, _ := runMain(t, cfgA, nil, nil)
	b, _ := runMain(t, testConfig(t, store), nil, nil)
	publicA, publicB, admin := "http://"+a.Addr().String(), "http://"+b.Addr().String(), "http://"+a.AdminAddr().String()
	openStream(t, publicA+"/events?topic=c", "")
	openStream(t, publicA+"/events?topic=c", "")
	openStream(t, publicB+"/events?topic=c", "")
	var c struct {
		Cluster struct {
			Node        string
			Subscribers int64
			Nodes       []struct {
				Name        string
				Subscribers int64
			}
			Error string
		}
	}
	waitFor(t, "/api/stats counting 3 subscribers on 2 nodes", func() bool {
		if err := json.Unmarshal([]byte(strings.TrimPrefix(firstStatsFrame(t, admin+"/api/stats"), "data: ")), &c); err != nil {
			t.Fatal(err)
		}
		return c.Cluster.Subscribers == 3 && len(c.Cluster.Nodes) == 2
	})
	for _, n := range c.Cluster.Nodes {
		if want := map[bool]int64{true: 2, false: 1}[n.Name == c.Cluster.Node]; n.Subscribers != want {
			t.Errorf("node %s (this one: %s) has %d subscribers, want %d", n.Name, c.Cluster.Node, n.Subscribers, want)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(admin+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `!document.querySelector('#cluster').hidden && document.querySelector('#c-total').textContent === '3' && document.querySelector('#c-count').textContent === '2'`, 10*time.Second)
	self := evalJS[string](t, ctx, `document.querySelector('#c-nodes tr[data-node="`+c.Cluster.Node+`"]').textContent`)
	if self != c.Cluster.Node+" (this node)2" {
		t.Errorf("this node's row says %q", self)
	}
	srv.Pause()
	defer srv.Resume()
	waitJS(t, ctx, `document.querySelector('#c-error').textContent.includes('The shared log did not answer')`, 15*time.Second)
}
