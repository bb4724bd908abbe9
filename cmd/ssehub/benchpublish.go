package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ssehub/ssehub/publisher"
)

// The load tool's publishing side. Each publisher sends its requests over
// a keep-alive HTTP/1.1 connection of its own, written and read directly:
// one write of the whole request, one buffered read of the answer. With
// net/http's client, each request also woke the transport's two
// goroutines per connection and allocated its request and response
// structures, and the tool, which shares the machine's two cores with the
// hub it measures, spent more CPU per publish than the hub did.

// benchPostTimeout bounds one publish request, as the client's timeout did.
const benchPostTimeout = 30 * time.Second

// rawPoster sends POST requests to one endpoint over a pool of keep-alive
// connections, one per concurrent caller.
type rawPoster struct {
	host    string // host:port to dial and to name in Host
	head    []byte // the request head up to the Content-Length value
	dial    func(ctx context.Context) (net.Conn, error)
	idle    chan *rawConn
	timeout time.Duration
}

// rawConn is one connection and its buffers.
type rawConn struct {
	conn net.Conn
	br   *bufio.Reader
	req  []byte // the request being written
	body []byte // the answer's body, reused
	stop func() bool
}

// newRawPoster prepares requests to endpoint with the given headers (in
// order, each "Name: value"); conns bounds the idle connections kept.
func newRawPoster(endpoint string, headers []string, conns int, dialer *net.Dialer) (*rawPoster, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("the load tool publishes over plain http, not %q", u.Scheme)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	var head bytes.Buffer
	fmt.Fprintf(&head, "POST %s HTTP/1.1\r\nHost: %s\r\n", u.RequestURI(), u.Host)
	for _, h := range headers {
		head.WriteString(h + "\r\n")
	}
	head.WriteString("Content-Length: ")
	p := &rawPoster{host: host, head: head.Bytes(), idle: make(chan *rawConn, conns), timeout: benchPostTimeout}
	p.dial = func(ctx context.Context) (net.Conn, error) { return dialer.DialContext(ctx, "tcp", host) }
	return p, nil
}

// post sends body and returns the answer's status and body, valid until
// the next post on the same connection: answer reads it at once.
func (p *rawPoster) post(ctx context.Context, body []byte, answer func(status int, body []byte) error) error {
	c, err := p.get(ctx)
	if err != nil {
		return err
	}
	status, resp, keep, err := c.roundTrip(p, body)
	if err != nil {
		c.close()
		return err
	}
	err = answer(status, resp)
	if keep && ctx.Err() == nil {
		p.put(c)
	} else {
		c.close()
	}
	return err
}

func (p *rawPoster) get(ctx context.Context) (*rawConn, error) {
	select {
	case c := <-p.idle:
		return c, nil
	default:
	}
	conn, err := p.dial(ctx)
	if err != nil {
		return nil, err
	}
	c := &rawConn{conn: conn, br: bufio.NewReaderSize(conn, 4096)}
	// The run's end interrupts a request waiting for its answer.
	c.stop = context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	return c, nil
}

func (p *rawPoster) put(c *rawConn) {
	select {
	case p.idle <- c:
	default:
		c.close()
	}
}

// closeIdle closes the connections kept for later requests.
func (p *rawPoster) closeIdle() {
	for {
		select {
		case c := <-p.idle:
			c.close()
		default:
			return
		}
	}
}

func (c *rawConn) close() {
	c.stop()
	c.conn.Close()
}

// roundTrip writes one request and reads its answer. keep is false when the
// server asked to close the connection or its answer cannot be delimited.
func (c *rawConn) roundTrip(p *rawPoster, body []byte) (status int, resp []byte, keep bool, err error) {
	c.req = append(c.req[:0], p.head...)
	c.req = strconv.AppendInt(c.req, int64(len(body)), 10)
	c.req = append(c.req, "\r\n\r\n"...)
	c.req = append(c.req, body...)
	if err := c.conn.SetDeadline(time.Now().Add(p.timeout)); err != nil {
		return 0, nil, false, err
	}
	if _, err := c.conn.Write(c.req); err != nil {
		return 0, nil, false, err
	}
	for {
		status, length, chunked, keep, err := c.readHead()
		if err != nil {
			return 0, nil, false, err
		}
		if status >= 100 && status < 200 {
			continue // an interim answer (100 Continue): the real one follows
		}
		switch {
		case status == http.StatusNoContent || status == http.StatusNotModified:
			c.body = c.body[:0]
		case chunked:
			c.body, err = appendAll(c.body[:0], httputil.NewChunkedReader(c.br))
			if err == nil {
				err = c.skipTrailer()
			}
		case length >= 0:
			c.body, err = readN(c.body[:0], c.br, length)
		default: // delimited by the end of the connection
			c.body, err = appendAll(c.body[:0], c.br)
			keep = false
		}
		return status, c.body, keep && err == nil, err
	}
}

// maxAnswer bounds an answer's body the tool reads.
const maxAnswer = 1 << 20

