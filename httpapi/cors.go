package httpapi

import (
	"net/http"
	"slices"
	"strings"
)

// Browsers and this API: which pages may read it (CORS), and which may
// make it act on a cookie's authority (CSRF).
//
// Reading (GET, HEAD, and POST /events, a subscription whose selectors
// are in the body) is governed by Options.CORSOrigins, publishing (any other
// POST) by Options.PublishOrigins. A listed origin is answered with itself
// and Access-Control-Allow-Credentials, so its pages may send cookies. "*"
// is answered with "*" and never with credentials: echoing any origin with
// credentials would let every site on the web read the hub with its
// visitors' cookies.

// corsHeaders are the request headers a preflight allows, per method.
var corsHeaders = map[string]string{
	http.MethodGet:  "Authorization, Last-Event-ID, Cache-Control",
	http.MethodHead: "Authorization, Last-Event-ID, Cache-Control",
	http.MethodPost: "Authorization, Content-Type",
}

// subscribeHeaders are those a preflight allows for POST /events: a
// subscription resumes with Last-Event-ID as a GET does.
const subscribeHeaders = "Authorization, Content-Type, Last-Event-ID, Cache-Control"

// isPublish reports whether a request with method on path publishes. POST
// /events only reads, like GET: a page allowed to subscribe may do so with
// a body, and a page allowed to publish gains nothing there.
func isPublish(method, path string) bool {
	return method == http.MethodPost && path != "/events"
}

// origins returns the allow-list that governs method on path.
func (a *API) origins(method, path string) []string {
	if isPublish(method, path) {
		return a.opts.PublishOrigins
	}
	return a.opts.CORSOrigins
}

// allowOrigin returns what Access-Control-Allow-Origin answers origin with
// for method on path ("" for nothing) and whether credentials are allowed.
func (a *API) allowOrigin(method, path, origin string) (allow string, credentials bool) {
	list := a.origins(method, path)
	switch {
	case origin == "":
		return "", false
	case slices.Contains(list, origin):
		return origin, true
	case slices.Contains(list, "*"):
		return "*", false
	}
	return "", false
}

// route registers the handlers of path, one per method, each answering
// CORS for its method, and answers the preflights of path.
func (a *API) route(mux *http.ServeMux, path string, handlers map[string]http.HandlerFunc) {
	methods := make([]string, 0, len(handlers))
	for method, h := range handlers {
		methods = append(methods, method)
		mux.Handle(method+" "+path, a.guardURL(a.cors(h)))
	}
	slices.Sort(methods)
	// Preflight only where the API is, so other paths keep their 404.
	mux.HandleFunc("OPTIONS "+path, func(w http.ResponseWriter, r *http.Request) {
		a.preflight(w, r, methods)
	})
}

// cors marks the response readable by the request's origin, if the
// method's allow-list has it.
func (a *API) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		if allow, creds := a.allowOrigin(r.Method, r.URL.Path, r.Header.Get("Origin")); allow != "" {
			h.Set("Access-Control-Allow-Origin", allow)
			if creds {
				h.Set("Access-Control-Allow-Credentials", "true")
			}
		}
		next.ServeHTTP(w, r)
	})
}

// preflight answers an OPTIONS request for a path serving methods: the
// browser may go on only if the method it asks for is served and the
// origin is in that method's allow-list. Otherwise the answer carries no
// CORS header, which the browser takes as a refusal.
func (a *API) preflight(w http.ResponseWriter, r *http.Request, methods []string) {
	h := w.Header()
	h.Add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	method := r.Header.Get("Access-Control-Request-Method")
	allow, creds := a.allowOrigin(method, r.URL.Path, r.Header.Get("Origin"))
	if allow != "" && slices.Contains(methods, method) {
		h.Set("Access-Control-Allow-Origin", allow)
		if creds {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		h.Set("Access-Control-Allow-Methods", method)
		allowHeaders := corsHeaders[method]
		if method == http.MethodPost && !isPublish(method, r.URL.Path) {
			allowHeaders = subscribeHeaders
		}
		h.Set("Access-Control-Allow-Headers", allowHeaders)
		h.Set("Access-Control-Max-Age", "600")
	}
	h.Set("Allow", strings.Join(append(slices.Clone(methods), http.MethodOptions), ", "))
	w.WriteHeader(http.StatusNoContent)
}

// cookieOriginAllowed reports whether a state-changing request authorised
// by a cookie comes from a page allowed to make it. A browser attaches the
// cookie to requests any site makes (a form posting text/plain needs no
// preflight), so the request's Origin must be listed exactly: "*" does not
// count, and a request without Origin is refused (every browser sends one
// with a POST; other clients should use the Authorization header).
func (a *API) cookieOriginAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	return origin != "" && origin != "*" && slices.Contains(a.opts.PublishOrigins, origin)
}
