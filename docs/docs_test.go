package docs

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestServesPagesAsText(t *testing.T) {
	for _, tc := range []struct{ path, contentType, contains string }{
		{"/api.md", "text/plain; charset=utf-8", "POST /publish"},
		{"/", "text/html; charset=utf-8", "api.md"},
		{"/screenshots/board.png", "image/png", "PNG"},
	} {
		rec := httptest.NewRecorder()
		Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != tc.contentType {
			t.Errorf("%s: %d %q, want 200 %q", tc.path, rec.Code, rec.Header().Get("Content-Type"), tc.contentType)
		}
		if !strings.Contains(rec.Body.String(), tc.contains) {
			t.Errorf("%s does not contain %q", tc.path, tc.contains)
		}
	}
}

// TestLinksBetweenPagesResolve: every relative link in the pages (and the
// README) names a file that exists. (Links with a scheme have a colon and
// are not matched.)
func TestLinksBetweenPagesResolve(t *testing.T) {
	link := regexp.MustCompile(`\]\(([^)#:]+)(#[^)]*)?\)`)
	pages, _ := filepath.Glob("*.md")
	pages = append(pages, "../README.md")
	for _, page := range pages {
		text, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(text), -1) {
			target := filepath.Join(filepath.Dir(page), m[1])
			if _, err := os.Stat(target); err != nil {
				t.Errorf("%s links to %s, which does not exist", page, m[1])
			}
		}
	}
}
