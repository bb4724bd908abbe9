package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
)

// A graceful stop, in the order that lets it finish at once: the server
// stops accepting while the hub ends every stream (each gets a retry and
// ends), then the API waits for the streams it took over from the server.
// Shutting the server down first, and closing the hub only after it
// returned, would wait for the streams served by net/http until the
// deadline, since a stream ends only when the hub ends it. Both ways of
// serving streams stop the same way.
func ExampleAPI_Drain() {
	for _, perStream := range []bool{false, true} {
		log := memory.New(memory.Options{})
		h, _ := hub.New(log, hub.Options{})
		api := httpapi.New(h, httpapi.Options{GoroutinePerStream: perStream, ShutdownRetry: 2 * time.Second, ShutdownJitter: time.Millisecond})
		mux := http.NewServeMux()
		api.Register(mux)
		srv := &http.Server{Handler: mux}
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()

		resp, err := http.Get("http://" + ln.Addr().String() + "/events?topic=news")
		if err != nil {
			panic(err)
		}
		stream := bufio.NewScanner(resp.Body)
		stream.Scan() // the stream is open

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		shut := make(chan error, 1)
		go func() { shut <- srv.Shutdown(ctx) }() // stop accepting; ordinary requests finish
		h.Close()                                 // end every subscription: streams get their retry and end
		shutErr := <-shut                         // returns once the streams net/http serves have ended
		drainErr := api.Drain(ctx)                // waits for the streams taken over from srv
		<-served
		log.Close()
		cancel()

		last := ""
		for stream.Scan() {
			if strings.HasPrefix(stream.Text(), "retry:") {
				last = stream.Text()
			}
		}
		resp.Body.Close()
		fmt.Printf("goroutine per stream %v: Shutdown %v, Drain %v, the stream's last field %q\n", perStream, shutErr, drainErr, last)
	}
	// Output:
	// goroutine per stream false: Shutdown <nil>, Drain <nil>, the stream's last field "retry: 2000"
	// goroutine per stream true: Shutdown <nil>, Drain <nil>, the stream's last field "retry: 2000"
}
