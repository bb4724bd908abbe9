package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const waitLimit = 10 * time.Second

// callback is one request the service made to the harness's callback URL.
type callback struct {
	path string
	msg  callbackMessage
}

// fakeHarness plays the test harness: a stream endpoint that sends one
// comment and one event, and a callback endpoint that records what the
// service reports.
func fakeHarness(t *testing.T) (streamURL, callbackURL string, callbacks <-chan callback) {
	t.Helper()
	stream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, ":hi\nid: 1\nevent: greeting\ndata: "+r.Header.Get("X-Test")+"\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(stream.Close)
	received := make(chan callback, 16)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m callbackMessage
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			t.Errorf("callback body: %v", err)
		}
		received <- callback{r.URL.Path, m}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(cb.Close)
	return stream.URL, cb.URL + "/endpoints/7", received
}

func do(t *testing.T, method, url, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func receive(t *testing.T, c <-chan callback) callback {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("no callback within %v", waitLimit)
		panic("unreachable")
	}
}

func TestServiceCreateReportCommandAndClose(t *testing.T) {
	svc := newService(slog.New(slog.DiscardHandler))
	api := httptest.NewServer(svc.routes())
	defer api.Close()
	streamURL, callbackURL, callbacks := fakeHarness(t)

	status := do(t, http.MethodGet, api.URL, "")
	var info struct{ Capabilities []string }
	if err := json.NewDecoder(status.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"comments", "headers", "last-event-id", "post", "report", "read-timeout", "restart", "bom"} {
		if !slices.Contains(info.Capabilities, c) {
			t.Errorf("capability %q not declared in %v", c, info.Capabilities)
		}
	}

	params, _ := json.Marshal(map[string]any{
		"streamUrl": streamURL, "callbackUrl": callbackURL, "tag": "loopback",
		"headers": map[string]string{"x-test": "hello"}, "initialDelayMs": 0,
	})
	created := do(t, http.MethodPost, api.URL, string(params))
	location := created.Header.Get("Location")
	if created.StatusCode/100 != 2 || location == "" {
		t.Fatalf("create: %s, Location %q", created.Status, location)
	}

	want := []callback{
		{"/endpoints/7/1", callbackMessage{Kind: "comment", Comment: "hi"}},
		{"/endpoints/7/2", callbackMessage{Kind: "event", Event: &eventMessage{Type: "greeting", Data: "hello", ID: "1"}}},
	}
	for _, w := range want {
		got := receive(t, callbacks)
		if got.path != w.path || got.msg.Kind != w.msg.Kind || got.msg.Comment != w.msg.Comment ||
			(w.msg.Event != nil && (got.msg.Event == nil || *got.msg.Event != *w.msg.Event)) {
			t.Errorf("callback %s %+v, want %s %+v", got.path, got.msg, w.path, w.msg)
		}
	}

	// A restart reconnects silently: the next callbacks come from the new
	// connection, numbered on.
	if resp := do(t, http.MethodPost, api.URL+location, `{"command":"restart"}`); resp.StatusCode/100 != 2 {
		t.Errorf("restart: %s", resp.Status)
	}
	if got := receive(t, callbacks); got.path != "/endpoints/7/3" || got.msg.Kind != "comment" {
		t.Errorf("after restart: callback %s %+v, want the new connection's comment as number 3", got.path, got.msg)
	}
	if resp := do(t, http.MethodPost, api.URL+location, `{"command":"dance"}`); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown command: %s, want 400", resp.Status)
	}

	if resp := do(t, http.MethodDelete, api.URL+location, ""); resp.StatusCode != http.StatusNoContent {
		t.Errorf("close: %s, want 204", resp.Status)
	}
	if resp := do(t, http.MethodDelete, api.URL+location, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("second close: %s, want 404", resp.Status)
	}
	if resp := do(t, http.MethodPost, api.URL+location, `{"command":"restart"}`); resp.StatusCode != http.StatusNotFound {
		t.Errorf("command to a closed stream: %s, want 404", resp.Status)
	}
}

func TestServiceRejectsInvalidParameters(t *testing.T) {
	api := httptest.NewServer(newService(slog.New(slog.DiscardHandler)).routes())
	defer api.Close()
	for _, body := range []string{
		`not json`,
		`{"callbackUrl":"http://127.0.0.1:1/cb"}`,
		`{"streamUrl":"http://127.0.0.1:1/s"}`,
	} {
		if resp := do(t, http.MethodPost, api.URL, body); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("create with %s: %s, want 400", body, resp.Status)
		}
	}
}

func TestRunStopsOnDelete(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- run(context.Background(), ln, slog.New(slog.DiscardHandler)) }()

	if resp := do(t, http.MethodDelete, "http://"+addr+"/", ""); resp.StatusCode != http.StatusNoContent {
		t.Errorf("DELETE /: %s", resp.Status)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("run did not return after DELETE /")
	}
	http.DefaultClient.CloseIdleConnections()
}
