package httpapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
)

// BenchmarkPublishRequest is the hub's own work for one POST /publish of
// one event (memory log, no subscriber, no network): token check, body,
// decoding, append and answer. Its allocations per request are what the
// end-to-end publish figure pays in the garbage collector.
func BenchmarkPublishRequest(b *testing.B) {
	log := memory.New(memory.Options{Retention: hub.Retention{MaxEvents: 10000}})
	h, err := hub.New(log, hub.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	defer h.Close()
	api := New(h, Options{Verifier: auth.NewVerifier(testKey)})
	token, err := auth.Sign(testKey, []string{"*"}, nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"topic":"bench","data":"1764640000000000000|xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/publish", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		api.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}
