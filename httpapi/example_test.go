package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/ssehub/ssehub/httpapi"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
)

// The hub's HTTP handlers can be mounted on a program's own mux, next to
// its other routes; the program publishes with Go calls.
func ExampleAPI_Register() {
	log := memory.New(memory.Options{})
	defer log.Close()
	h, _ := hub.New(log, hub.Options{})
	defer h.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "my own route") })
	httpapi.New(h, httpapi.Options{}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/events?topic=news")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	h.Publish(context.Background(), hub.Event{Topics: []string{"news"}, ID: "n1", Data: "SSE is simple"})

	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "id: n1") {
			break
		}
	}
	lines.Scan()
	fmt.Println(lines.Text())
	// Output:
	// data: SSE is simple
}
