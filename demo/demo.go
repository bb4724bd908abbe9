// Package demo runs the seed scenarios as live demos on a hub: a task board
// claimed from phones, a clock, a stock ticker, chat rooms and a monitoring
// wall. Their pages live in package web; this package serves their APIs and
// runs their publishers.
//
// The board and the chat publish the way separate backends would, over the
// hub's HTTP publish API with tokens of their own scoped to their topics;
// the clock, the ticker and the monitor publish through the Go API.
package demo

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/demo/board"
	"github.com/ssehub/ssehub/demo/internal/jsonhttp"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/publisher"
)

// Options configure the demos. Hub, PublishURL and Key are required.
type Options struct {
	// Hub is the hub the demos publish to.
	Hub *hub.Hub
	// PublishURL is the hub's own base URL (for example
	// "http://127.0.0.1:8080"): the board and the chat POST to
	// PublishURL + "/publish".
	PublishURL string
	// Key signs the board's and the chat's publisher tokens; the hub must
	// verify tokens with it.
	Key []byte
	// PublicURL, when set, is the base URL of the claim links in the board's
	// QR codes; by default they use the Host the board was opened at.
	PublicURL string
	// HTTPClient is the base of the board's and chat's clients (default: a
	// fresh transport each).
	HTTPClient *http.Client
	// Logger receives the demos' errors (default: discarded).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Rand drives the stock ticker's random walk (default: randomly seeded).
	Rand *rand.Rand
	// Intervals of the publishers (defaults: clock 5s, stocks 250ms,
	// monitor 1s).
	ClockInterval   time.Duration
	StocksInterval  time.Duration
	MonitorInterval time.Duration
	// ProcDir is where the monitor reads host figures (default "/proc").
	ProcDir string
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if o.ClockInterval <= 0 {
		o.ClockInterval = 5 * time.Second
	}
	if o.StocksInterval <= 0 {
		o.StocksInterval = 250 * time.Millisecond
	}
	if o.MonitorInterval <= 0 {
		o.MonitorInterval = time.Second
	}
	if o.ProcDir == "" {
		o.ProcDir = "/proc"
	}
}

// Demos holds every demo.
type Demos struct {
	opts    Options
	board   *board.Board
	boardH  *board.Handler
	chat    *chat
	clock   *clock
	stocks  *stocks
	monitor *monitor
	clients []*publisher.Client
}

// Token scopes: what each HTTP publisher may publish to. "chat/*" would be
// the exact topic "chat/*" for the hub; URI templates select a family.
const (
	BoardScope = board.TokenScope
	ChatScope  = "chat/{room}"
)

// New returns the demos. Run starts their publishers; Register serves
// their APIs.
func New(opts Options) (*Demos, error) {
	if opts.Hub == nil || opts.PublishURL == "" || len(opts.Key) == 0 {
		return nil, errors.New("demo: Hub, PublishURL and Key are required")
	}
	opts.setDefaults()
	d := &Demos{opts: opts}
	boardPub, err := d.client(BoardScope)
	if err != nil {
		return nil, err
	}
	chatPub, err := d.client(ChatScope)
	if err != nil {
		return nil, err
	}
	d.board = board.New(boardPub, opts.Now)
	d.boardH = board.NewHandler(d.board, opts.Logger, opts.PublicURL)
	d.chat = &chat{pub: chatPub, now: opts.Now, log: opts.Logger}
	d.clock = &clock{hub: opts.Hub, now: opts.Now, log: opts.Logger}
	d.stocks = newStocks(opts.Hub, opts.Rand, opts.Now, opts.Logger)
	d.monitor = newMonitor(opts.Hub, opts.ProcDir, opts.Now, opts.Logger)
	return d, nil
}

// client returns an HTTP publisher whose token may publish only to scope.
// Each has its own connections, as a separate backend would.
func (d *Demos) client(scope string) (*publisher.Client, error) {
	token, err := auth.Sign(d.opts.Key, []string{scope}, nil, 0)
	if err != nil {
		return nil, err
	}
	var hc *http.Client
	if d.opts.HTTPClient != nil {
		c := *d.opts.HTTPClient
		hc = &c
	}
	c := publisher.New(d.opts.PublishURL, token, hc)
	d.clients = append(d.clients, c)
	return c, nil
}

// Register adds the demos' API routes to mux. The pages are package web's.
func (d *Demos) Register(mux *http.ServeMux) {
	d.boardH.Register(mux)
	d.chat.register(mux)
	d.stocks.register(mux)
	d.monitor.register(mux)
	mux.HandleFunc("GET /demo/position", d.servePosition)
}

// Run publishes the clock, the stocks and the monitor's figures until ctx
// ends, then returns once every publisher has stopped.
func (d *Demos) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, p := range []struct {
		every time.Duration
		tick  func(context.Context)
	}{
		{d.opts.ClockInterval, d.clock.tick},
		{d.opts.StocksInterval, d.stocks.tick},
		{d.opts.MonitorInterval, d.monitor.tick},
	} {
		wg.Go(func() { every(ctx, p.every, p.tick) })
	}
	wg.Wait()
	for _, c := range d.clients {
		c.CloseIdle()
	}
	return nil
}

// every calls tick every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, tick func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			tick(ctx)
		}
	}
}

// position returns the id of the hub's newest event, for pages that take
// a snapshot and then subscribe from exactly that point.
func position(ctx context.Context, h *hub.Hub) (string, error) {
	info, err := h.Log().Info(ctx)
	if err != nil {
		return "", err
	}
	return hub.FormatID(info.Epoch, info.Last), nil
}

// servePosition answers {"lastEventId": …, "time": …}: the id of the
// hub's newest event and the server's time. A page that has no id of its own yet (a first visit to a chat
// room) subscribes from there and stores it, so a reload right after
// resumes without a gap even if nothing arrived in between.
func (d *Demos) servePosition(w http.ResponseWriter, r *http.Request) {
	id, err := position(r.Context(), d.opts.Hub)
	if err != nil {
		jsonhttp.Error(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	jsonhttp.Write(w, http.StatusOK, map[string]any{"lastEventId": id, "time": d.opts.Now().UTC()})
}

// logPublishError logs a failed publish unless the demos are shutting down.
func logPublishError(ctx context.Context, log *slog.Logger, what string, err error) {
	if ctx.Err() != nil || errors.Is(err, hub.ErrHubClosed) {
		return
	}
	log.Error("demo publish failed", "demo", what, "err", err)
}
