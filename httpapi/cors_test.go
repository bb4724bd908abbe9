package httpapi

import (
	"net/http"
	"strings"
	"testing"
)

// corsAnswer is what a response says to a browser about CORS.
type corsAnswer struct {
	origin, credentials, methods string
}

func corsOf(resp *http.Response) corsAnswer {
	return corsAnswer{
		resp.Header.Get("Access-Control-Allow-Origin"),
		resp.Header.Get("Access-Control-Allow-Credentials"),
		resp.Header.Get("Access-Control-Allow-Methods"),
	}
}

func send(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func preflight(t *testing.T, url, origin, method string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, url, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	return send(t, req)
}

// TestCORS: readers (GET) and publishers (POST) have their own allow-lists;
// a listed origin gets itself and credentials, "*" gets "*" and never
// credentials, an unlisted origin nothing, on preflights and on answers.
func TestCORS(t *testing.T) {
	const app, admin, evil = "https://app.example", "https://admin.example", "https://evil.example"
	for _, tc := range []struct {
		name             string
		readers, writers []string
		origin           string
		read, publish    corsAnswer // preflight answers
	}{
		{"readers listed", []string{app}, nil, app,
			corsAnswer{app, "true", "GET"}, corsAnswer{}},
		{"publisher listed", []string{app}, []string{admin}, admin,
			corsAnswer{}, corsAnswer{admin, "true", "POST"}},
		{"unlisted", []string{app}, []string{admin}, evil,
			corsAnswer{}, corsAnswer{}},
		// The bug this fixes: "*" echoed the origin with credentials.
		{"star for readers", []string{"*"}, nil, evil,
			corsAnswer{"*", "", "GET"}, corsAnswer{}},
		{"star for both", []string{"*"}, []string{"*"}, evil,
			corsAnswer{"*", "", "GET"}, corsAnswer{"*", "", "POST"}},
		{"star and a listed origin", []string{"*", app}, nil, app,
			corsAnswer{app, "true", "GET"}, corsAnswer{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := newServer(t, Options{CORSOrigins: tc.readers, PublishOrigins: tc.writers})
			for _, path := range []string{"/events", "/history"} {
				if got := corsOf(preflight(t, srv.URL+path, tc.origin, "GET")); got != tc.read {
					t.Errorf("preflight GET %s: %+v, want %+v", path, got, tc.read)
				}
			}
			if got := corsOf(preflight(t, srv.URL+"/publish", tc.origin, "POST")); got != tc.publish {
				t.Errorf("preflight POST /publish: %+v, want %+v", got, tc.publish)
			}
			// The answers themselves say the same (no methods outside a
			// preflight).
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/history?topic=t", nil)
			req.Header.Set("Origin", tc.origin)
			want := tc.read
			want.methods = ""
			if got := corsOf(send(t, req)); got != want {
				t.Errorf("GET /history: %+v, want %+v", got, want)
			}
			req, _ = http.NewRequest(http.MethodPost, srv.URL+"/publish", strings.NewReader(`{"topic":"t"}`))
			req.Header.Set("Origin", tc.origin)
			req.Header.Set("Authorization", "Bearer "+sign(t, testKey, []string{"*"}, nil))
			want = tc.publish
			want.methods = ""
			if got := corsOf(send(t, req)); got != want {
				t.Errorf("POST /publish: %+v, want %+v", got, want)
			}
		})
	}
}

func TestPreflightAllowsTheHeadersOfItsMethod(t *testing.T) {
	const app = "https://app.example"
	srv, _ := newServer(t, Options{CORSOrigins: []string{app}, PublishOrigins: []string{app}})
	resp := preflight(t, srv.URL+"/events", app, "GET")
	if h := resp.Header.Get("Access-Control-Allow-Headers"); !strings.Contains(h, "Last-Event-ID") || !strings.Contains(h, "Authorization") {
		t.Errorf("GET preflight allows headers %q, want Last-Event-ID and Authorization", h)
	}
	resp = preflight(t, srv.URL+"/publish", app, "POST")
	if h := resp.Header.Get("Access-Control-Allow-Headers"); !strings.Contains(h, "Content-Type") || !strings.Contains(h, "Authorization") {
		t.Errorf("POST preflight allows headers %q, want Content-Type and Authorization", h)
	}
	// A method the path does not serve is not allowed, even for a listed
	// origin.
	for _, tc := range []struct{ path, method string }{{"/publish", "GET"}, {"/events", "DELETE"}, {"/publish", "DELETE"}} {
		if got := corsOf(preflight(t, srv.URL+tc.path, app, tc.method)); got != (corsAnswer{}) {
			t.Errorf("preflight %s %s: %+v, want no CORS headers", tc.method, tc.path, got)
		}
	}
	if resp.StatusCode != http.StatusNoContent || !strings.Contains(resp.Header.Get("Vary"), "Origin") {
		t.Errorf("preflight: %d, Vary %q", resp.StatusCode, resp.Header.Get("Vary"))
	}
}

// TestCookiePublishNeedsAListedOrigin: a browser sends the
// mercureAuthorization cookie with any site's form post (text/plain needs
// no preflight), so a publish authorised by the cookie is refused unless
// its Origin is listed exactly as a publisher origin. The header is not
// sent by browsers on their own, so a bearer token is unaffected.
func TestCookiePublishNeedsAListedOrigin(t *testing.T) {
	const admin, evil = "https://admin.example", "https://evil.example"
	token := sign(t, testKey, []string{"*"}, nil)
	for _, tc := range []struct {
		name      string
		publishOK []string
		readOK    []string
		origin    string
		cookie    bool
		want      int
	}{
		{"cookie from an unlisted origin", []string{admin}, nil, evil, true, http.StatusForbidden},
		{"cookie with no origin listed", nil, nil, evil, true, http.StatusForbidden},
		{"cookie with * for publishers", []string{"*"}, nil, evil, true, http.StatusForbidden},
		{"cookie from a reader origin", nil, []string{evil}, evil, true, http.StatusForbidden},
		{"cookie without Origin", []string{admin}, nil, "", true, http.StatusForbidden},
		{"cookie from the listed origin", []string{admin}, nil, admin, true, http.StatusOK},
		{"bearer from any origin", nil, nil, evil, false, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, h := newServer(t, Options{PublishOrigins: tc.publishOK, CORSOrigins: tc.readOK})
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/publish", strings.NewReader(`{"topic":"t","data":"x"}`))
			req.Header.Set("Content-Type", "text/plain")
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.cookie {
				req.Header.Set("Cookie", "mercureAuthorization="+token)
			} else {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			code, body := do(t, req)
			if code != tc.want {
				t.Fatalf("status %d (%s), want %d", code, body, tc.want)
			}
			published := h.Stats().Published
			if tc.want != http.StatusOK && (!strings.Contains(body, `"error"`) || published != 0) {
				t.Errorf("refused with %s, and %d events published; want a JSON error and nothing published", body, published)
			}
		})
	}
}

// TestPublishRefusesATokenInTheURL: URLs are logged; a publisher token
// belongs in the header.
func TestPublishRefusesATokenInTheURL(t *testing.T) {
	srv, _ := newServer(t, Options{})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/publish?authorization="+sign(t, testKey, []string{"*"}, nil),
		strings.NewReader(`{"topic":"t","data":"x"}`))
	if code, body := do(t, req); code != http.StatusUnauthorized || !strings.Contains(body, "Authorization header") {
		t.Fatalf("%d %s, want 401 naming the header", code, body)
	}
}

