package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

const adminToken = "admin-token-0123456789abcdef"

// adminHub runs a hub with an admin listener and the admin API on, and
// returns the public and admin base URLs.
func adminHub(t *testing.T) (public, admin string) {
	t.Helper()
	cfg := testConfig(t, "memory:")
	cfg.AdminListen = "127.0.0.1:0"
	cfg.AdminTokenFile = filepath.Join(t.TempDir(), "admin.token")
	if err := os.WriteFile(cfg.AdminTokenFile, []byte(adminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m, _ := runMain(t, cfg, nil, nil)
	return "http://" + m.Addr().String(), "http://" + m.AdminAddr().String()
}

// adminCall sends an admin request with the admin token and decodes the
// JSON answer into out (when not nil), failing unless the status is want.
func adminCall(t *testing.T, base, method, path, body string, want int, out any) {
	t.Helper()
	resp, text := request(t, base, method, path, body, bearer(adminToken))
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, text, want)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(text), out); err != nil {
			t.Fatalf("%s %s: answer not JSON: %v: %q", method, path, err, text)
		}
	}
}

type adminSubscribers struct {
	Subscribers []hub.SubscriberInfo `json:"subscribers"`
}

// TestAdminAPIRefusesWithoutItsToken: every admin route answers 401 with a
// JSON body without the token or with another one (a publisher's token
// included), and the public listener has no admin API at all.
func TestAdminAPIRefusesWithoutItsToken(t *testing.T) {
	public, admin := adminHub(t)
	routes := [][2]string{{"GET", "/api/admin/topics"}, {"GET", "/api/admin/subscribers"},
		{"DELETE", "/api/admin/subscribers/1"}, {"GET", "/api/admin/log"}, {"POST", "/api/admin/log/trim"}}
	for _, r := range routes {
		for name, h := range map[string]http.Header{
			"none": nil, "wrong": bearer(adminToken + "x"), "publisher's": bearer(publisherToken(t)),
			"not bearer": {"Authorization": {"Basic " + adminToken}},
		} {
			resp, body := request(t, admin, r[0], r[1], `{"keep":0}`, h)
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"error"`) {
				t.Errorf("%s %s with %s token: %d %q, want 401 with a JSON error", r[0], r[1], name, resp.StatusCode, body)
			}
		}
		if resp, _ := request(t, public, r[0], r[1], `{"keep":0}`, bearer(adminToken)); resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("public %s %s: %d, want no admin API there", r[0], r[1], resp.StatusCode)
		}
	}
}

// TestAdminAPIOffWithoutATokenFile: an admin listener without
// --admin-token-file serves no admin API, even to a guessed token.
func TestAdminAPIOffWithoutATokenFile(t *testing.T) {
	cfg := testConfig(t, "memory:")
	cfg.AdminListen = "127.0.0.1:0"
	m, _ := runMain(t, cfg, nil, nil)
	resp, body := request(t, "http://"+m.AdminAddr().String(), "GET", "/api/admin/topics", "", bearer(""))
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "--admin-token-file") {
		t.Errorf("GET /api/admin/topics without a token file: %d %q, want 404 naming the flag", resp.StatusCode, body)
	}
}

func TestAdminTokenFileIsChecked(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	for name, c := range map[string]struct{ listen, file, want string }{
		"short":     {"127.0.0.1:0", short, "at least 16"},
		"missing":   {"127.0.0.1:0", filepath.Join(dir, "none"), "--admin-token-file"},
		"no listen": {"", short, "--admin-listen"},
	} {
		cfg := testConfig(t, "memory:")
		cfg.AdminListen, cfg.AdminTokenFile = c.listen, c.file
		m := &Main{Config: cfg}
		err := m.Open(t.Context())
		if err == nil {
			_ = m.Run(canceled())
			t.Errorf("%s: Open succeeded", name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want it to say %q", name, err, c.want)
		}
	}
}

// TestAdminAPIListsDisconnectsAndTrims drives the admin API over HTTP with
// real streams: it lists a subscriber as it is, disconnects it (its stream
// really ends and it resumes without loss), and trims the log, after which
// an id before the trim gets ssehub-reset and the id it trimmed through
// resumes without one. Then it scrapes /metrics for what that traffic did,
// and checks that every metric the Grafana dashboard queries exists.
func TestAdminAPIListsDisconnectsAndTrims(t *testing.T) {
	public, admin := adminHub(t)
	first := mustPublish(t, public, `{"topic":"t","data":"first"}`)
	s := openStream(t, public+"/events?topic=t&topic=other", "")
	a := mustPublish(t, public, `{"topic":"t","data":"a"}`)
	ev := s.next(t)
	if ev.ID == first {
		// A stream starts live at what the hub has dispatched, and the
		// publish was answered once it was durable: a stream opened at
		// once may still be handed it (seen once under a loaded full run).
		ev = s.next(t)
	}
	if ev.ID != a || ev.Data != "a" {
		t.Fatalf("stream: %+v, want a", ev)
	}

	var subs adminSubscribers
	adminCall(t, admin, "GET", "/api/admin/subscribers", "", http.StatusOK, &subs)
	if len(subs.Subscribers) != 1 {
		t.Fatalf("subscribers: %+v, want one", subs)
	}
	sub := subs.Subscribers[0]
	if sub.Door != "native" || !strings.HasPrefix(sub.Remote, "127.0.0.1:") || strings.Join(sub.Topics, ",") != "t,other" ||
		sub.LastEventID != a || time.Since(sub.Since) > time.Minute || sub.Since.After(time.Now()) {
		t.Errorf("subscriber: %+v; want door native, a loopback address, topics t,other, last id %s, since just now", sub, a)
	}
	var topics struct{ Topics []hub.TopicInfo }
	adminCall(t, admin, "GET", "/api/admin/topics", "", http.StatusOK, &topics)
	want := []hub.TopicInfo{{Topic: "other", Exact: true, Subscribers: 1}, {Topic: "t", Exact: true, Subscribers: 1}}
	if len(topics.Topics) != 2 || topics.Topics[0] != want[0] || topics.Topics[1] != want[1] {
		t.Errorf("topics: %+v, want %+v", topics.Topics, want)
	}

	adminCall(t, admin, "DELETE", "/api/admin/subscribers/"+strconv.FormatUint(sub.ID, 10), "", http.StatusNoContent, nil)
	waitEnded(t, s)
	adminCall(t, admin, "DELETE", "/api/admin/subscribers/"+strconv.FormatUint(sub.ID, 10), "", http.StatusNotFound, nil)
	adminCall(t, admin, "DELETE", "/api/admin/subscribers/x", "", http.StatusBadRequest, nil)
	b := mustPublish(t, public, `{"topic":"t","data":"b"}`)
	resumed := openStream(t, public+"/events?topic=t", a)
	if ev := resumed.next(t); ev.ID != b || ev.Data != "b" {
		t.Fatalf("resumed after a disconnect: %+v, want b", ev)
	}

	var trimmed struct {
		Removed int64 `json:"removed"`
		Log     struct {
			Events  int64  `json:"events"`
			FirstID string `json:"firstId"`
		} `json:"log"`
	}
	adminCall(t, admin, "POST", "/api/admin/log/trim", `{"through":"`+a+`"}`, http.StatusOK, &trimmed)
	if trimmed.Removed != 2 || trimmed.Log.Events != 1 || trimmed.Log.FirstID != b {
		t.Errorf("trim through a: %+v, want 2 removed (first, a), b first", trimmed)
	}
	expired := openStream(t, public+"/events?topic=t", first)
	if ev := expired.next(t); ev.Type != hub.ResetType || !strings.Contains(ev.Data, `"expired"`) {
		t.Errorf("resuming from before the trim: %+v, want %s expired", ev, hub.ResetType)
	}
	fine := openStream(t, public+"/events?topic=t", a)
	if ev := fine.next(t); ev.ID != b {
		t.Errorf("resuming from the id trimmed through: %+v, want b with no reset", ev)
	}
	for body, status := range map[string]int{
		`{}`: 400, `{"through":"x","keep":1}`: 400, `{"keep":-1}`: 400, `{"kept":1}`: 400, `[`: 400,
		`{"through":"no-such-id"}`: 404,
	} {
		adminCall(t, admin, "POST", "/api/admin/log/trim", body, status, nil)
	}
	adminCall(t, admin, "POST", "/api/admin/log/trim", `{"keep":0}`, http.StatusOK, &trimmed)
	if trimmed.Removed != 1 || trimmed.Log.Events != 0 || trimmed.Log.FirstID != "" {
		t.Errorf("trim keep 0: %+v, want b removed and nothing left", trimmed)
	}
	var logv struct{ Events int64 }
	adminCall(t, admin, "GET", "/api/admin/log", "", http.StatusOK, &logv)
	// One more through the Mercure door: it counts there, and is listed
	// as such.
	openStream(t, public+"/.well-known/mercure?topic=m", "")
	adminCall(t, admin, "GET", "/api/admin/subscribers", "", http.StatusOK, &subs)
	if doors := doorsOf(subs.Subscribers); doors["mercure"] != 1 || doors["native"] != 3 {
		t.Errorf("subscribers by door: %v, want mercure 1, native 3", doors)
	}

	scrape := scrapeUntil(t, admin+"/metrics", []string{
		`ssehub_disconnects_total{reason="operator"} 1`,
		`ssehub_resets_total{reason="expired"} 1`,
		`ssehub_replays_total 2`,
		`ssehub_replayed_events_total 2`,
		`ssehub_door_subscribers{door="native"} 3`,
		`ssehub_door_subscribers{door="mercure"} 1`,
		`ssehub_evloop_streams 4`,
		`ssehub_evloop_blocked_streams 0`,
		`ssehub_publish_duration_seconds_count 3`,
		`ssehub_append_duration_seconds_count 3`,
		`ssehub_dispatch_lag_seconds_count 3`,
		`ssehub_publish_duration_seconds_bucket{le="+Inf"} 3`,
		`ssehub_build_info{commit=`,
	})
	checkDashboard(t, scrape)
}

// scrapeUntil scrapes url until it holds every wanted line (streams that
// ended are let go of a moment after their client sees the end), for at
// most 10s, and fails naming the missing ones.
func scrapeUntil(t *testing.T, url string, wants []string) string {
	t.Helper()
	// Nothing signals the figures; scrape on a ticker, within a bound.
	bound := time.After(10 * time.Second)
	check := time.NewTicker(20 * time.Millisecond)
	defer check.Stop()
	for {
		_, scrape := get(t, http.DefaultClient, url)
		var missing []string
		for _, w := range wants {
			if !strings.Contains(scrape, w) {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			return scrape
		}
		select {
		case <-bound:
			t.Fatalf("/metrics lacks %q", missing)
		case <-check.C:
		}
	}
}

func doorsOf(subs []hub.SubscriberInfo) map[string]int {
	doors := map[string]int{}
	for _, s := range subs {
		doors[s.Door]++
	}
	return doors
}

// waitEnded waits until the stream's body ends.
func waitEnded(t *testing.T, s *stream) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("the disconnected stream did not end within 10s")
		}
	}
}

// checkDashboard parses docs/grafana-dashboard.json and checks that every
// ssehub_ metric its queries name is in the scrape.
func checkDashboard(t *testing.T, scrape string) {
	t.Helper()
	raw, err := os.ReadFile("../../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	names := regexp.MustCompile(`\bssehub_[a-z_]+`)
	queried := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, name := range names.FindAllString(tg.Expr, -1) {
				queried++
				base := name
				for _, suffix := range []string{"_bucket", "_count", "_sum"} {
					if b, ok := strings.CutSuffix(name, suffix); ok && strings.Contains(scrape, "# TYPE "+b+" histogram") {
						base = b
					}
				}
				if !strings.Contains(scrape, "# TYPE "+base+" ") {
					t.Errorf("dashboard panel %q queries %s, which /metrics does not serve", p.Title, name)
				}
			}
		}
	}
	if len(dash.Panels) < 8 || queried < 10 {
		t.Errorf("dashboard %q: %d panels, %d metric references; want a dashboard, not a stub", dash.Title, len(dash.Panels), queried)
	}
}
