package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sync"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi/internal/stream"
	"github.com/ssehub/ssehub/hub"
)

// jsonLDContext is the vocabulary of Mercure's subscription documents.
const jsonLDContext = "https://mercure.rocks/"

// subscription is one (subscriber, topic selector) pair, as Mercure
// describes it in subscription events and the subscriptions API.
type subscription struct {
	Context     string          `json:"@context,omitempty"`
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Subscriber  string          `json:"subscriber"`
	Topic       string          `json:"topic"`
	Active      bool            `json:"active"`
	LastEventID string          `json:"lastEventID,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"`
}

type subscriptionCollection struct {
	Context       string         `json:"@context"`
	ID            string         `json:"id"`
	Type          string         `json:"type"`
	LastEventID   string         `json:"lastEventID"`
	Subscriptions []subscription `json:"subscriptions"`
}

// subscriber is a connected Mercure subscriber.
type subscriber struct {
	id      string // urn:uuid:…
	topics  []string
	payload json.RawMessage
}

// subscriptions returns the subscriber's subscriptions, all of them or
// only the one for topic.
func (s *subscriber) subscriptions(topic string, active bool, ctx string) []subscription {
	var out []subscription
	for _, t := range s.topics {
		if topic != "" && t != topic {
			continue
		}
		out = append(out, subscription{
			Context:    ctx,
			ID:         MercurePath + "/subscriptions/" + url.QueryEscape(t) + "/" + url.QueryEscape(s.id),
			Type:       "Subscription",
			Subscriber: s.id,
			Topic:      t,
			Active:     active,
			Payload:    s.payload,
		})
	}
	return out
}

// subscriberList holds the connected subscribers of the Mercure door, for
// the subscriptions API, and the goroutines announcing departures.
type subscriberList struct {
	mu      sync.Mutex
	byID    map[string]*subscriber
	leaving sync.WaitGroup
}

func (l *subscriberList) init() { l.byID = make(map[string]*subscriber) }

func (l *subscriberList) snapshot() []*subscriber {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*subscriber, 0, len(l.byID))
	for _, s := range l.byID {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *subscriber) int {
		if a.id < b.id {
			return -1
		}
		return 1
	})
	return out
}

// join registers a subscriber and announces it. The returned source
// announces its departure when its stream ends.
func (l *subscriberList) join(ctx context.Context, m *mercure, sub *hub.Subscription, topics []string, claims *auth.Claims, lastEventID string) stream.Source {
	s := &subscriber{id: newURNUUID(), topics: topics}
	if claims != nil && string(claims.Mercure.Payload) != "null" {
		s.payload = claims.Mercure.Payload
	}
	l.mu.Lock()
	l.byID[s.id] = s
	l.mu.Unlock()
	m.announce(ctx, s, true)
	return &leavingSource{Subscription: sub, leave: func() {
		l.mu.Lock()
		delete(l.byID, s.id)
		l.mu.Unlock()
		// Close may be called by an event loop worker, which must not
		// wait for the log.
		l.leaving.Add(1)
		go func() {
			defer l.leaving.Done()
			m.announce(context.Background(), s, false)
		}()
	}}
}

// leavingSource is a subscription that calls leave once when closed.
type leavingSource struct {
	*hub.Subscription
	once  sync.Once
	leave func()
}

func (s *leavingSource) Close() {
	s.Subscription.Close()
	s.once.Do(s.leave)
}

// announce publishes a subscription event for each of s's topics: a
// private update to the subscription's own topic, which subscribers allowed
// to see /.well-known/mercure/subscriptions/… receive.
func (m *mercure) announce(ctx context.Context, s *subscriber, active bool) {
	for _, sub := range s.subscriptions("", active, jsonLDContext) {
		data, _ := json.MarshalIndent(sub, "", "  ")
		ev := hub.Event{Topics: []string{sub.ID}, Data: string(data), Private: true}
		if _, err := m.a.hub.Publish(ctx, ev); err != nil && !m.a.hub.Closed() {
			m.a.opts.Logger.Error("publishing a subscription event", "subscription", sub.ID, "err", err)
		}
	}
}

// newURNUUID returns a random (version 4) UUID URN, the form of Mercure's
// subscriber ids.
func newURNUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return "urn:uuid:" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// serveSubscriptions is the subscriptions API: every active subscription,
// those to one topic selector, or one. The token must allow the request's
// own URL as a private topic, as Mercure requires; anonymous access is
// never enough.
func (m *mercure) serveSubscriptions(w http.ResponseWriter, r *http.Request) {
	claims, _, err := m.authorize(r, subscriberRole)
	self := r.URL.RequestURI()
	if err != nil || claims == nil || claims.Mercure.Subscribe == nil || !m.a.allowed(claims.Mercure.Subscribe, self) {
		writeMercureAuthError(w, err)
		return
	}
	info, err := m.a.hub.Log().Info(r.Context())
	if err != nil {
		m.a.writeHubError(w, r, err)
		return
	}
	last := earliest // nothing dispatched yet, as the protocol words it
	if info.Last > 0 {
		last = hub.FormatID(info.Epoch, info.Last)
	}
	if r.Header.Get("If-None-Match") == last {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	topic, subscriberID := r.PathValue("topic"), r.PathValue("subscriber")
	var body any
	if subscriberID == "" {
		c := subscriptionCollection{Context: jsonLDContext, ID: self, Type: "Subscriptions", LastEventID: last,
			Subscriptions: []subscription{}}
		for _, s := range m.subs.snapshot() {
			c.Subscriptions = append(c.Subscriptions, s.subscriptions(topic, true, "")...)
		}
		body = c
	} else {
		for _, s := range m.subs.snapshot() {
			if found := s.subscriptions(topic, true, jsonLDContext); s.id == subscriberID && len(found) > 0 {
				found[0].LastEventID = last
				body = found[0]
			}
		}
		if body == nil {
			writeError(w, http.StatusNotFound, "no such active subscription", "")
			return
		}
	}
	data, _ := json.MarshalIndent(body, "", "  ")
	w.Header().Set("Content-Type", "application/ld+json")
	w.Header().Set("ETag", last)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}
