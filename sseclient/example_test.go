package sseclient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/ssehub/ssehub/sseclient"
)

func Example() {
	// A server that sends two events and hangs up, then answers 204 to the
	// reconnection to say that the stream is over.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Last-Event-ID") == "2" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "retry: 10\n\nid: 1\ndata: hello\n\nid: 2\nevent: bye\ndata: world\n\n")
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := sseclient.New(srv.URL, sseclient.WithHTTPClient(srv.Client()))
	for ev, err := range c.Events(ctx) {
		var retry *sseclient.RetryError
		switch {
		case errors.As(err, &retry):
			fmt.Println("dropped:", retry.Err)
		case err != nil:
			fmt.Println("stopped:", err)
		default:
			fmt.Println(ev.ID, ev.Type, ev.Data)
		}
	}
	// Output:
	// 1 message hello
	// 2 bye world
	// dropped: EOF
	// stopped: sseclient: server answered 204 No Content: the stream is over
}
