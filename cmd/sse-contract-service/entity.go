package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/ssehub/ssehub/sseclient"
)

// entity is one client stream the harness created. Its goroutine reads the
// stream and reports what it sees to the harness's callback URL, one
// numbered message at a time, in order.
type entity struct {
	stream   *sseclient.Stream
	cancel   context.CancelFunc
	done     chan struct{}
	ctx      context.Context
	http     *http.Client
	callback string
	sent     int // callback messages sent so far
	logger   *slog.Logger
}

// callbackMessage is what the harness expects at its callback URL.
type callbackMessage struct {
	Kind    string        `json:"kind"` // "event", "comment" or "error"
	Event   *eventMessage `json:"event,omitempty"`
	Comment string        `json:"comment,omitempty"`
	Error   string        `json:"error,omitempty"`
}

type eventMessage struct {
	Type string `json:"type"`
	Data string `json:"data"`
	ID   string `json:"id"`
}

func startEntity(p createParams, client *http.Client, logger *slog.Logger) *entity {
	ctx, cancel := context.WithCancel(context.Background())
	e := &entity{
		cancel:   cancel,
		done:     make(chan struct{}),
		ctx:      ctx,
		http:     client,
		callback: strings.TrimSuffix(p.CallbackURL, "/"),
		logger:   logger,
	}
	opts := append(p.options(), sseclient.WithComments(func(text string) {
		e.report(callbackMessage{Kind: "comment", Comment: text})
	}))
	e.stream = sseclient.New(p.StreamURL, opts...).Connect(ctx)
	go e.run()
	return e
}

func (e *entity) run() {
	defer close(e.done)
	for ev, err := range e.stream.Events() {
		if err != nil {
			e.logger.Info("stream error", "err", err)
			e.report(callbackMessage{Kind: "error", Error: err.Error()})
			continue
		}
		e.report(callbackMessage{Kind: "event", Event: &eventMessage{Type: ev.Type, Data: ev.Data, ID: ev.ID}})
	}
}

// report posts m to the next numbered callback URL.
func (e *entity) report(m callbackMessage) {
	body, err := json.Marshal(m)
	if err != nil {
		e.logger.Error("encoding callback", "err", err)
		return
	}
	e.sent++
	url := e.callback + "/" + strconv.Itoa(e.sent)
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		e.logger.Error("callback request", "err", err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.http.Do(req)
	if err != nil {
		e.logger.Info("callback failed", "url", url, "err", err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// close stops the stream and waits for its goroutine.
func (e *entity) close() {
	e.cancel()
	<-e.done
}
