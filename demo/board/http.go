package board

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/ssehub/ssehub/demo/internal/jsonhttp"
)

// Handler serves the board's API under /demo/board.
type Handler struct {
	b   *Board
	log *slog.Logger
	// publicURL, when set, is the base of the claim URLs in QR codes;
	// otherwise they are built from the request's Host.
	publicURL string
}

// NewHandler returns the HTTP API of b. publicURL may be empty.
func NewHandler(b *Board, log *slog.Logger, publicURL string) *Handler {
	return &Handler{b: b, log: log, publicURL: strings.TrimSuffix(publicURL, "/")}
}

// Register adds the board's routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /demo/board/tasks", h.serveTasks)
	mux.HandleFunc("GET /demo/board/tasks/{id}", h.serveTask)
	mux.HandleFunc("POST /demo/board/tasks/{id}/claim", h.serveClaim)
	mux.HandleFunc("GET /demo/board/tasks/{id}/qr.svg", h.serveQR)
	mux.HandleFunc("POST /demo/board/reset", h.serveReset)
	mux.HandleFunc("POST /demo/board/start", h.serveStart)
}

func (h *Handler) serveTasks(w http.ResponseWriter, r *http.Request) {
	jsonhttp.Write(w, http.StatusOK, h.b.Snapshot())
}

func (h *Handler) serveTask(w http.ResponseWriter, r *http.Request) {
	t, err := h.b.Task(r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, struct {
		Task
		ClaimURL string `json:"claimUrl"`
	}{t, h.claimURL(r, t.ID)})
}

func (h *Handler) serveClaim(w http.ResponseWriter, r *http.Request) {
	var req struct {
		By string `json:"by"`
	}
	if err := jsonhttp.Decode(r, &req); err != nil {
		jsonhttp.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	t, err := h.b.Claim(r.Context(), r.PathValue("id"), req.By)
	if errors.Is(err, ErrClaimed) {
		jsonhttp.Write(w, http.StatusConflict, struct {
			Error string `json:"error"`
			Task  Task   `json:"task"`
		}{"task " + t.ID + " was already claimed by " + t.ClaimedBy, t})
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, map[string]Task{"task": t})
}

func (h *Handler) serveReset(w http.ResponseWriter, r *http.Request) {
	st, err := h.b.Reset(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, st)
}

func (h *Handler) serveStart(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Client string `json:"client"`
	}
	if err := jsonhttp.Decode(r, &req); err != nil {
		jsonhttp.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	id, err := h.b.Start(r.Context(), req.Client)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, map[string]string{"id": id, "topic": ClientTopicPrefix + req.Client})
}

func (h *Handler) serveQR(w http.ResponseWriter, r *http.Request) {
	t, err := h.b.Task(r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	svg, err := QRSVG(h.claimURL(r, t.ID))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(svg)
}

// claimURL is the address a phone opens to claim a task: on the host the
// board was reached at, so a board opened at http://192.168.1.20:8080 shows
// codes a phone on the same network can open.
func (h *Handler) claimURL(r *http.Request, id string) string {
	base := h.publicURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + "/demo/board/claim/" + url.PathEscape(id)
}

// fail answers err with the status that says whose fault it is.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrNoTask):
		jsonhttp.Error(w, http.StatusNotFound, "no task "+r.PathValue("id"))
	case errors.Is(err, ErrInvalidName), errors.Is(err, ErrInvalidNonce):
		jsonhttp.Error(w, http.StatusBadRequest, err.Error())
	default:
		h.log.Error("board demo", "path", r.URL.Path, "err", err)
		jsonhttp.Error(w, http.StatusBadGateway, err.Error())
	}
}
