package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/auth"
)

// TestDrainWhileStreamsStart: streams may still be handed a goroutine
// while Drain waits for the others (a shutdown does not stop requests in
// flight). Run under -race: counting them must not race with the wait.
func TestDrainWhileStreamsStart(t *testing.T) {
	for range 20 {
		h := newHub(t)
		api := New(h, Options{Verifier: auth.NewVerifier(testKey)})
		srv := httptest.NewUnstartedServer(api)
		srv.Listener = hidingListener{srv.Listener} // every stream on a goroutine of its own
		srv.Start()
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events?topic=t", nil)
				if resp, err := client.Do(req); err == nil {
					resp.Body.Close()
				}
			})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_ = api.Drain(ctx)
		cancel()
		wg.Wait()
		h.Close()
		srv.Close()
		client.CloseIdleConnections()
	}
}
