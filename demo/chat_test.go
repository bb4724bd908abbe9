package demo_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/demo"
)

func TestChatMessagesReachTheRoomAndResumeAfterTheLastID(t *testing.T) {
	s := start(t, demo.Options{Now: fixedNow}, false)
	from := s.position(t)
	var sent struct{ ID, Topic string }
	if code := s.call(t, "POST", "/demo/chat/rooms/lobby/messages", jsonType, `{"name":"Ann","text":"first"}`, &sent); code != 200 || sent.Topic != "chat/lobby" {
		t.Fatalf("send: %d %+v", code, sent)
	}
	s.call(t, "POST", "/demo/chat/rooms/other/messages", jsonType, `{"name":"Ann","text":"elsewhere"}`, nil)
	s.call(t, "POST", "/demo/chat/rooms/lobby/messages", "application/x-www-form-urlencoded", "name=Bob&text=second", nil)

	// A page that saw nothing yet resumes from the position it stored.
	events := s.subscribe(t, from, "chat/lobby")
	ev := next(t, events, "message")
	var m demo.ChatMessage
	if err := json.Unmarshal([]byte(ev.Data), &m); err != nil || ev.ID != sent.ID || m != (demo.ChatMessage{Room: "lobby", Name: "Ann", Text: "first", Time: fixedNow()}) {
		t.Fatalf("first event %+v (%v)", ev, err)
	}
	if ev := next(t, events, "message"); !strings.Contains(ev.Data, `"second"`) {
		t.Fatalf("second event %+v", ev)
	}
	// A page that saw the first message gets only what followed.
	if ev := next(t, s.subscribe(t, sent.ID, "chat/lobby"), "message"); !strings.Contains(ev.Data, `"second"`) {
		t.Fatalf("resumed after the first: %+v", ev)
	}
}

func TestChatRejectsBadInput(t *testing.T) {
	s := start(t, demo.Options{}, false)
	for _, tc := range []struct{ name, room, body string }{
		{"room with a slash", "a%2Fb", `{"name":"Ann","text":"x"}`},
		{"upper-case room", "Lobby", `{"name":"Ann","text":"x"}`},
		{"empty text", "lobby", `{"name":"Ann","text":"  "}`},
		{"text too long", "lobby", `{"name":"Ann","text":"` + strings.Repeat("x", 501) + `"}`},
		{"no name", "lobby", `{"text":"x"}`},
		{"unknown field", "lobby", `{"name":"Ann","text":"x","room":"ops"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e errorBody
			if code := s.call(t, "POST", "/demo/chat/rooms/"+tc.room+"/messages", jsonType, tc.body, &e); code != 400 || e.Error == "" {
				t.Fatalf("%d %+v, want 400 with an error", code, e)
			}
		})
	}
}
