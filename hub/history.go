package hub

import (
	"context"
	"errors"
)

// HistoryRequest asks for past events, for clients that cannot hold a
// stream open.
type HistoryRequest struct {
	Topics  []string // selectors; at least one
	Allowed []string // selectors of private topics the caller may read
	After   string   // an event id; empty: from the oldest retained event
	Limit   int      // at most this many events (default and maximum 1000)
}

// HistoryPage is one page of history.
type HistoryPage struct {
	// Events matching the request, oldest first, with their ids filled in.
	Events []Event
	// Next is the id to pass as After for the next page. It names the last
	// position examined, which may be past the last event returned.
	Next string
	// More reports whether the log holds events after Next.
	More bool
}

// MaxHistoryLimit caps HistoryRequest.Limit.
const MaxHistoryLimit = 1000

// historyScan bounds how many log events one page examines, so a selector
// that matches rarely cannot make one request read the whole log.
const historyScan = 100 * MaxHistoryLimit

// History returns the events after req.After that match req's selectors.
// An After that is unknown fails with ErrNotFound, one older than
// retention with ErrTrimmed.
func (h *Hub) History(ctx context.Context, req HistoryRequest) (HistoryPage, error) {
	if req.Limit <= 0 || req.Limit > MaxHistoryLimit {
		req.Limit = MaxHistoryLimit
	}
	s := &Subscription{h: h}
	var err error
	if s.selectors, err = h.parseSelectors(req.Topics, true); err != nil {
		return HistoryPage{}, err
	}
	s.allowed = h.parseAllowed(req.Allowed)
	pos, err := h.historyStart(ctx, req.After, s.allowed)
	if err != nil {
		return HistoryPage{}, err
	}
	var page HistoryPage
	for scanned := 0; len(page.Events) < req.Limit && scanned < historyScan; {
		events, err := h.log.Read(ctx, pos, h.opts.ReplayBatch)
		if err != nil {
			return HistoryPage{}, err
		}
		if len(events) == 0 {
			break
		}
		for _, ev := range events {
			if len(page.Events) == req.Limit {
				break
			}
			pos = ev.Seq
			scanned++
			if s.wants(ev) {
				e := *ev
				e.ID = h.idOf(ev)
				page.Events = append(page.Events, e)
			}
		}
	}
	info, err := h.log.Info(ctx)
	if err != nil {
		return HistoryPage{}, err
	}
	h.recheck(info.Epoch)
	page.Next = FormatID(h.Epoch(), pos)
	page.More = info.Last > pos
	return page, nil
}

func (h *Hub) historyStart(ctx context.Context, after string, allowed []*Selector) (uint64, error) {
	if after != "" {
		seq, _, err := h.resolveFor(ctx, after, allowed)
		return seq, err
	}
	info, err := h.log.Info(ctx)
	if err != nil {
		return 0, err
	}
	h.recheck(info.Epoch)
	if info.First == 0 {
		return 0, nil
	}
	return info.First - 1, nil
}

// IsClientError reports whether err is the caller's fault (bad input, an
// unknown or expired position, a duplicate id) rather than the hub's.
func IsClientError(err error) bool {
	for _, target := range []error{ErrInvalidEvent, ErrInvalidSelector, ErrReservedID, ErrDuplicateID, ErrNotFound, ErrTrimmed} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
