package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
)

// untrimmable is a log without the Trimmer ability.
type untrimmable struct{ hub.Log }

// TestAdminTrimOnALogThatCannotTrim answers 501 with a JSON error, and the
// log view says so.
func TestAdminTrimOnALogThatCannotTrim(t *testing.T) {
	log := memory.New(memory.Options{})
	h, err := hub.New(untrimmable{log}, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(); log.Close() })
	admin := New(h, Options{}).Admin("0123456789abcdef0123")
	for _, c := range []struct{ method, path, body, want string }{
		{"POST", "/api/admin/log/trim", `{"keep":0}`, `"error"`},
		{"GET", "/api/admin/log", "", `"trimming":false`},
	} {
		req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer 0123456789abcdef0123")
		rec := httptest.NewRecorder()
		admin.ServeHTTP(rec, req)
		status := http.StatusOK
		if c.method == "POST" {
			status = http.StatusNotImplemented
		}
		if rec.Code != status || !strings.Contains(rec.Body.String(), c.want) {
			t.Errorf("%s %s: %d %s, want %d with %s", c.method, c.path, rec.Code, rec.Body, status, c.want)
		}
	}
}
