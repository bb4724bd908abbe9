package demo_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/demo"
	"github.com/ssehub/ssehub/demo/board"
)

func TestBoardClaimIsPublishedAndSecondClaimIsRefused(t *testing.T) {
	s := start(t, demo.Options{Now: fixedNow}, false)
	changes := s.subscribe(t, "", board.TasksTopic)

	var st board.State
	if code := s.call(t, "GET", "/demo/board/tasks", "", "", &st); code != 200 || len(st.Tasks) != 9 {
		t.Fatalf("GET tasks: %d, %d tasks", code, len(st.Tasks))
	}
	for _, task := range st.Tasks {
		if task.ClaimedBy != "" {
			t.Fatalf("task %s claimed at start", task.ID)
		}
	}

	var ok struct{ Task board.Task }
	if code := s.call(t, "POST", "/demo/board/tasks/T-101/claim", jsonType, `{"by":" Ann "}`, &ok); code != 200 {
		t.Fatalf("claim: %d", code)
	}
	if ok.Task.ClaimedBy != "Ann" || ok.Task.ClaimedAt == nil || !ok.Task.ClaimedAt.Equal(fixedNow()) {
		t.Fatalf("claimed task = %+v", ok.Task)
	}
	ev := next(t, changes, board.TypeClaimed)
	var claimed struct {
		Task    board.Task
		Version int
	}
	if err := json.Unmarshal([]byte(ev.Data), &claimed); err != nil || claimed.Task.ID != "T-101" || claimed.Task.ClaimedBy != "Ann" || claimed.Version != 1 {
		t.Fatalf("event %+v (%v)", ev, err)
	}

	var conflict struct {
		Error string
		Task  board.Task
	}
	if code := s.call(t, "POST", "/demo/board/tasks/T-101/claim", jsonType, `{"by":"Bob"}`, &conflict); code != http.StatusConflict {
		t.Fatalf("second claim: %d, want 409", code)
	}
	if !strings.Contains(conflict.Error, "Ann") || conflict.Task.ClaimedBy != "Ann" {
		t.Fatalf("409 body = %+v", conflict)
	}

	// The form field works too, as a plain HTML form would send it.
	if code := s.call(t, "POST", "/demo/board/tasks/T-102/claim", "application/x-www-form-urlencoded", "by=Bob", &ok); code != 200 || ok.Task.ClaimedBy != "Bob" {
		t.Fatalf("form claim: %d %+v", code, ok.Task)
	}
	if ev := next(t, changes, board.TypeClaimed); !strings.Contains(ev.Data, `"T-102"`) {
		t.Fatalf("second event %+v", ev)
	}
}

