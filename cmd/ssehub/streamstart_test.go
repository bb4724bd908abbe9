package main

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStreamStartsAsDocsSay checks docs/api.md's account of a stream's
// first lines, byte for byte: a comment (then retry: with --retry), and
// then the position block only when the stream starts live.
func TestStreamStartsAsDocsSay(t *testing.T) {
	cfg := testConfig(t, "memory:")
	cfg.Retry = 2500 * time.Millisecond
	base, _ := startHub(t, cfg)
	last := mustPublish(t, base, `{"topic":"doc","data":"before"}`)
	for _, tc := range []struct {
		name, lastEventID string
		want              []string // the lines up to and including the first blank one
	}{
		{"without a Last-Event-ID: the position", "", []string{":", "retry: 2500", "id: " + last, ""}},
		{"with an id it cannot resume from: the reset", "no-such-id", []string{":", "retry: 2500", "id: " + last, "event: ssehub-reset",
			`data: {"reason":"unknown-id","lastEventId":"no-such-id","resumeFrom":"` + last + `"}`, ""}},
		// Up to date: no block at all; the next lines are the next event.
		{"with an id it resumes from: nothing but the replay", last, []string{":", "retry: 2500", "id: NEXT", "data: after", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // bounds every read below
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/events?topic=doc", nil)
			if tc.lastEventID != "" {
				req.Header.Set("Last-Event-ID", tc.lastEventID)
			}
			// Asked for explicitly, so the transport does not decompress:
			// the lines below are the bytes on the wire.
			req.Header.Set("Accept-Encoding", "gzip, br")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if enc := resp.Header.Get("Content-Encoding"); enc != "" {
				t.Errorf("the stream is sent with Content-Encoding %q: docs/troubleshooting.md says a stream is never compressed", enc)
			}
			r := bufio.NewReader(resp.Body)
			var got []string
			for len(got) < 2 {
				got = append(got, readLine(t, r))
			}
			want := tc.want
			if tc.lastEventID == last {
				// The comment and retry are all there is until an event
				// comes: publish one, and it is the next thing read.
				next := mustPublish(t, base, `{"topic":"doc","data":"after"}`)
				want = append([]string(nil), want...)
				want[2] = "id: " + next
			}
			for len(got) < len(want) {
				got = append(got, readLine(t, r))
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("stream started with\n%q\nwant\n%q", got, want)
			}
		})
	}
}

func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the stream: %v (after %q)", err, line)
	}
	return strings.TrimSuffix(line, "\n")
}
