package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/hub"
)

// publishRequest is one event in a POST /publish body.
type publishRequest struct {
	Topics  []string        `json:"topics"`
	Topic   string          `json:"topic"`
	Data    json.RawMessage `json:"data"`
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Retry   int64           `json:"retry"`
	Private bool            `json:"private"`
}

// servePublish appends one event (a JSON object) or a batch (a JSON array)
// and answers {"id": …} or {"ids": […]} once the log holds them.
func (a *API) servePublish(w http.ResponseWriter, r *http.Request) {
	if le := a.limitPublishAddr(r); le != nil {
		writeLimit(w, le)
		return
	}
	claims := a.publisherClaims(w, r)
	if claims == nil {
		return
	}
	token, _ := auth.FromRequest(r)
	if le := a.limitPublishToken(token); le != nil {
		writeLimit(w, le)
		return
	}
	body, err := a.readBody(w, r)
	if err != nil {
		if le := (*limitError)(nil); errors.As(err, &le) {
			writeLimit(w, le)
			return
		}
		// A body that broke off or was framed wrongly (a bad chunk). A
		// client that went away reads no answer; one still there must not
		// take silence for success.
		writeError(w, http.StatusBadRequest, "the body could not be read: "+err.Error(), "")
		return
	}
	events, batch, err := a.decodePublish(body)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	if err := a.authorizePublish(claims, events); err != nil {
		writeError(w, http.StatusForbidden, err.Error(), "")
		return
	}
	ids, err := a.hub.Publish(r.Context(), events...)
	if err != nil {
		a.writeHubError(w, r, err)
		return
	}
	// Structs, not maps: the encoder sorts a map's keys, which allocates
	// on every publish.
	if batch {
		writeJSON(w, http.StatusOK, struct {
			IDs []string `json:"ids"`
		}{ids})
		return
	}
	writeJSON(w, http.StatusOK, struct {
		ID string `json:"id"`
	}{ids[0]})
}

// decodePublish reads a publish body: one JSON object or an array of them.
// Unknown fields are refused, so a misspelt field fails loudly instead of
// being dropped. A body over one of the limits is answered with a
// *limitError.
func (a *API) decodePublish(body []byte) (events []hub.Event, batch bool, err error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, false, errors.New("empty body: send a JSON object or an array of them")
	}
	if !utf8.Valid(body) {
		// JSON is UTF-8 (RFC 8259); encoding/json would quietly turn
		// the bad bytes into U+FFFD instead.
		return nil, false, errors.New("the body is not valid UTF-8")
	}
	var reqs []publishRequest
	if body[0] == '[' {
		batch = true
		err = strictUnmarshal(body, &reqs)
	} else if req, ok := decodeSimple(body); ok {
		reqs = []publishRequest{req}
	} else {
		reqs = make([]publishRequest, 1)
		err = strictUnmarshal(body, &reqs[0])
	}
	if err != nil {
		return nil, batch, fmt.Errorf("invalid JSON: %v", err)
	}
	if len(reqs) == 0 {
		return nil, batch, errors.New("an empty batch: send 1 or more events")
	}
	if len(reqs) > a.opts.MaxBatch {
		return nil, batch, tooLarge(ReasonBatchTooLarge, "a batch of %d events, at most %d allowed", len(reqs), a.opts.MaxBatch)
	}
	events = make([]hub.Event, len(reqs))
	for i, req := range reqs {
		if events[i], err = req.event(); err == nil {
			err = a.checkLimits(&events[i])
		}
		if err != nil {
			if le := (*limitError)(nil); batch && errors.As(err, &le) {
				le.msg = fmt.Sprintf("event %d: %s", i, le.msg)
			} else if batch {
				err = fmt.Errorf("event %d: %w", i, err)
			}
			return nil, batch, err
		}
	}
	return events, batch, nil
}

// checkLimits answers an event over a size limit with 413, before the hub
// would refuse it as invalid.
func (a *API) checkLimits(ev *hub.Event) error {
	if n := len(ev.Topics); n > a.opts.MaxTopics {
		return tooLarge(ReasonTooManyTopics, "%d topics, at most %d allowed per event", n, a.opts.MaxTopics)
	}
	if n := len(ev.Data); n > a.opts.MaxDataBytes {
		return tooLarge(ReasonDataTooLarge, "data of %d bytes, at most %d allowed", n, a.opts.MaxDataBytes)
	}
	return nil
}

