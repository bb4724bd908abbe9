package httpapi

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/sse"
)

// serveEvents streams events: GET /events?topic=SEL[&topic=SEL…], resuming
// after the Last-Event-ID header or the lastEventID query parameter.
func (a *API) serveEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := hub.SubscribeRequest{Topics: q["topic"], LastEventID: r.Header.Get("Last-Event-ID")}
	if req.LastEventID == "" {
		req.LastEventID = q.Get("lastEventID")
	}
	if !sse.ValidID(req.LastEventID) {
		writeError(w, http.StatusBadRequest, "Last-Event-ID must not contain CR, LF or NUL", "")
		return
	}
	var ok bool
	if req.Allowed, ok = a.subscriberRights(w, r); !ok {
		return
	}
	sub, err := a.hub.Subscribe(r.Context(), req)
	if err != nil {
		a.writeHubError(w, r, err)
		return
	}
	defer sub.Close()
	a.stream(w, r, sub)
}

// stream writes the subscription to the response until either ends.
func (a *API) stream(w http.ResponseWriter, r *http.Request, sub *hub.Subscription) {
	rc := startStream(w, r)
	// The first bytes go out at once, so the client's onopen fires now.
	prelude := []byte(":\n")
	if a.opts.Retry > 0 {
		prelude = sse.AppendRetry(prelude, a.opts.Retry)
	}
	if a.write(rc, w, [][]byte{prelude}) != nil {
		return
	}
	var frames [][]byte
	for {
		var err error
		frames, err = sub.Next(r.Context(), frames)
		if len(frames) > 0 && a.write(rc, w, frames) != nil {
			return
		}
		if err != nil {
			a.endStream(rc, w, err)
			return
		}
	}
}

// startStream sends the headers of an event stream (proxies must neither
// cache nor buffer it) and returns the controller for flushing it.
func startStream(w http.ResponseWriter, r *http.Request) *http.ResponseController {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	if r.ProtoMajor == 1 {
		h.Set("Connection", "keep-alive")
	}
	w.WriteHeader(http.StatusOK)
	return http.NewResponseController(w)
}

// write sends frames with one flush, within the write timeout.
func (a *API) write(rc *http.ResponseController, w http.ResponseWriter, frames [][]byte) error {
	_ = rc.SetWriteDeadline(time.Now().Add(a.opts.WriteTimeout))
	for _, f := range frames {
		if _, err := w.Write(f); err != nil {
			return err
		}
	}
	return rc.Flush()
}

// endStream tells the client why its stream ends, where it helps.
func (a *API) endStream(rc *http.ResponseController, w http.ResponseWriter, err error) {
	if errors.Is(err, hub.ErrHubClosed) {
		// Spread the reconnections of a restart over ShutdownJitter.
		d := a.opts.ShutdownRetry + rand.N(a.opts.ShutdownJitter)
		_ = a.write(rc, w, [][]byte{append(sse.AppendRetry(nil, d), '\n')})
		return
	}
	if errors.Is(err, hub.ErrSlowSubscriber) || errors.Is(err, hub.ErrLagged) {
		a.opts.Logger.Info("stream ended by the hub; the client resumes from its last event id", "err", err)
	}
}
