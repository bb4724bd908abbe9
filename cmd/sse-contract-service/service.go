package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/ssehub/ssehub/sseclient"
)

// capabilities are the optional features of the suite that sseclient has.
var capabilities = []string{
	"bom",
	"comments",
	"headers",
	"last-event-id",
	"post",
	"read-timeout",
	"report",
	"restart",
	"server-directed-shutdown-request",
}

// maxEventSize is above the suite's largest event (two 5 MiB random blocks
// in base64).
const maxEventSize = 32 << 20

// service keeps the streams the harness created, by id.
type service struct {
	logger   *slog.Logger
	callback *http.Client
	quit     chan struct{}
	quitOnce sync.Once

	mu      sync.Mutex
	streams map[string]*entity
	lastID  int
}

func newService(logger *slog.Logger) *service {
	return &service{
		logger:   logger,
		callback: &http.Client{Timeout: 10 * time.Second},
		quit:     make(chan struct{}),
		streams:  make(map[string]*entity),
	}
}

func (s *service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.status)
	mux.HandleFunc("DELETE /{$}", s.stop)
	mux.HandleFunc("POST /{$}", s.create)
	mux.HandleFunc("POST /streams/{id}", s.command)
	mux.HandleFunc("DELETE /streams/{id}", s.close)
	return mux
}

func (s *service) status(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"name":         "ssehub sseclient",
		"capabilities": capabilities,
	})
}

func (s *service) stop(w http.ResponseWriter, _ *http.Request) {
	s.quitOnce.Do(func() { close(s.quit) })
	w.WriteHeader(http.StatusNoContent)
}

// createParams is the body of a create request.
type createParams struct {
	StreamURL      string            `json:"streamUrl"`
	CallbackURL    string            `json:"callbackUrl"`
	Tag            string            `json:"tag"`
	InitialDelayMS *int              `json:"initialDelayMs"`
	ReadTimeoutMS  *int              `json:"readTimeoutMs"`
	LastEventID    string            `json:"lastEventId"`
	Method         string            `json:"method"`
	Body           string            `json:"body"`
	Headers        map[string]string `json:"headers"`
}

// options turns the parameters into client options.
func (p *createParams) options() []sseclient.Option {
	opts := []sseclient.Option{sseclient.WithMaxEventSize(maxEventSize)}
	if p.InitialDelayMS != nil {
		opts = append(opts, sseclient.WithRetry(time.Duration(*p.InitialDelayMS)*time.Millisecond))
	}
	if p.ReadTimeoutMS != nil {
		opts = append(opts, sseclient.WithReadTimeout(time.Duration(*p.ReadTimeoutMS)*time.Millisecond))
	}
	if p.LastEventID != "" {
		opts = append(opts, sseclient.WithLastEventID(p.LastEventID))
	}
	if p.Method != "" {
		var body []byte
		if p.Body != "" {
			body = []byte(p.Body)
		}
		opts = append(opts, sseclient.WithMethod(p.Method, body))
	}
	for name, value := range p.Headers {
		opts = append(opts, sseclient.WithHeader(name, value))
	}
	return opts
}

func (s *service) create(w http.ResponseWriter, r *http.Request) {
	var p createParams
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		http.Error(w, "invalid JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	if _, err := url.ParseRequestURI(p.StreamURL); err != nil {
		http.Error(w, "invalid streamUrl", http.StatusBadRequest)
		return
	}
	if _, err := url.ParseRequestURI(p.CallbackURL); err != nil {
		http.Error(w, "invalid callbackUrl", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.lastID++
	id := strconv.Itoa(s.lastID)
	e := startEntity(p, s.callback, s.logger.With("stream", id, "tag", p.Tag))
	s.streams[id] = e
	s.mu.Unlock()
	w.Header().Set("Location", "/streams/"+id)
	w.WriteHeader(http.StatusCreated)
}

func (s *service) lookup(id string) *entity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams[id]
}

func (s *service) command(w http.ResponseWriter, r *http.Request) {
	e := s.lookup(r.PathValue("id"))
	if e == nil {
		http.NotFound(w, r)
		return
	}
	var cmd struct {
		Command string `json:"command"`
	}
	if err := json.NewDecoder(r.Body).Decode(&cmd); err != nil {
		http.Error(w, "invalid JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	switch cmd.Command {
	case "restart":
		e.stream.Restart()
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "unknown command "+strconv.Quote(cmd.Command), http.StatusBadRequest)
	}
}

func (s *service) close(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	e := s.streams[id]
	delete(s.streams, id)
	s.mu.Unlock()
	if e == nil {
		http.NotFound(w, r)
		return
	}
	e.close()
	w.WriteHeader(http.StatusNoContent)
}

// closeAll stops every stream, when the service shuts down.
func (s *service) closeAll() {
	s.mu.Lock()
	streams := s.streams
	s.streams = make(map[string]*entity)
	s.mu.Unlock()
	for _, e := range streams {
		e.close()
	}
}
