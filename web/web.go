// Package web serves ssehub's pages: the dashboard at "/" and the pages of
// the demos under /demo/. They are plain HTML, CSS and JavaScript, embedded
// in the binary, with no build step and nothing loaded from another
// origin: every figure and event on them comes from the hub's own event
// streams, through the browser's EventSource or the hub's own client,
// /ssehub.js, which is served here too.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"net/http"
	"time"
)

//go:embed pages static
var files embed.FS

// Options configure the site.
type Options struct {
	// Demos serves the demo pages and links them from the dashboard. Their
	// APIs are package demo's; turn both on or off together.
	Demos bool
	// DocsURL is where the dashboard's "Docs" link points (default: the
	// project's docs folder on GitHub).
	DocsURL string
	// Admin makes "/" the admin listener's dashboard: the figures, the
	// cluster's, and the admin API's views behind a field for its token,
	// without the public page's tail and publish form (their APIs are not
	// on that listener).
	Admin bool
	// StatsElsewhere says on the public dashboard that the figures are on
	// the admin listener, instead of showing empty ones.
	StatsElsewhere bool
}

// Site serves the pages.
type Site struct {
	opts   Options
	static http.Handler
	index  []byte
	client []asset // ssehub.js and its types, served at the root
}

// asset is an embedded file served with an ETag, so a browser that cached
// it revalidates with one small request.
type asset struct {
	route, file, contentType string
	body                     []byte
	etag                     string
}

// demoPages maps each demo page's route to its file in pages/.
var demoPages = map[string]string{
	"/demo/board":            "board.html",
	"/demo/board/claim/{id}": "claim.html",
	"/demo/clock":            "clock.html",
	"/demo/stocks":           "stocks.html",
	"/demo/chat":             "chat.html",
	"/demo/monitor":          "monitor.html",
}

// New returns the site.
func New(opts Options) (*Site, error) {
	if opts.DocsURL == "" {
		opts.DocsURL = "https://github.com/ssehub/ssehub/tree/main/docs"
	}
	tpl, err := template.ParseFS(files, "pages/index.html", "pages/admin.tmpl")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := tpl.Execute(&buf, opts); err != nil {
		return nil, err
	}
	static, _ := fs.Sub(files, "static")
	site := &Site{opts: opts, static: http.StripPrefix("/static/", http.FileServerFS(static)), index: buf.Bytes()}
	for _, a := range []asset{
		{route: "/ssehub.js", file: "static/ssehub.js", contentType: "text/javascript; charset=utf-8"},
		{route: "/ssehub.d.ts", file: "static/ssehub.d.ts", contentType: "application/typescript; charset=utf-8"},
	} {
		if a.body, err = files.ReadFile(a.file); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(a.body)
		a.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
		site.client = append(site.client, a)
	}
	return site, nil
}

// Register adds the site's routes to mux: "/" (exactly), /static/, and the
// demo pages when Options.Demos is set.
func (s *Site) Register(mux *http.ServeMux) {
	mux.Handle("GET /{$}", secure(http.HandlerFunc(s.serveIndex)))
	mux.Handle("GET /static/", secure(noCache(s.static)))
	for _, a := range s.client {
		mux.Handle("GET "+a.route, secure(a))
	}
	if !s.opts.Demos {
		return
	}
	for route, file := range demoPages {
		mux.Handle("GET "+route, secure(s.page(file)))
	}
}

// Handler returns a handler serving only the site.
func (s *Site) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Register(mux)
	return mux
}

func (s *Site) serveIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(s.index)
}

func (s *Site) page(file string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := files.ReadFile("pages/" + file)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(body)
	})
}

// ServeHTTP serves the browser client to pages of any origin: a module
// script from another origin is only run when CORS allows it, and the
// file is public. Browsers keep their copy but revalidate it at every use
// against the ETag, which changes with the file (a 304 without a body when
// it has not), so pages never run an older hub's client.
func (a asset) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "public, no-cache")
	h.Set("ETag", a.etag)
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	http.ServeContent(w, r, a.route, time.Time{}, bytes.NewReader(a.body))
}

// secure sets headers that keep the pages to their own origin: the
// content security policy allows scripts, styles, images and connections
// from the hub itself only, so nothing can load from elsewhere.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// noCache makes browsers revalidate the embedded files, so a new binary's
// pages are never mixed with an old one's scripts.
func noCache(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		next.ServeHTTP(w, r)
	})
}
