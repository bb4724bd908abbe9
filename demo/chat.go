package demo

import (
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ssehub/ssehub/demo/internal/jsonhttp"
	"github.com/ssehub/ssehub/publisher"
)

// ChatTopicPrefix + a room's name is the room's topic. Messages are
// "message" events whose data is a ChatMessage.
const ChatTopicPrefix = "chat/"

// ChatMessage is what a chat event carries.
type ChatMessage struct {
	Room string    `json:"room"`
	Name string    `json:"name"`
	Text string    `json:"text"`
	Time time.Time `json:"time"`
}

// Limits of chat input.
const (
	maxChatName = 32
	maxChatText = 500
)

var roomRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// chat is the small endpoint that stands for a chat application's backend:
// browsers post to it, and it publishes to the hub over HTTP with a token
// that may publish to chat rooms only.
type chat struct {
	pub *publisher.Client
	now func() time.Time
	log *slog.Logger
}

func (c *chat) register(mux *http.ServeMux) {
	mux.HandleFunc("POST /demo/chat/rooms/{room}/messages", c.serveSend)
}

func (c *chat) serveSend(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
		Text string `json:"text"`
	}
	if err := jsonhttp.Decode(r, &req); err != nil {
		jsonhttp.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	msg, err := c.message(r.PathValue("room"), req.Name, req.Text)
	if err != nil {
		jsonhttp.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	id, err := c.pub.Publish(r.Context(), publisher.Event{Topic: ChatTopicPrefix + msg.Room, Type: "message", Data: msg})
	if err != nil {
		c.log.Error("chat demo", "room", msg.Room, "err", err)
		jsonhttp.Error(w, http.StatusBadGateway, err.Error())
		return
	}
	jsonhttp.Write(w, http.StatusOK, map[string]string{"id": id, "topic": ChatTopicPrefix + msg.Room})
}

// message validates a message and stamps it.
func (c *chat) message(room, name, text string) (ChatMessage, error) {
	name, text = strings.TrimSpace(name), strings.TrimSpace(text)
	switch {
	case !roomRE.MatchString(room):
		return ChatMessage{}, errors.New("room must be 1 to 32 lower-case letters, digits or '-'")
	case name == "" || utf8.RuneCountInString(name) > maxChatName || hasControl(name):
		return ChatMessage{}, errors.New("name must be 1 to 32 characters, without control characters")
	case text == "" || utf8.RuneCountInString(text) > maxChatText || !utf8.ValidString(text):
		return ChatMessage{}, errors.New("text must be 1 to 500 characters")
	}
	return ChatMessage{Room: room, Name: name, Text: text, Time: c.now().UTC()}, nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return true
		}
	}
	return false
}
