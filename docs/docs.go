// Package docs embeds this folder's documentation so that the hub serves
// it at /docs/, next to the dashboard, with no network access needed.
package docs

import (
	"embed"
	"net/http"
	"strings"
)

//go:embed *.md *.yaml screenshots/*.png
var files embed.FS

// Handler serves the documentation: GET /docs/ lists it, /docs/NAME.md
// shows a page as plain text (readable in any browser), as does
// /docs/openapi.yaml; screenshots are PNG.
// Mount it with http.StripPrefix("/docs", docs.Handler()).
func Handler() http.Handler {
	fs := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".md") || strings.HasSuffix(r.URL.Path, ".yaml") {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fs.ServeHTTP(w, r)
	})
}
