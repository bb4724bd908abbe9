package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// POST /events carries the subscription in its body, for selector lists
// longer than a URL may be. Its names are the query's: "topic" (repeated in
// a form, a string or an array of strings in JSON) and "lastEventID".

// streamAsk is what a stream asks for, from its query or its body.
type streamAsk struct {
	topics      []string
	lastEventID string
}

// Reasons of the answers to a subscription body the hub cannot read.
const (
	ReasonUnsupportedMediaType = "unsupported-media-type"
	formType                   = "application/x-www-form-urlencoded"
	jsonType                   = "application/json"
)

// bodySubscription reads the subscription of a POST /events: its body
// within MaxBodyBytes and BodyReadTimeout, as a publish body is read.
func (a *API) bodySubscription(w http.ResponseWriter, r *http.Request) (streamAsk, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return streamAsk{}, fmt.Errorf("malformed query: %v", err)
	}
	if q.Has("topic") || q.Has("lastEventID") {
		// Merging the two would leave a client unsure which one counted.
		return streamAsk{}, errors.New("a POST subscription carries topic and lastEventID in its body, not in the URL")
	}
	body, err := a.readBody(w, r)
	if err != nil {
		return streamAsk{}, err
	}
	return decodeSubscription(r.Header.Get("Content-Type"), body, a.opts.MaxSelectors)
}

// decodeSubscription reads a subscription body of the given media type.
// Selectors over maxSelectors are answered 413 (a body, unlike a URL, is
// not "too long" for 414).
func decodeSubscription(contentType string, body []byte, maxSelectors int) (streamAsk, error) {
	mt, err := mediaType(contentType)
	if err != nil {
		return streamAsk{}, err
	}
	if !utf8.Valid(body) {
		// A form's escapes are checked once decoded, below.
		return streamAsk{}, errors.New("the body is not valid UTF-8")
	}
	var s streamAsk
	if mt == jsonType {
		s, err = subscriptionJSON(body)
	} else {
		s, err = subscriptionForm(body)
	}
	if err != nil {
		return streamAsk{}, err
	}
	if n := len(s.topics); n > maxSelectors {
		return streamAsk{}, tooLarge(ReasonTooManySelectors, "%d topic selectors, at most %d allowed", n, maxSelectors)
	}
	for _, t := range s.topics {
		if !utf8.ValidString(t) {
			return streamAsk{}, fmt.Errorf("topic selector %q is not valid UTF-8", t)
		}
	}
	if !utf8.ValidString(s.lastEventID) {
		return streamAsk{}, errors.New("lastEventID is not valid UTF-8")
	}
	return s, nil
}

// mediaType returns the body's media type if the hub reads it: JSON or a
// form, in UTF-8.
func mediaType(contentType string) (string, error) {
	unsupported := &limitError{status: http.StatusUnsupportedMediaType, reason: ReasonUnsupportedMediaType,
		msg: "send the subscription as " + jsonType + " or " + formType + " (in UTF-8)"}
	if contentType == "" {
		return "", unsupported
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || (mt != jsonType && mt != formType) {
		return "", unsupported
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return "", unsupported
	}
	return mt, nil
}

// subscriptionForm reads topic=…&topic=…&lastEventID=…, the query's twin.
func subscriptionForm(body []byte) (streamAsk, error) {
	f, err := url.ParseQuery(string(body))
	if err != nil {
		return streamAsk{}, fmt.Errorf("malformed form body: %v", err)
	}
	for k := range f {
		if k != "topic" && k != "lastEventID" {
			return streamAsk{}, fmt.Errorf("unknown field %q: a subscription has topic and lastEventID", k)
		}
	}
	if len(f["lastEventID"]) > 1 {
		return streamAsk{}, errors.New("lastEventID given more than once")
	}
	return streamAsk{topics: f["topic"], lastEventID: f.Get("lastEventID")}, nil
}

// subscriptionJSON reads {"topic": [...], "lastEventID": "..."}. It walks
// the tokens instead of decoding into a struct: encoding/json matches keys
// regardless of case and lets a repeated key replace the first, so a
// "lastEventId" or a second "topic" would pass unnoticed.
func subscriptionJSON(body []byte) (streamAsk, error) {
	var s streamAsk
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return s, errors.New(`the body must be a JSON object: {"topic": [...], "lastEventID": "..."}`)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return s, fmt.Errorf("invalid JSON: %v", err)
		}
		key, _ := tok.(string) // inside an object, the decoder gives only string keys
		if seen[key] {
			return s, fmt.Errorf("field %q given more than once", key)
		}
		seen[key] = true
		if err := s.setJSON(dec, key); err != nil {
			return s, err
		}
	}
	if _, err := dec.Token(); err != nil {
		return s, fmt.Errorf("invalid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return s, errors.New("trailing data after the JSON object")
	}
	return s, nil
}

// setJSON reads the value of field key.
func (s *streamAsk) setJSON(dec *json.Decoder, key string) error {
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return fmt.Errorf("invalid JSON: %v", err)
	}
	switch key {
	case "topic":
		if raw[0] == '"' {
			s.topics = make([]string, 1)
			return json.Unmarshal(raw, &s.topics[0])
		}
		if raw[0] != '[' || json.Unmarshal(raw, &s.topics) != nil {
			return errors.New(`"topic" must be a string or an array of strings`)
		}
	case "lastEventID":
		if raw[0] != '"' {
			return errors.New(`"lastEventID" must be a string`)
		}
		return json.Unmarshal(raw, &s.lastEventID)
	case "topics":
		return errors.New(`unknown field "topics": the selectors go in "topic", as in the query`)
	default:
		return fmt.Errorf("unknown field %q: a subscription has \"topic\" and \"lastEventID\"", key)
	}
	return nil
}
