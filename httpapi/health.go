package httpapi

import (
	"context"
	"net/http"
	"time"
)

// serveHealth answers 200 while the process runs.
func (a *API) serveHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// serveReady answers 200 when the log answers, 503 otherwise.
func (a *API) serveReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	info, err := a.hub.Log().Info(ctx)
	if a.hub.Closed() {
		writeError(w, http.StatusServiceUnavailable, "the hub is shutting down", "")
		return
	}
	if err != nil {
		// For a shared log this is the engine being unreachable: the node
		// cannot publish and should get no new clients until it is back.
		writeError(w, http.StatusServiceUnavailable, "log not ready: "+err.Error(), "")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "epoch": info.Epoch, "lastSeq": info.Last})
}