// readHead reads a response's status line and headers. length is -1
// without Content-Length.
func (c *rawConn) readHead() (status int, length int64, chunked, keep bool, err error) {
	line, err := c.readLine()
	if err != nil {
		return 0, 0, false, false, err
	}
	proto, rest, _ := strings.Cut(string(line), " ")
	code, _, _ := strings.Cut(rest, " ")
	status, err = strconv.Atoi(code)
	if err != nil || !strings.HasPrefix(proto, "HTTP/1.") || len(code) != 3 {
		return 0, 0, false, false, fmt.Errorf("a malformed status line %q", line)
	}
	length, keep = -1, proto == "HTTP/1.1"
	for {
		line, err := c.readLine()
		if err != nil {
			return 0, 0, false, false, err
		}
		if len(line) == 0 {
			return status, length, chunked, keep, nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, 0, false, false, fmt.Errorf("a malformed header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "Content-Length"):
			length, err = strconv.ParseInt(string(value), 10, 64)
			if err != nil || length < 0 || length > maxAnswer {
				return 0, 0, false, false, fmt.Errorf("an answer with Content-Length %q", value)
			}
		case asciiEqualFold(name, "Transfer-Encoding"):
			chunked = asciiEqualFold(value, "chunked")
			if !chunked {
				return 0, 0, false, false, fmt.Errorf("an answer with Transfer-Encoding %q", value)
			}
		case asciiEqualFold(name, "Connection"):
			if asciiEqualFold(value, "close") {
				keep = false
			} else if asciiEqualFold(value, "keep-alive") {
				keep = true
			}
		}
	}
}

// skipTrailer reads what follows a chunked body's last chunk: trailer
// fields, if any, and the blank line that ends them.
func (c *rawConn) skipTrailer() error {
	for {
		line, err := c.readLine()
		if err != nil || len(line) == 0 {
			return err
		}
	}
}

// readLine returns one line of the head without its line end.
func (c *rawConn) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, errors.New("an answer's header line is longer than 4 KiB")
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

func asciiEqualFold(b []byte, s string) bool {
	return len(b) == len(s) && strings.EqualFold(string(b), s)
}

func readN(dst []byte, r io.Reader, n int64) ([]byte, error) {
	if int64(cap(dst)) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	_, err := io.ReadFull(r, dst)
	return dst, err
}

func appendAll(dst []byte, r io.Reader) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	_, err := buf.ReadFrom(io.LimitReader(r, maxAnswer+1))
	if err == nil && buf.Len() > maxAnswer {
		err = errors.New("an answer longer than 1 MiB")
	}
	return buf.Bytes(), err
}

// rawPublisher publishes batches the way the protocol takes them, over a
// rawPoster: for ssehub one POST /publish per batch (a JSON object for one
// event, an array for more), for Mercure one form POST per event, for
// Centrifugo one POST /api/publish per event.
func rawPublisher(c benchConfig) (func(context.Context, []publisher.Event) ([]string, error), error) {
	base := strings.TrimSuffix(c.URL, "/")
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	conns := max(c.Publishers, 1)
	switch c.Protocol {
	case "mercure":
		p, err := newRawPoster(base+"/.well-known/mercure", []string{
			"Content-Type: application/x-www-form-urlencoded", "Authorization: Bearer " + c.Token}, conns, dialer)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, batch []publisher.Event) ([]string, error) {
			ids := make([]string, 0, len(batch))
			for _, ev := range batch {
				data, _ := ev.Data.(string) // the load tool publishes strings
				body := "topic=" + url.QueryEscape(ev.Topic) + "&data=" + url.QueryEscape(data)
				err := p.post(ctx, []byte(body), func(status int, body []byte) error {
					if status != http.StatusOK {
						return fmt.Errorf("publishing to %s: %d %s: %s", base, status, http.StatusText(status), bytes.TrimSpace(body))
					}
					ids = append(ids, string(body))
					return nil
				})
				if err != nil {
					return nil, err
				}
			}
			return ids, nil
		}, nil
	case "centrifugo":
		p, err := newRawPoster(base+"/api/publish", []string{
			"Content-Type: application/json", centrifugoAPIKey + ": " + c.Token}, conns, dialer)
		if err != nil {
			return nil, err
		}
		channel := centrifugoChannel(c)
		return func(ctx context.Context, batch []publisher.Event) ([]string, error) {
			for _, ev := range batch {
				data, _ := ev.Data.(string)
				body, _ := json.Marshal(struct {
					Channel string            `json:"channel"`
					Data    centrifugoPayload `json:"data"`
				}{channel, centrifugoPayload{data}})
				err := p.post(ctx, body, func(status int, body []byte) error {
					if err := centrifugoAnswer(status, body); err != nil {
						return fmt.Errorf("publishing to %s: %w", base, err)
					}
					return nil
				})
				if err != nil {
					return nil, err
				}
			}
			return nil, nil
		}, nil
	}
	p, err := newRawPoster(base+"/publish", []string{
		"Content-Type: application/json", "Authorization: Bearer " + c.Token}, conns, dialer)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, batch []publisher.Event) ([]string, error) {
		var v any = batch
		if len(batch) == 1 {
			v = batch[0]
		}
		body, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		var ids []string
		err = p.post(ctx, body, func(status int, body []byte) error {
			ids, err = ssehubAnswer(status, body, len(batch))
			return err
		})
		return ids, err
	}, nil
}

// ssehubAnswer returns the ids of an answer to POST /publish, or the
// hub's refusal as a *publisher.Error.
func ssehubAnswer(status int, body []byte, events int) ([]string, error) {
	if status != http.StatusOK {
		var refusal struct{ Error string }
		if json.Unmarshal(body, &refusal) != nil || refusal.Error == "" {
			refusal.Error = strings.TrimSpace(string(body))
		}
		return nil, &publisher.Error{Status: status, Message: refusal.Error}
	}
	var ans struct {
		ID  string   `json:"id"`
		IDs []string `json:"ids"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, fmt.Errorf("the hub's answer is not JSON: %v", err)
	}
	if ans.ID != "" && ans.IDs == nil {
		ans.IDs = []string{ans.ID}
	}
	if len(ans.IDs) != events {
		return nil, fmt.Errorf("the hub answered %d ids for %d events", len(ans.IDs), events)
	}
	return ans.IDs, nil
}
