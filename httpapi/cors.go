package httpapi

import (
	"net/http"
	"slices"
)

// cors answers preflight requests and marks responses readable by the
// allowed origins. Credentials are allowed, so the allowed origin is echoed
// (a "*" answer would make browsers refuse credentialed requests).
func (a *API) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && a.originAllowed(origin) {
			h := w.Header()
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			if r.Method == http.MethodOptions {
				h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID, Cache-Control")
				h.Set("Access-Control-Max-Age", "600")
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (a *API) originAllowed(origin string) bool {
	return slices.Contains(a.opts.CORSOrigins, "*") || slices.Contains(a.opts.CORSOrigins, origin)
}
