package httpapi

import (
	"bufio"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub"
)

// postStream opens POST /events with body and headers (pairs), failing
// unless the stream opens.
func postStream(t *testing.T, base, contentType, body string, headers ...string) *bufio.Reader {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/events", strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /events: status %d", resp.StatusCode)
	}
	return bufio.NewReader(resp.Body)
}

// dataLines returns the data lines among lines.
func dataLines(lines []string) []string {
	var out []string
	for _, l := range lines {
		if d, ok := strings.CutPrefix(l, "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

// TestSubscribeByPOSTTakesMoreTopicsThanAURL: a selector list too long for
// the URL limit is refused as a GET and served as a POST body, JSON or
// form, which resumes after its lastEventID; the Last-Event-ID header wins
// over the body's id, as it wins over the query's.
func TestSubscribeByPOSTTakesMoreTopicsThanAURL(t *testing.T) {
	srv, h := newServer(t, Options{MaxURLBytes: 256})
	topics := make([]string, 40)
	for i := range topics {
		topics[i] = fmt.Sprintf("room/%02d/messages", i)
	}
	form := url.Values{"topic": topics}
	if resp, err := http.Get(srv.URL + "/events?" + form.Encode()); err != nil || resp.StatusCode != http.StatusRequestURITooLong {
		t.Fatalf("the GET of 40 topics: %v %v, want 414", resp, err)
	} else {
		resp.Body.Close()
	}
	var ids []string
	for i, topic := range []string{topics[0], topics[39], topics[20]} {
		id, err := h.Publish(t.Context(), hub.Event{Topics: []string{topic}, Data: fmt.Sprint("e", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id[0])
	}
	quoted := `"` + strings.Join(topics, `","`) + `"`
	for _, tc := range []struct {
		name, contentType, body string
		headers                 []string
		want                    []string
	}{
		{"JSON", "application/json", `{"topic":[` + quoted + `],"lastEventID":"` + ids[0] + `"}`, nil, []string{"e1", "e2"}},
		{"form", "application/x-www-form-urlencoded", form.Encode() + "&lastEventID=" + url.QueryEscape(ids[0]), nil, []string{"e1", "e2"}},
		{"header wins", "application/json", `{"topic":[` + quoted + `],"lastEventID":"` + ids[0] + `"}`, []string{"Last-Event-ID", ids[1]}, []string{"e2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := postStream(t, srv.URL, tc.contentType, tc.body, tc.headers...)
			got := dataLines(readUntil(t, r, "data: e2"))
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("replayed %q, want %q", got, tc.want)
			}
		})
	}
}

// TestSubscribeByPOSTHasTheRightsOfItsToken: a POST subscription gets the
// private events its token allows, and none without a token; a hub that
// refuses anonymous readers refuses an anonymous POST too.
func TestSubscribeByPOSTHasTheRightsOfItsToken(t *testing.T) {
	srv, h := newServer(t, Options{})
	reader := sign(t, testKey, nil, []string{"private/{n}"})
	body := `{"topic":["private/{n}","public"]}`
	withToken := postStream(t, srv.URL, "application/json", body, "Authorization", "Bearer "+reader)
	anonymous := postStream(t, srv.URL, "application/json", body)
	readUntil(t, withToken, ":")
	readUntil(t, anonymous, ":")
	for _, ev := range []hub.Event{{Topics: []string{"private/1"}, Data: "secret", Private: true}, {Topics: []string{"public"}, Data: "news"}} {
		if _, err := h.Publish(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if got := dataLines(readUntil(t, withToken, "data: news")); strings.Join(got, ",") != "secret,news" {
		t.Errorf("with the token: %q", got)
	}
	if got := dataLines(readUntil(t, anonymous, "data: news")); strings.Join(got, ",") != "news" {
		t.Errorf("anonymous: %q", got)
	}

	strict, _ := newServer(t, Options{RefuseAnonymous: true})
	req, _ := http.NewRequest(http.MethodPost, strict.URL+"/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if code, text := do(t, req); code != http.StatusUnauthorized || !strings.Contains(text, `"error"`) {
		t.Errorf("anonymous POST on a hub refusing anonymous readers: %d %s", code, text)
	}
}
