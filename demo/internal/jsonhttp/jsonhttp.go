// Package jsonhttp holds the few helpers the demo endpoints share: JSON
// answers, JSON errors shaped like the hub's ({"error": …}), and request
// bodies read from JSON or from a form.
package jsonhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// MaxBody limits a demo request body.
const MaxBody = 64 << 10

// Write answers v as JSON with status.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// Error answers {"error": msg} with status.
func Error(w http.ResponseWriter, status int, msg string) {
	Write(w, status, map[string]string{"error": msg})
}

// Decode reads the request body into v: JSON by default, or a form
// (application/x-www-form-urlencoded) whose fields are copied into v's
// string fields by their JSON names. Unknown JSON fields are refused;
// unknown form fields are ignored, as browsers send every field of a form.
func Decode(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return fmt.Errorf("reading the body: %w", err)
	}
	if len(body) > MaxBody {
		return fmt.Errorf("body larger than %d bytes", MaxBody)
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" {
		return decodeForm(body, v)
	}
	if len(body) == 0 {
		return errors.New("empty body: send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON: %v", err)
	}
	if dec.More() {
		return errors.New("invalid JSON: trailing data after the object")
	}
	return nil
}

// decodeForm turns a form into a JSON object of strings and decodes that,
// so one struct with JSON tags serves both kinds of body.
func decodeForm(body []byte, v any) error {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return fmt.Errorf("invalid form: %v", err)
	}
	m := make(map[string]string, len(vals))
	for k := range vals {
		m[k] = vals.Get(k)
	}
	raw, _ := json.Marshal(m)
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("invalid form: %v", err)
	}
	return nil
}
