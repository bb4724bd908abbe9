package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/ssehub/ssehub/hub"
)

// StreamFigures are the event loop's own measurements (zero where streams
// are served with a goroutine each).
type StreamFigures struct {
	Looped        int   // streams the event loop holds now
	Blocked       int   // of them, those waiting for their socket to drain
	WriteTimeouts int64 // streams the loop closed because their client took nothing for WriteTimeout
}

// StreamFigures reads the event loop's figures.
func (a *API) StreamFigures() StreamFigures {
	f := a.streams.LoopFigures()
	return StreamFigures{Looped: f.Streams, Blocked: f.Blocked, WriteTimeouts: f.WriteTimeouts}
}

// Admin returns the JSON admin API, for the private admin listener. Every
// request must carry token as "Authorization: Bearer TOKEN"; an empty
// token turns the API off (404), so it is never open by mistake.
//
//	GET    /api/admin/topics              selectors with their subscriber counts
//	GET    /api/admin/subscribers         open subscriptions
//	DELETE /api/admin/subscribers/{id}    disconnect one (its client resumes)
//	GET    /api/admin/log                 the log's extent
//	POST   /api/admin/log/trim            {"through": ID} or {"keep": N}
func (a *API) Admin(token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/admin/topics", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"topics": a.hub.Topics()})
	})
	mux.HandleFunc("GET /api/admin/subscribers", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"subscribers": a.hub.Subscribers()})
	})
	mux.HandleFunc("DELETE /api/admin/subscribers/{id}", a.adminDisconnect)
	mux.HandleFunc("GET /api/admin/log", a.adminLog)
	mux.HandleFunc("POST /api/admin/log/trim", a.adminTrim)
	mux.HandleFunc("/api/admin/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such admin resource or method: "+r.Method+" "+r.URL.Path, "")
	})
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" {
			writeError(w, http.StatusNotFound, "the admin API is off: start the hub with --admin-token-file", "")
			return
		}
		// Hashing both sides first makes the comparison's time independent
		// of the token's length as well as of its content.
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ssehub admin"`)
			writeError(w, http.StatusUnauthorized, "the admin token is required", "")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (a *API) adminDisconnect(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "a subscriber id is a decimal number", "")
		return
	}
	if !a.hub.Disconnect(id) {
		writeError(w, http.StatusNotFound, "no open subscription with id "+r.PathValue("id"), "")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// logView is the log's extent as the admin API shows it.
type logView struct {
	Epoch    string `json:"epoch"`
	Events   int64  `json:"events"`
	Bytes    int64  `json:"bytes"`
	FirstID  string `json:"firstId"` // the oldest retained event's id, empty when none
	LastID   string `json:"lastId"`  // the newest event's position
	Trimming bool   `json:"trimming"`
}

func (a *API) logView(ctx context.Context) (logView, error) {
	info, err := a.hub.Log().Info(ctx)
	if err != nil {
		return logView{}, err
	}
	_, trims := a.hub.Log().(hub.Trimmer)
	v := logView{Epoch: info.Epoch, Events: info.Events, Bytes: info.Bytes, Trimming: trims,
		LastID: hub.FormatID(info.Epoch, info.Last)}
	if info.Events > 0 {
		v.FirstID = hub.FormatID(info.Epoch, info.First)
	}
	return v, nil
}

func (a *API) adminLog(w http.ResponseWriter, r *http.Request) {
	v, err := a.logView(r.Context())
	if err != nil {
		a.writeHubError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *API) adminTrim(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Through *string `json:"through"`
		Keep    *int64  `json:"keep"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "the body is JSON: {\"through\": ID} or {\"keep\": N}: "+err.Error(), "")
		return
	}
	var removed int64
	var err error
	switch {
	case (req.Through == nil) == (req.Keep == nil):
		writeError(w, http.StatusBadRequest, "give exactly one of \"through\" (an event id) and \"keep\" (a count)", "")
		return
	case req.Through != nil:
		removed, err = a.hub.TrimThrough(r.Context(), *req.Through)
	case *req.Keep < 0:
		writeError(w, http.StatusBadRequest, "\"keep\" is a count, at least 0", "")
		return
	default:
		removed, err = a.hub.TrimKeep(r.Context(), *req.Keep)
	}
	if errors.Is(err, hub.ErrTrimUnsupported) {
		writeError(w, http.StatusNotImplemented, err.Error(), "")
		return
	}
	if err != nil {
		a.writeHubError(w, r, err)
		return
	}
	v, err := a.logView(r.Context())
	if err != nil {
		a.writeHubError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"removed": removed, "log": v})
}
