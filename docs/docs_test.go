package docs

import (
	"net/http"
	"net/http/httptest"
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
