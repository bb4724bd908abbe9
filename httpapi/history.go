package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// historyEvent is an event as GET /history shows it.
type historyEvent struct {
	ID      string    `json:"id"`
	Topics  []string  `json:"topics"`
	Type    string    `json:"type,omitempty"`
	Data    string    `json:"data"`
	Retry   int64     `json:"retry,omitempty"`
	Private bool      `json:"private,omitempty"`
	Time    time.Time `json:"time"`
}

// serveHistory answers GET /history?topic=SEL&after=ID&limit=N with the
// matching events as JSON, for clients that cannot hold a stream open.
func (a *API) serveHistory(w http.ResponseWriter, r *http.Request) {
	q, err := a.query(r)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	req := hub.HistoryRequest{Topics: q["topic"], After: q.Get("after")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > hub.MaxHistoryLimit {
			writeError(w, http.StatusBadRequest, "limit must be a number from 1 to "+strconv.Itoa(hub.MaxHistoryLimit), "")
			return
		}
		req.Limit = n
	}
	claims, ok := a.subscriberRights(w, r)
	if !ok {
		return
	}
	if claims != nil {
		req.Allowed = claims.Mercure.Subscribe
	}
	page, err := a.hub.History(r.Context(), req)
	if err != nil {
		a.writeHubError(w, r, err)
		return
	}
	out := struct {
		Events []historyEvent `json:"events"`
		Next   string         `json:"next"`
		More   bool           `json:"more"`
	}{Events: make([]historyEvent, len(page.Events)), Next: page.Next, More: page.More}
	for i, ev := range page.Events {
		out.Events[i] = historyEvent{ev.ID, ev.Topics, ev.Type, ev.Data, ev.Retry.Milliseconds(), ev.Private, ev.Time}
	}
	writeJSON(w, http.StatusOK, out)
}
