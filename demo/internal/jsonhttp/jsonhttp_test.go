package jsonhttp

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzDecode: any body, as JSON or as a form, is decoded or refused with
// an error, never a panic.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"name":"a"}`, `{"name":1}`, `name=a&x=y`, `%zz`, `{"name":"a"} x`, ``, `[`} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, body string, form bool) {
		r, _ := http.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		if form {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		var v struct {
			Name string `json:"name"`
		}
		_ = Decode(r, &v)
	})
}
