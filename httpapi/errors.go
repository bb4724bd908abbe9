package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/hub"
)

// errorBody is the JSON every error answer carries.
type errorBody struct {
	Error string `json:"error"`
	// Reason is a stable, machine-readable word for some errors
	// ("unknown-id", "expired", "duplicate-id").
	Reason string `json:"reason,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg, reason string) {
	writeJSON(w, status, errorBody{Error: msg, Reason: reason})
}

// writeHubError answers err with the status that tells the client whose
// fault it is: 4xx for what the request can fix, 503 for what the hub
// cannot do now. Nothing the client sends leads to a 500.
func (a *API) writeHubError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, hub.ErrDuplicateID):
		writeError(w, http.StatusConflict, err.Error(), "duplicate-id")
	case errors.Is(err, hub.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error(), hub.ResetUnknownID)
	case errors.Is(err, hub.ErrTrimmed):
		writeError(w, http.StatusGone, err.Error(), hub.ResetExpired)
	case hub.IsClientError(err):
		writeError(w, http.StatusBadRequest, err.Error(), "")
	case errors.Is(err, r.Context().Err()) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
	default:
		a.opts.Logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "the hub cannot serve this now: "+err.Error(), "")
	}
}

// writeAuthError answers a request whose token is missing or invalid.
func writeAuthError(w http.ResponseWriter, err error) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="ssehub"`)
	msg := "a valid bearer token is required"
	if !errors.Is(err, auth.ErrNoToken) {
		msg = err.Error()
	}
	writeError(w, http.StatusUnauthorized, msg, "")
}
