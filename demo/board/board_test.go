package board

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/publisher"
)

// refusingHub is a hub that refuses every event.
type refusingHub struct{ calls int }

func (r *refusingHub) Publish(context.Context, publisher.Event) (string, error) {
	r.calls++
	return "", &publisher.Error{Status: 503, Message: "hub unavailable"}
}

func TestAChangeTheHubRefusesIsUndone(t *testing.T) {
	pub := &refusingHub{}
	b := New(pub, nil)
	if _, err := b.Claim(context.Background(), "T-101", "Ann"); err == nil || errors.Is(err, ErrClaimed) {
		t.Fatalf("claim with the hub down: %v", err)
	}
	if task, _ := b.Task("T-101"); task.ClaimedBy != "" || b.Snapshot().Version != 0 {
		t.Fatalf("the refused claim stayed: %+v", task)
	}
	if _, err := b.Reset(context.Background()); err == nil || b.Snapshot().Version != 0 {
		t.Fatalf("reset with the hub down: %v, version %d", err, b.Snapshot().Version)
	}
	if pub.calls != 2 {
		t.Fatalf("%d publishes, want 2", pub.calls)
	}

	// Over HTTP the refusal is the hub's fault, not the client's: 502.
	mux := http.NewServeMux()
	NewHandler(b, slog.New(slog.DiscardHandler), "").Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("POST", "/demo/board/tasks/T-101/claim", strings.NewReader(`{"by":"Ann"}`)))
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "hub unavailable") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

func TestQRSVG(t *testing.T) {
	a, err := QRSVG("http://192.168.1.20:8080/demo/board/claim/T-101")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := QRSVG("http://192.168.1.20:8080/demo/board/claim/T-102")
	s := string(a)
	if !strings.HasPrefix(s, "<svg ") || !strings.Contains(s, `<path fill="#000" d="M`) || string(a) == string(b) {
		t.Fatalf("svg %.120s…", s)
	}
	if _, err := QRSVG(strings.Repeat("x", 5000)); err == nil {
		t.Fatal("a text too long for a QR code was encoded")
	}
}
