package auth

import (
	"net/http"
	"strings"
)

// Source says where a request carried its token. Front doors decide per
// source what they accept: a cookie is sent by the browser on its own, so a
// state-changing request authorised by one needs an Origin check (CSRF),
// and a query parameter ends up in access logs.
type Source int

const (
	// NoToken: the request carried no token.
	NoToken Source = iota
	// FromHeader: the Authorization header, scheme Bearer.
	FromHeader
	// FromCookie: the mercureAuthorization cookie.
	FromCookie
	// FromQuery: the authorization query parameter, for EventSource
	// clients that can neither set a header nor share a cookie.
	FromQuery
)

func (s Source) String() string {
	switch s {
	case FromHeader:
		return "Authorization header"
	case FromCookie:
		return CookieName + " cookie"
	case FromQuery:
		return QueryParam + " query parameter"
	}
	return "none"
}

// CookieName and QueryParam are where Mercure clients put their token.
const (
	CookieName = "mercureAuthorization"
	QueryParam = "authorization"
)

// FromRequest returns the token of an HTTP request and where it was found.
// The Authorization header comes first, then the authorization query
// parameter, then the cookie: a token the client chose to send wins over
// one its browser attached. An Authorization header with another scheme
// than Bearer is returned as an empty token from the header, so the caller
// answers 401 rather than falling back to a cookie.
func FromRequest(r *http.Request) (token string, from Source) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token), FromHeader
		}
		return "", FromHeader
	}
	if q := r.URL.Query(); q.Has(QueryParam) {
		return q.Get(QueryParam), FromQuery
	}
	if c, err := r.Cookie(CookieName); err == nil {
		return c.Value, FromCookie
	}
	return "", NoToken
}
