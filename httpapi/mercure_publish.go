package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ssehub/ssehub/hub"
)

// reservedTopic marks the topics of the hub's own updates (subscription
// events): a publisher must not be able to forge them.
const reservedTopic = MercurePath

// servePublish appends one update from a form body: topic (repeatable; the
// first is canonical, the others alternates), data, private, id, type and
// retry. It answers 200 text/plain with the update's id once the log holds
// it.
func (m *mercure) servePublish(w http.ResponseWriter, r *http.Request) {
	claims, err := m.authorize(r, publisherRole)
	if err != nil || claims == nil || claims.Mercure.Publish == nil {
		writeMercureAuthError(w, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, m.a.opts.MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", tooLarge.Limit), "")
			return
		}
		writeError(w, http.StatusBadRequest, "invalid form body: "+err.Error(), "")
		return
	}
	ev, status, err := m.update(r)
	if err != nil {
		writeError(w, status, err.Error(), "")
		return
	}
	if !m.canPublish(claims.Mercure.Publish, ev.Topics) {
		writeMercureAuthError(w, errors.New("this token may not publish to these topics"))
		return
	}
	ids, err := m.a.hub.Publish(r.Context(), ev)
	if err != nil {
		m.a.writeHubError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, ids[0])
}

// update reads the form of a publish request into an event, or says what
// is wrong with it and the status to answer.
func (m *mercure) update(r *http.Request) (hub.Event, int, error) {
	f := r.PostForm
	ev := hub.Event{
		Topics:  f["topic"],
		Data:    f.Get("data"),
		ID:      f.Get("id"),
		Type:    f.Get("type"),
		Private: len(f["private"]) > 0, // any value, as Mercure reads it
	}
	if len(ev.Topics) == 0 {
		return ev, http.StatusBadRequest, errors.New(`missing "topic" parameter`)
	}
	// Subscribers decode the stream as UTF-8: invalid bytes would arrive
	// changed, so they are refused, as the native door's JSON cannot
	// carry them either.
	for name, values := range f {
		for _, v := range values {
			if !utf8.ValidString(v) {
				return ev, http.StatusBadRequest, fmt.Errorf("%q is not valid UTF-8", name)
			}
		}
	}
	if len(ev.Topics) > hub.MaxTopics {
		return ev, http.StatusBadRequest, fmt.Errorf("%d topics, at most %d allowed", len(ev.Topics), hub.MaxTopics)
	}
	for _, t := range ev.Topics {
		if strings.Contains(t, reservedTopic) {
			return ev, http.StatusForbidden, fmt.Errorf("topic %q is in the hub's reserved %s namespace", t, reservedTopic)
		}
	}
	if s := f.Get("retry"); s != "" {
		ms, err := strconv.ParseUint(s, 10, 63)
		if err != nil || ms > uint64(time.Duration(1<<63-1)/time.Millisecond) {
			return ev, http.StatusBadRequest, errors.New(`"retry" must be a number of milliseconds`)
		}
		ev.Retry = time.Duration(ms) * time.Millisecond
	}
	// The hub checks the rest (CR, LF or NUL in id and type, sizes) and
	// answers 400 through writeHubError.
	return ev, 0, nil
}

// canPublish reports whether selectors allow every topic: "*" allows any.
func (m *mercure) canPublish(selectors, topics []string) bool {
	for _, sel := range selectors {
		if sel == "*" {
			return true
		}
	}
	for _, t := range topics {
		if !m.a.allowed(selectors, t) {
			return false
		}
	}
	return true
}
