package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/web"
)

func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Result(), string(body)
}

func site(t *testing.T, opts web.Options) http.Handler {
	t.Helper()
	s, err := web.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s.Handler()
}

// Pages load nothing from another origin: every src and href of a script,
// stylesheet or image is a local path.
var resourceRE = regexp.MustCompile(`<(?:script|link|img)[^>]*(?:src|href)="([^"]*)"`)

func TestPagesAreServedAndSelfContained(t *testing.T) {
	h := site(t, web.Options{Demos: true})
	for _, path := range []string{"/", "/demo/board", "/demo/board/claim/T-101", "/demo/clock", "/demo/stocks", "/demo/chat", "/demo/monitor"} {
		t.Run(path, func(t *testing.T) {
			resp, body := get(t, h, path)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("%s %s", resp.Status, resp.Header.Get("Content-Type"))
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
				t.Fatalf("CSP %q", csp)
			}
			refs := resourceRE.FindAllStringSubmatch(body, -1)
			if len(refs) < 3 {
				t.Fatalf("only %d resources referenced", len(refs))
			}
			for _, m := range refs {
				if !strings.HasPrefix(m[1], "/static/") {
					t.Errorf("resource %q is not an embedded file", m[1])
					continue
				}
				if r, _ := get(t, h, m[1]); r.StatusCode != 200 {
					t.Errorf("%s: %s", m[1], r.Status)
				}
			}
		})
	}
}

func TestStaticFilesHaveTheirTypes(t *testing.T) {
	h := site(t, web.Options{})
	for path, ctype := range map[string]string{
		"/static/style.css": "text/css", "/static/common.js": "text/javascript", "/static/icon.svg": "image/svg+xml",
	} {
		resp, _ := get(t, h, path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) {
			t.Errorf("%s: %s %q, want %s", path, resp.Status, resp.Header.Get("Content-Type"), ctype)
		}
	}
	if resp, _ := get(t, h, "/static/nope.js"); resp.StatusCode != 404 {
		t.Errorf("missing file: %s", resp.Status)
	}
}

func TestDemosOffHidesDemoPagesAndLinks(t *testing.T) {
	h := site(t, web.Options{Demos: false, DocsURL: "https://docs.example/ssehub"})
	if resp, _ := get(t, h, "/demo/board"); resp.StatusCode != 404 {
		t.Fatalf("/demo/board with demos off: %s", resp.Status)
	}
	_, body := get(t, h, "/")
	if strings.Contains(body, `href="/demo/`) {
		t.Fatal("the dashboard links to demos that are off")
	}
	if !strings.Contains(body, `href="https://docs.example/ssehub"`) {
		t.Fatal("the dashboard lacks the docs link")
	}
	on := site(t, web.Options{Demos: true})
	if _, body := get(t, on, "/"); !strings.Contains(body, `href="/demo/board"`) {
		t.Fatal("the dashboard does not link to the demos")
	}
}

// TestDashboardVariants: the admin listener's page runs admin.js, shows the
// figures and the admin panels, and neither the tail nor the publish form
// (their APIs are on the public listener); a public page whose figures are
// on the admin listener says so instead of showing empty ones.
func TestDashboardVariants(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       web.Options
		want, none []string
	}{
		{"public", web.Options{}, []string{`/static/dashboard.js`, `id="figures"`, `id="cluster"`, `id="tail"`, `id="publish"`},
			[]string{`admin.js`, `id="admin-login"`, `id="stats-elsewhere"`}},
		{"public, figures elsewhere", web.Options{StatsElsewhere: true}, []string{`/static/dashboard.js`, `id="stats-elsewhere"`, `id="tail"`, `id="publish"`},
			[]string{`id="figures"`, `id="cluster"`, `id="admin-login"`}},
		{"admin", web.Options{Admin: true, StatsElsewhere: true}, []string{`/static/admin.js`, `id="figures"`, `id="cluster"`, `id="admin-login"`, `id="a-subscribers"`, `id="a-trim"`},
			[]string{`dashboard.js`, `id="tail"`, `id="publish"`, `id="stats-elsewhere"`, `href="/demo/`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, body := get(t, site(t, tc.opts), "/")
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("the page lacks %s", w)
				}
			}
			for _, n := range tc.none {
				if strings.Contains(body, n) {
					t.Errorf("the page has %s", n)
				}
			}
		})
	}
}

// TestBrowserClientIsServed: /ssehub.js is a JavaScript module any origin
// may import, cached and revalidated by its ETag; its types sit beside it.
func TestBrowserClientIsServed(t *testing.T) {
	for _, opts := range []web.Options{{Demos: false}, {Demos: true}} {
		h := site(t, opts)
		for path, ctype := range map[string]string{"/ssehub.js": "text/javascript; charset=utf-8", "/ssehub.d.ts": "application/typescript; charset=utf-8"} {
			resp, body := get(t, h, path)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ctype {
				t.Fatalf("%s: %s %q, want 200 %q", path, resp.Status, resp.Header.Get("Content-Type"), ctype)
			}
			if !strings.Contains(body, "HubSource") {
				t.Errorf("%s does not define HubSource", path)
			}
			etag := resp.Header.Get("ETag")
			for name, want := range map[string]string{"Cache-Control": "public, no-cache", "Access-Control-Allow-Origin": "*", "X-Content-Type-Options": "nosniff"} {
				if got := resp.Header.Get(name); got != want {
					t.Errorf("%s: %s %q, want %q", path, name, got, want)
				}
			}
			if len(etag) < 10 {
				t.Fatalf("%s: ETag %q", path, etag)
			}
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", path, nil)
			req.Header.Set("If-None-Match", etag)
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
				t.Errorf("%s revalidated with its ETag: %d, %d bytes; want 304 and no body", path, rec.Code, rec.Body.Len())
			}
		}
	}
}
