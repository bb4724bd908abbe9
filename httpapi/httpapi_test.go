package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testKey = []byte("httpapi-test-key")

// newHub starts a hub on a memory log; both close when the test ends.
func newHub(t *testing.T) *hub.Hub {
	t.Helper()
	log := memory.New(memory.Options{})
	h, err := hub.New(log, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close()
		log.Close()
	})
	return h
}

// newServer serves a hub on a memory log until the test ends.
func newServer(t *testing.T, opts Options) (*httptest.Server, *hub.Hub) {
	t.Helper()
	h := newHub(t)
	opts.Verifier = auth.NewVerifier(testKey)
	srv := httptest.NewServer(New(h, opts))
	t.Cleanup(func() {
		h.Close() // ends the streams, which srv.Close waits for
		srv.Close()
	})
	return srv, h
}

// readUntil reads lines of an event stream until one has prefix, and
// returns the lines read, failing after a bound.
func readUntil(t *testing.T, r *bufio.Reader, prefix string) []string {
	t.Helper()
	var lines []string
	done := make(chan struct{})
	timer := time.AfterFunc(10*time.Second, func() { close(done) })
	defer timer.Stop()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v (after %q)", err, lines)
		}
		lines = append(lines, strings.TrimSuffix(line, "\n"))
		if strings.HasPrefix(line, prefix) {
			return lines
		}
		select {
		case <-done:
			t.Fatalf("no line %q within 10s (got %q)", prefix, lines)
		default:
		}
	}
}

func TestShutdownTellsStreamsWhenToComeBack(t *testing.T) {
	srv, h := newServer(t, Options{ShutdownRetry: 2 * time.Second, ShutdownJitter: time.Second})
	resp, err := http.Get(srv.URL + "/events?topic=t")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	readUntil(t, r, "id: ") // the stream is registered
	h.Close()
	lines := readUntil(t, r, "retry: ")
	var ms int
	if _, err := fmt.Sscanf(lines[len(lines)-1], "retry: %d", &ms); err != nil || ms < 2000 || ms >= 3000 {
		t.Fatalf("shutdown sent %q, want a retry from 2000 to 2999 ms", lines[len(lines)-1])
	}
}

func TestStreamRejectsInjectedLastEventID(t *testing.T) {
	srv, _ := newServer(t, Options{})
	resp, err := http.Get(srv.URL + "/events?topic=t&lastEventID=" + "a%0Adata:%20evil")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	resp, err = http.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("no topic: status %d, want 400", resp.StatusCode)
	}
}

func TestStatsStreamsFigures(t *testing.T) {
	srv, h := newServer(t, Options{StatsInterval: 10 * time.Millisecond})
	if _, err := h.Publish(context.Background(), hub.Event{Topics: []string{"t"}, Data: "x"}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(srv.URL + "/api/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := readUntil(t, bufio.NewReader(resp.Body), "data: ")
	if lines[len(lines)-2] != "event: stats" {
		t.Fatalf("stats frame %q has no event type", lines)
	}
	var s Snapshot
	if err := json.Unmarshal([]byte(strings.TrimPrefix(lines[len(lines)-1], "data: ")), &s); err != nil {
		t.Fatal(err)
	}
	if s.Published != 1 || s.Log.Last != 1 || s.Process.Goroutines == 0 {
		t.Errorf("snapshot = %+v, want 1 published, log at 1, some goroutines", s)
	}
}

func TestUnknownPathsAreNotFound(t *testing.T) {
	srv, _ := newServer(t, Options{})
	resp, err := http.Get(srv.URL + "/no/such/page")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET of an unknown path: %d, want 404", resp.StatusCode)
	}
}

// FuzzJSONString: the fast path of jsonString gives what encoding/json
// gives, for every input, and refuses what it refuses.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{`"plain"`, `"a\"b"`, `"\u00e9"`, "\"\xff\"", "\"tab\there\"", `"`, `""`, `"x" `, `"é"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := jsonString(raw)
		var want string
		werr := json.Unmarshal(raw, &want)
		if (err == nil) != (werr == nil) || got != want {
			t.Fatalf("jsonString(%q) = %q, %v; encoding/json: %q, %v", raw, got, err, want, werr)
		}
	})
}
