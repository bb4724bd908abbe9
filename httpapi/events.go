package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/ssehub/ssehub/httpapi/internal/stream"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/sse"
)

// serveEvents streams events: GET /events?topic=SEL[&topic=SEL…], resuming
// after the Last-Event-ID header or the lastEventID query parameter, or
// POST /events with the same fields in its body.
func (a *API) serveEvents(w http.ResponseWriter, r *http.Request) {
	req, err := a.subscribeRequest(w, r)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	claims, ok := a.subscriberRights(w, r)
	if !ok {
		return
	}
	if claims != nil {
		req.Allowed = claims.Mercure.Subscribe
	}
	sub, err := a.hub.Subscribe(r.Context(), req)
	if err != nil {
		a.writeHubError(w, r, err)
		return
	}
	if r.Method == http.MethodHead {
		// What a GET would be answered, without the stream.
		sub.Close()
		stream.SetHeaders(w.Header())
		w.WriteHeader(http.StatusOK)
		return
	}
	a.streams.Serve(w, r, expiring(sub, a.subscribers(), claims))
}

// subscribeRequest reads what a stream asks for from its query (or body)
// and headers. The Last-Event-ID header wins over the lastEventID field:
// it is what a client sends when it reconnects, after the events the
// field's id was the start of.
func (a *API) subscribeRequest(w http.ResponseWriter, r *http.Request) (hub.SubscribeRequest, error) {
	var s streamAsk
	var err error
	if r.Method == http.MethodPost {
		s, err = a.bodySubscription(w, r)
	} else {
		s, err = a.querySubscription(r)
	}
	if err != nil {
		return hub.SubscribeRequest{}, err
	}
	req := hub.SubscribeRequest{Topics: s.topics, LastEventID: r.Header.Get("Last-Event-ID"), Door: "native", Remote: r.RemoteAddr}
	if req.LastEventID == "" {
		req.LastEventID = s.lastEventID
	}
	if !sse.ValidID(req.LastEventID) {
		return req, errors.New("Last-Event-ID must not contain CR, LF or NUL")
	}
	return req, nil
}

func (a *API) querySubscription(r *http.Request) (streamAsk, error) {
	q, err := a.query(r)
	if err != nil {
		return streamAsk{}, err
	}
	return streamAsk{topics: q["topic"], lastEventID: q.Get("lastEventID")}, nil
}

// Drain waits, after the hub was closed, until every stream the API took
// over from its http.Server has ended: http.Server.Shutdown does not wait
// for those. When ctx ends first, the remaining streams are closed. Streams
// that open after Drain are served with a goroutine each.
func (a *API) Drain(ctx context.Context) error {
	err := a.streams.Drain(ctx)
	if a.mercure != nil {
		// The departures of the last streams are announced (or fail at
		// once on the closed hub).
		a.mercure.subs.leaving.Wait()
	}
	return err
}