// TestSubscribeByPOSTIsAReadForCORS: POST /events subscribes, so the
// readers' allow-list governs it and its preflight allows what a
// resuming subscription sends; a publisher-only origin gets nothing there.
func TestSubscribeByPOSTIsAReadForCORS(t *testing.T) {
	const app, admin = "https://app.example", "https://admin.example"
	srv, _ := newServer(t, Options{CORSOrigins: []string{app}, PublishOrigins: []string{admin}})
	resp := preflight(t, srv.URL+"/events", app, "POST")
	if got := corsOf(resp); got != (corsAnswer{app, "true", "POST"}) {
		t.Errorf("reader's preflight POST /events: %+v", got)
	}
	if h := resp.Header.Get("Access-Control-Allow-Headers"); !strings.Contains(h, "Last-Event-ID") || !strings.Contains(h, "Content-Type") || !strings.Contains(h, "Authorization") {
		t.Errorf("POST /events preflight allows headers %q, want Last-Event-ID, Content-Type and Authorization", h)
	}
	if got := corsOf(preflight(t, srv.URL+"/events", admin, "POST")); got != (corsAnswer{}) {
		t.Errorf("publisher's preflight POST /events: %+v, want no CORS headers", got)
	}
	// The refused answer (no topic) carries the readers' CORS as well.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/events", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", app)
	if got := corsOf(send(t, req)); got != (corsAnswer{app, "true", ""}) {
		t.Errorf("POST /events answer: %+v", got)
	}
}