func TestBoardRejectsBadInputWithJSONErrors(t *testing.T) {
	s := start(t, demo.Options{}, false)
	for _, tc := range []struct {
		name, path, ctype, body string
		want                    int
	}{
		{"unknown task", "/demo/board/tasks/T-999/claim", jsonType, `{"by":"Ann"}`, 404},
		{"empty name", "/demo/board/tasks/T-101/claim", jsonType, `{"by":"  "}`, 400},
		{"name too long", "/demo/board/tasks/T-101/claim", jsonType, `{"by":"` + strings.Repeat("x", 41) + `"}`, 400},
		{"control character", "/demo/board/tasks/T-101/claim", jsonType, `{"by":"Ann\nBob"}`, 400},
		{"not JSON", "/demo/board/tasks/T-101/claim", jsonType, `by=Ann`, 400},
		{"unknown field", "/demo/board/tasks/T-101/claim", jsonType, `{"name":"Ann"}`, 400},
		{"empty body", "/demo/board/tasks/T-101/claim", jsonType, ``, 400},
		{"bad client id", "/demo/board/start", jsonType, `{"client":"../x"}`, 400},
		{"short client id", "/demo/board/start", jsonType, `{"client":"abc"}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e errorBody
			if code := s.call(t, "POST", tc.path, tc.ctype, tc.body, &e); code != tc.want || e.Error == "" {
				t.Fatalf("%d %+v, want %d with an error message", code, e, tc.want)
			}
		})
	}
	var st board.State
	s.call(t, "GET", "/demo/board/tasks", "", "", &st)
	if st.Version != 0 {
		t.Fatalf("bad requests changed the board: version %d", st.Version)
	}
}

func TestBoardResetRestoresTheStartingTasks(t *testing.T) {
	s := start(t, demo.Options{}, false)
	changes := s.subscribe(t, "", board.TasksTopic)
	s.call(t, "POST", "/demo/board/tasks/T-201/claim", jsonType, `{"by":"Ann"}`, nil)
	var st board.State
	if code := s.call(t, "POST", "/demo/board/reset", "", "", &st); code != 200 {
		t.Fatalf("reset: %d", code)
	}
	if st.Version != 2 || len(st.Tasks) != 9 || st.Tasks[3].ClaimedBy != "" {
		t.Fatalf("after reset: %+v", st)
	}
	ev := next(t, changes, board.TypeReset)
	var got board.State
	if err := json.Unmarshal([]byte(ev.Data), &got); err != nil || got.Version != 2 || len(got.Tasks) != 9 {
		t.Fatalf("reset event %+v (%v)", ev, err)
	}
	if code := s.call(t, "POST", "/demo/board/tasks/T-201/claim", jsonType, `{"by":"Bob"}`, nil); code != 200 {
		t.Fatalf("claim after reset: %d", code)
	}
}

// A page subscribes to the changes and to its own topic, then asks for the
// start event: a claim made before the snapshot reaches it before the
// snapshot, which already contains it; one made after reaches it after.
func TestBoardStartEventIsOrderedWithTheChanges(t *testing.T) {
	s := start(t, demo.Options{}, false)
	const client = "page-0123456789"
	events := s.subscribe(t, "", board.TasksTopic, board.ClientTopicPrefix+client)
	s.call(t, "POST", "/demo/board/tasks/T-101/claim", jsonType, `{"by":"Ann"}`, nil)
	var started struct{ ID, Topic string }
	if code := s.call(t, "POST", "/demo/board/start", jsonType, `{"client":"`+client+`"}`, &started); code != 200 || started.ID == "" {
		t.Fatalf("start: %d %+v", code, started)
	}
	s.call(t, "POST", "/demo/board/tasks/T-102/claim", jsonType, `{"by":"Bob"}`, nil)

	var seen []string
	for len(seen) < 3 {
		ev := next(t, events, board.TypeClaimed, board.TypeStart)
		seen = append(seen, ev.Type)
		if ev.Type == board.TypeStart {
			var st board.State
			if err := json.Unmarshal([]byte(ev.Data), &st); err != nil || st.Version != 1 || st.Tasks[0].ClaimedBy != "Ann" || st.Tasks[1].ClaimedBy != "" {
				t.Fatalf("start event %s (%v)", ev.Data, err)
			}
			if ev.ID != started.ID {
				t.Fatalf("start event id %q, answer said %q", ev.ID, started.ID)
			}
		}
	}
	if want := []string{board.TypeClaimed, board.TypeStart, board.TypeClaimed}; strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Fatalf("order %v, want %v", seen, want)
	}
}

func TestBoardQRCodeEncodesClaimURLOfRequestHost(t *testing.T) {
	s := start(t, demo.Options{}, false)
	var task struct{ ClaimURL string }
	req, _ := http.NewRequest("GET", s.URL+"/demo/board/tasks/T-101", nil)
	req.Host = "192.168.1.20:8080"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&task)
	resp.Body.Close()
	if task.ClaimURL != "http://192.168.1.20:8080/demo/board/claim/T-101" {
		t.Fatalf("claim URL %q", task.ClaimURL)
	}
	resp, err = http.Get(s.URL + "/demo/board/tasks/T-101/qr.svg")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("qr: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	if resp, _ := http.Get(s.URL + "/demo/board/tasks/T-999/qr.svg"); resp.StatusCode != 404 {
		t.Fatalf("qr of unknown task: %s", resp.Status)
	} else {
		resp.Body.Close()
	}
}

// The board and the chat publish over HTTP, each with its own token that
// may publish to its own topics only.
func TestHTTPPublishersUseTheirOwnScopedTokens(t *testing.T) {
	s := start(t, demo.Options{}, false)
	s.call(t, "POST", "/demo/board/tasks/T-101/claim", jsonType, `{"by":"Ann"}`, nil)
	s.call(t, "POST", "/demo/chat/rooms/lobby/messages", jsonType, `{"name":"Ann","text":"hi"}`, nil)
	tokens := s.publishTokens()
	if len(tokens) != 2 || tokens[0] == tokens[1] {
		t.Fatalf("publish requests carried tokens %q, want two different ones", tokens)
	}
	v := auth.NewVerifier(testKey)
	for i, tc := range []struct {
		scope          string
		allowed, other string
	}{
		{demo.BoardScope, "board/tasks", "chat/lobby"},
		{demo.ChatScope, "chat/lobby", "board/tasks"},
	} {
		c, err := v.Verify(context.Background(), tokens[i])
		if err != nil || len(c.Mercure.Publish) != 1 || c.Mercure.Publish[0] != tc.scope {
			t.Fatalf("token %d: %+v %v, want publish [%s]", i, c, err, tc.scope)
		}
		if code := publishWith(t, s, tokens[i], tc.allowed); code != 200 {
			t.Errorf("token for %s publishing to %s: %d", tc.scope, tc.allowed, code)
		}
		if code := publishWith(t, s, tokens[i], tc.other); code != http.StatusForbidden {
			t.Errorf("token for %s publishing to %s: %d, want 403", tc.scope, tc.other, code)
		}
	}
}

func publishWith(t *testing.T, s *server, token, topic string) int {
	req, _ := http.NewRequest("POST", s.URL+"/publish", strings.NewReader(`{"topic":"`+topic+`","data":"x"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
