package httpapi

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
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
	if le := m.a.limitPublishAddr(r); le != nil {
		writeLimit(w, le)
		return
	}
	claims, token, err := m.authorize(r, publisherRole)
	if err != nil || claims == nil || claims.Mercure.Publish == nil {
		writeMercureAuthError(w, err)
		return
	}
	if le := m.a.limitPublishToken(token); le != nil {
		writeLimit(w, le)
		return
	}
	form, err := m.readForm(w, r)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	ev, status, err := m.update(form)
	if err != nil {
		writeError(w, status, err.Error(), "")
		return
	}
	if err := m.a.checkLimits(&ev); err != nil {
		writeRequestError(w, err)
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

// readForm reads a publish body within the API's body limits and parses
// it as a form. Like Mercure, only a form-encoded body is read: another
// content type leaves the form empty, and so without a topic.
func (m *mercure) readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	body, err := m.a.readBody(w, r)
	if err != nil {
		return nil, err
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" {
		return url.Values{}, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("invalid form body: %v", err)
	}
	return form, nil
}

// update reads the form of a publish request into an event, or says what
// is wrong with it and the status to answer.
func (m *mercure) update(f url.Values) (hub.Event, int, error) {
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
