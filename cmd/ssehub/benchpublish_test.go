package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ssehub/ssehub/publisher"
)

// TestRawPosterReadsEveryAnswerShape: the load tool's own HTTP/1.1 client
// reads answers delimited by Content-Length, chunked, or by the end of the
// connection, skips interim 1xx answers, and keeps the connection only when
// the server lets it.
func TestRawPosterReadsEveryAnswerShape(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch string(body) {
		case "length":
			fmt.Fprint(w, "answer")
		case "chunked":
			fmt.Fprint(w, "ans")
			w.(http.Flusher).Flush() // net/http chunks what it did not hold
			fmt.Fprint(w, "wer")
		case "close":
			w.Header().Set("Connection", "close")
			fmt.Fprint(w, "answer")
		case "empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			http.Error(w, "refused", http.StatusBadRequest)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	p, err := newRawPoster(srv.URL+"/p", []string{"X-Test: 1"}, 1, &net.Dialer{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.closeIdle()
	for _, tc := range []struct {
		send, want string
		status     int
		newConns   int64 // connections opened by the end of this case
	}{
		{"length", "answer", 200, 1},
		{"chunked", "answer", 200, 1},
		{"length", "answer", 200, 1},
		{"bad", "refused\n", 400, 1},
		{"empty", "", 204, 1},
		{"close", "answer", 200, 1},
		{"length", "answer", 200, 2}, // the server closed the last one
	} {
		var status int
		var got string
		err := p.post(context.Background(), []byte(tc.send), func(s int, b []byte) error {
			status, got = s, string(b)
			return nil
		})
		if err != nil || status != tc.status || got != tc.want {
			t.Errorf("%s: got %d %q, %v; want %d %q", tc.send, status, got, err, tc.status, tc.want)
		}
		if n := conns.Load(); n != tc.newConns {
			t.Errorf("%s: %d connections opened so far, want %d", tc.send, n, tc.newConns)
		}
	}
}

// TestRawPosterSkipsInterimAnswersAndEndOfConnectionBodies, against a
// server scripted byte for byte, one connection per answer: a 100 Continue
// before the answer, an HTTP/1.0 answer that ends with the connection, and
// two malformed ones.
func TestRawPosterSkipsInterimAnswersAndEndOfConnectionBodies(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	answers := []string{
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: Close\r\n\r\nok",
		"HTTP/1.0 200 OK\r\n\r\nuntil the end",
		"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n",
		"garbage\r\n\r\n",
	}
	served := make(chan error, 1)
	go func() {
		for _, a := range answers {
			conn, err := ln.Accept()
			if err != nil {
				served <- err
				return
			}
			req, err := http.ReadRequest(bufio.NewReader(conn))
			if err == nil {
				_, err = io.ReadAll(req.Body)
			}
			if err == nil && req.Header.Get("Content-Length") != "4" {
				err = fmt.Errorf("Content-Length %q", req.Header.Get("Content-Length"))
			}
			if err == nil {
				_, err = io.WriteString(conn, a)
			}
			conn.Close()
			if err != nil {
				served <- err
				return
			}
		}
		served <- nil
	}()
	p, err := newRawPoster("http://"+ln.Addr().String()+"/", nil, 1, &net.Dialer{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	record := func(s int, b []byte) error {
		got = append(got, fmt.Sprintf("%d %s", s, b))
		return nil
	}
	for i := range answers {
		err := p.post(context.Background(), []byte("body"), record)
		if (err != nil) != (i >= 2) {
			t.Errorf("answer %d: error %v", i, err)
		}
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if want := []string{"200 ok", "200 until the end"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestRawPublisherPublishesToTheHub: one event goes as a JSON object, a
// batch as an array, through the real hub's POST /publish; a refusal comes
// back as the hub's *publisher.Error.
func TestRawPublisherPublishesToTheHub(t *testing.T) {
	base, _ := startHub(t, testConfig(t, "memory:"))
	publish, err := rawPublisher(benchConfig{URL: base, Token: publisherToken(t), Protocol: "ssehub", Publishers: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, n := range []int{1, 3} {
		batch := make([]publisher.Event, n)
		for i := range batch {
			batch[i] = publisher.Event{Topic: "t", Data: fmt.Sprint("event ", i)}
		}
		ids, err := publish(ctx, batch)
		if err != nil || len(ids) != n || ids[0] == "" {
			t.Errorf("a batch of %d: ids %q, %v", n, ids, err)
		}
	}
	bad, err := rawPublisher(benchConfig{URL: base, Token: "not-a-token", Protocol: "ssehub", Publishers: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad(ctx, []publisher.Event{{Topic: "t", Data: "x"}})
	if pe := (*publisher.Error)(nil); !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized {
		t.Errorf("a bad token gave %v, want the hub's 401", err)
	}
	if _, err := rawPublisher(benchConfig{URL: "https://example.invalid", Protocol: "ssehub"}); err == nil {
		t.Error("rawPublisher took an https URL, which it cannot speak")
	}
}