func strictUnmarshal(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// maxRetryMillis is the largest retry a time.Duration holds, in
// milliseconds: a larger one would wrap around to a tiny or negative delay.
const maxRetryMillis = int64(time.Duration(1<<63-1) / time.Millisecond)

// event turns a request into an event. Data may be a JSON string (sent as
// its text) or any other JSON value (sent as compact JSON).
func (p *publishRequest) event() (hub.Event, error) {
	ev := hub.Event{Topics: p.Topics, Type: p.Type, ID: p.ID, Private: p.Private}
	if p.Topic != "" {
		ev.Topics = append([]string{p.Topic}, ev.Topics...)
	}
	if p.Retry < 0 {
		return ev, errors.New("retry must not be negative")
	}
	if p.Retry > maxRetryMillis {
		return ev, fmt.Errorf("retry must be at most %d milliseconds", maxRetryMillis)
	}
	ev.Retry = time.Duration(p.Retry) * time.Millisecond
	switch {
	case len(p.Data) == 0 || string(p.Data) == "null":
	case p.Data[0] == '"':
		s, err := jsonString(p.Data)
		if err != nil {
			return ev, fmt.Errorf("data: %v", err)
		}
		ev.Data = s
	default:
		var buf bytes.Buffer
		if err := json.Compact(&buf, p.Data); err != nil {
			return ev, fmt.Errorf("data: %v", err)
		}
		ev.Data = buf.String()
	}
	return ev, nil
}

// jsonString returns the text of a JSON string literal. Most data holds
// no escape, and its text is then the bytes between the quotes, taken
// without the decoder's allocations; the rest goes through encoding/json,
// which also replaces invalid UTF-8 as the fast path would not.
func jsonString(raw []byte) (string, error) {
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' {
		inner := raw[1 : n-1]
		if bytes.IndexByte(inner, '\\') < 0 && bytes.IndexByte(inner, '"') < 0 && noControl(inner) && utf8.Valid(inner) {
			return string(inner), nil
		}
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// noControl reports whether b holds no byte below 0x20, which a JSON
// string may not hold unescaped.
func noControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return false
		}
	}
	return true
}

// verify checks a token with v; without a verifier every token fails.
func verify(ctx context.Context, v *auth.Verifier, token string) (*auth.Claims, error) {
	if token == "" {
		return nil, auth.ErrNoToken
	}
	if v == nil {
		return nil, fmt.Errorf("%w: this hub has no key configured", auth.ErrInvalidToken)
	}
	return v.Verify(ctx, token)
}

func (a *API) publishers() *auth.Verifier {
	if a.opts.Publishers != nil {
		return a.opts.Publishers
	}
	return a.opts.Verifier
}

func (a *API) subscribers() *auth.Verifier {
	if a.opts.Subscribers != nil {
		return a.opts.Subscribers
	}
	return a.opts.Verifier
}

// publisherClaims returns the claims of a publish request's token, or
// answers the request (401, 403) and returns nil. The token comes from the
// Authorization header or the mercureAuthorization cookie; a cookie counts
// only on a request from an origin in PublishOrigins, since any page can
// make a browser send it (CSRF). A token in the URL is refused: URLs end
// up in logs, and publishing needs no EventSource.
func (a *API) publisherClaims(w http.ResponseWriter, r *http.Request) *auth.Claims {
	token, from := auth.FromRequest(r)
	switch from {
	case auth.FromQuery:
		writeAuthError(w, fmt.Errorf("%w: a publisher token goes in the Authorization header, not in the URL", auth.ErrInvalidToken))
		return nil
	case auth.FromCookie:
		if !a.cookieOriginAllowed(r) {
			writeError(w, http.StatusForbidden, "a publish authorised by the "+auth.CookieName+
				" cookie must come from an origin listed in the hub's publish origins; send the token in the Authorization header otherwise", "cross-origin-cookie")
			return nil
		}
	}
	claims, err := verify(r.Context(), a.publishers(), token)
	if err != nil {
		writeAuthError(w, err)
		return nil
	}
	return claims
}

// subscriberRights returns the claims of a reader's token, whose
// subscribe selectors are the private topics it may read: nil without a
// token. A request without a token is answered 401 when
// anonymous readers are refused, and so is one with an invalid token;
// then ok is false.
func (a *API) subscriberRights(w http.ResponseWriter, r *http.Request) (claims *auth.Claims, ok bool) {
	token, _ := auth.FromRequest(r)
	if token == "" && !a.opts.RefuseAnonymous {
		return nil, true
	}
	claims, err := verify(r.Context(), a.subscribers(), token)
	if err != nil {
		writeAuthError(w, err)
		return nil, false
	}
	return claims, true
}

// authorizePublish checks that every topic of every event is one the
// token may publish to.
func (a *API) authorizePublish(c *auth.Claims, events []hub.Event) error {
	for _, ev := range events {
		for _, t := range ev.Topics {
			if strings.Contains(t, reservedTopic) {
				// Both doors share one hub: the Mercure door's subscription
				// events must not be forged through this one either.
				return fmt.Errorf("topic %q is in the hub's reserved %s namespace", t, reservedTopic)
			}
			if !a.allowed(c.Mercure.Publish, t) {
				return fmt.Errorf("this token may not publish to topic %q", t)
			}
		}
	}
	return nil
}

func (a *API) allowed(selectors []string, topic string) bool {
	for _, raw := range selectors {
		if sel, err := a.hub.Selector(raw); err == nil && sel.Match(topic) {
			return true
		}
	}
	return false
}
