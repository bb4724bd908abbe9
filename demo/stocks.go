package demo

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/ssehub/ssehub/demo/internal/jsonhttp"
	"github.com/ssehub/ssehub/hub"
)

// StockTopicPrefix + a symbol is the symbol's topic; pages subscribe to
// the URI template "stocks/{symbol}". Each kind of update has its own event
// type, all with a JSON Quote as data:
//   - "quote": the price moved;
//   - "volume": shares traded, the price unchanged;
//   - "range": the price set a new day high or low (sent after its quote).
const StockTopicPrefix = "stocks/"

// Quote is one symbol's state.
type Quote struct {
	Symbol string  `json:"symbol"`
	Name   string  `json:"name"`
	Price  float64 `json:"price"`
	Open   float64 `json:"open"`
	High   float64 `json:"high"`
	Low    float64 `json:"low"`
	Volume int64   `json:"volume"`
	// Change is Price-Open; ChangePct the same in percent of Open.
	Change    float64   `json:"change"`
	ChangePct float64   `json:"changePct"`
	Time      time.Time `json:"time"`
}

type stocks struct {
	hub *hub.Hub
	now func() time.Time
	log *slog.Logger

	mu     sync.Mutex
	rnd    *rand.Rand
	quotes []Quote
}

// The listing: made-up companies, so nobody reads the demo as market data.
var listing = []struct {
	sym, name string
	price     float64
}{
	{"ACME", "Acme Corp", 182.4}, {"BLUE", "Bluewater Shipping", 41.2}, {"BRKX", "Brick & Mortar", 12.9},
	{"CASC", "Cascade Power", 67.5}, {"CEDR", "Cedar Homes", 23.1}, {"CLVR", "Clover Foods", 54.8},
	{"CRWN", "Crown Textiles", 9.7}, {"DLTA", "Delta Logistics", 133.0}, {"EMBR", "Ember Energy", 88.3},
	{"FERN", "Fern Biotech", 15.6}, {"FLNT", "Flint Mining", 31.4}, {"GLDN", "Golden Grain", 72.2},
	{"GRPH", "Graphite Labs", 240.9}, {"HRBR", "Harbor Bank", 48.6}, {"IRIS", "Iris Optics", 96.1},
	{"JADE", "Jade Pharma", 61.7}, {"KITE", "Kite Aerospace", 155.3}, {"LUMN", "Lumen Lighting", 19.8},
	{"MAPL", "Maple Media", 27.4}, {"MSAI", "Mosaic Software", 311.5}, {"NOVA", "Nova Telecom", 36.9},
	{"OAKS", "Oak Street REIT", 58.0}, {"ORCA", "Orca Marine", 44.4}, {"PEAK", "Peak Outdoor", 81.6},
	{"PIXL", "Pixel Games", 124.7}, {"QUIL", "Quill Publishing", 8.3}, {"RAVN", "Raven Security", 102.2},
	{"RIDG", "Ridge Motors", 64.9}, {"SAGE", "Sage Health", 147.8}, {"SLTE", "Slate Materials", 29.5},
	{"SOLR", "Solar Arc", 37.2}, {"TIDE", "Tide Water Utilities", 70.1}, {"TRAX", "Trax Rail", 53.3},
	{"UMBR", "Umbra Cloud", 205.6}, {"VALE", "Vale Vineyards", 22.7}, {"WAVE", "Wave Audio", 46.9},
	{"WREN", "Wren Robotics", 118.4}, {"XENO", "Xeno Chemicals", 75.5}, {"YARD", "Yardline Sports", 33.8},
	{"ZEST", "Zest Beverages", 26.2},
}

// updatesPerTick is how many symbols move at each tick.
const updatesPerTick = 4

func newStocks(h *hub.Hub, rnd *rand.Rand, now func() time.Time, log *slog.Logger) *stocks {
	s := &stocks{hub: h, now: now, log: log, rnd: rnd}
	t := now().UTC()
	for _, l := range listing {
		s.quotes = append(s.quotes, Quote{Symbol: l.sym, Name: l.name, Price: l.price, Open: l.price,
			High: l.price, Low: l.price, Time: t})
	}
	return s
}

func (s *stocks) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /demo/stocks/quotes", s.serveQuotes)
}

// serveQuotes answers every quote and the id of the hub's newest event.
// Ticks publish under the same lock, so the quotes include every stock
// event up to that id: a page that subscribes after it misses nothing.
func (s *stocks) serveQuotes(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	quotes := append([]Quote(nil), s.quotes...)
	id, err := position(r.Context(), s.hub)
	s.mu.Unlock()
	if err != nil {
		jsonhttp.Error(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	jsonhttp.Write(w, http.StatusOK, map[string]any{"quotes": quotes, "lastEventId": id})
}

// tick moves a few random symbols and publishes their updates as one batch.
func (s *stocks) tick(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.now().UTC()
	var events []hub.Event
	for range updatesPerTick {
		q := &s.quotes[s.rnd.IntN(len(s.quotes))]
		events = append(events, s.move(q, t)...)
	}
	if _, err := s.hub.Publish(ctx, events...); err != nil {
		logPublishError(ctx, s.log, "stocks", err)
	}
}

// move takes one step of q's random walk and returns the events it makes.
func (s *stocks) move(q *Quote, t time.Time) []hub.Event {
	q.Time = t
	q.Volume += int64(1+s.rnd.IntN(50)) * 100
	if s.rnd.IntN(4) == 0 {
		return []hub.Event{stockEvent("volume", q)}
	}
	step := s.rnd.NormFloat64() * 0.004 * q.Price // about 0.4% per step
	// Pull back gently towards the open so prices never wander off.
	step -= 0.02 * (q.Price - q.Open)
	q.Price = math.Max(0.01, math.Round((q.Price+step)*100)/100)
	q.Change = math.Round((q.Price-q.Open)*100) / 100
	q.ChangePct = math.Round((q.Price-q.Open)/q.Open*10000) / 100
	newRange := q.Price > q.High || q.Price < q.Low
	q.High, q.Low = math.Max(q.High, q.Price), math.Min(q.Low, q.Price)
	events := []hub.Event{stockEvent("quote", q)}
	if newRange {
		events = append(events, stockEvent("range", q))
	}
	return events
}

func stockEvent(typ string, q *Quote) hub.Event {
	data, _ := json.Marshal(q)
	return hub.Event{Topics: []string{StockTopicPrefix + q.Symbol}, Type: typ, Data: string(data)}
}
