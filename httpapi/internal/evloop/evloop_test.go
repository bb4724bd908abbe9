//go:build linux

package evloop_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssehub/ssehub/httpapi/internal/evloop"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(fanoutReaderEnv); spec != "" {
		if err := fanoutReader(spec); err != nil {
			fmt.Fprintln(os.Stderr, "fan-out reader:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// fixture is a hub on a memory log and a loop serving its subscriptions
// to real TCP connections over loopback.
type fixture struct {
	t    testing.TB
	hub  *hub.Hub
	loop *evloop.Loop
	ln   net.Listener
	beat chan struct{} // closing it is a heartbeat
	mu   sync.Mutex
}

func newFixture(t testing.TB, hopts hub.Options, lopts evloop.Options) *fixture {
	t.Helper()
	log := memory.New(memory.Options{})
	h, err := hub.New(log, hopts)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, hub: h, beat: make(chan struct{})}
	lopts.Heartbeat = f.nextBeat
	if lopts.Final == nil {
		lopts.Final = func(err error) []byte {
			if errors.Is(err, hub.ErrHubClosed) {
				return []byte("retry: 1000\n\n")
			}
			return nil
		}
	}
	if f.loop, err = evloop.New(lopts); err != nil {
		t.Fatal(err)
	}
	if f.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.ln.Close()
		h.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := f.loop.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		log.Close()
	})
	return f
}

// nextBeat hands out the heartbeat channel; beatNow closes it.
func (f *fixture) nextBeat() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.beat
}

func (f *fixture) beatNow() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.beat)
	f.beat = make(chan struct{})
}

// closeWatch reports on ended when the loop closes the source.
type closeWatch struct {
	*hub.Subscription
	ended chan struct{}
}

func (c closeWatch) Close() {
	c.Subscription.Close()
	close(c.ended)
}

// client is the far end of one stream.
type client struct {
	conn  net.Conn
	r     *bufio.Reader
	ended chan struct{} // closed when the loop ended the stream
}

// open connects a client and hands the server side to the loop with a
// subscription to topics.
func (f *fixture) open(req hub.SubscribeRequest) *client {
	f.t.Helper()
	conn, server := f.dial()
	sub, err := f.hub.Subscribe(context.Background(), req)
	if err != nil {
		f.t.Fatal(err)
	}
	src := closeWatch{sub, make(chan struct{})}
	if err := f.loop.Add(server, src, false); err != nil {
		f.t.Fatal(err)
	}
	c := &client{conn: conn, r: bufio.NewReader(conn), ended: src.ended}
	if frame := c.frame(f.t); !strings.HasPrefix(frame, "id: ") {
		f.t.Fatalf("first frame %q, want the position", frame)
	}
	return c
}

// dial opens a TCP connection to the fixture's listener and returns both
// ends; the client's end is closed when the test ends.
func (f *fixture) dial() (client, server net.Conn) {
	f.t.Helper()
	client, err := net.Dial("tcp", f.ln.Addr().String())
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { client.Close() })
	if server, err = f.ln.Accept(); err != nil {
		f.t.Fatal(err)
	}
	return client, server
}

// frame reads the next frame (up to a blank line) within a bound.
func (c *client) frame(t testing.TB) string {
	t.Helper()
	f, err := c.readFrame()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (c *client) readFrame() (string, error) {
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("reading a frame: %w (so far %q)", err, b.String())
		}
		b.WriteString(line)
		if line == "\n" {
			return b.String(), nil
		}
	}
}

// waitEnded waits until the loop has ended the client's stream.
func (c *client) waitEnded(t *testing.T, why string) {
	t.Helper()
	select {
	case <-c.ended:
	case <-time.After(10 * time.Second):
		t.Fatalf("the stream did not end: %s", why)
	}
}

func (f *fixture) publish(evs ...hub.Event) []string {
	f.t.Helper()
	ids, err := f.hub.Publish(context.Background(), evs...)
	if err != nil {
		f.t.Fatal(err)
	}
	return ids
}

func TestStreamsReceiveTheirEvents(t *testing.T) {
	f := newFixture(t, hub.Options{}, evloop.Options{})
	a := f.open(hub.SubscribeRequest{Topics: []string{"a"}})
	b := f.open(hub.SubscribeRequest{Topics: []string{"b"}})
	ids := f.publish(hub.Event{Topics: []string{"a"}, Data: "for a"}, hub.Event{Topics: []string{"b"}, Data: "for b\nline two"})
	if got, want := a.frame(t), "id: "+ids[0]+"\ndata: for a\n\n"; got != want {
		t.Errorf("a got %q, want %q", got, want)
	}
	if got, want := b.frame(t), "id: "+ids[1]+"\ndata: for b\ndata: line two\n\n"; got != want {
		t.Errorf("b got %q, want %q", got, want)
	}
	if n := f.loop.Len(); n != 2 {
		t.Errorf("Len = %d, want 2", n)
	}
}

func TestAHungUpClientEndsItsStream(t *testing.T) {
	f := newFixture(t, hub.Options{}, evloop.Options{})
	gone := f.open(hub.SubscribeRequest{Topics: []string{"a"}})
	stays := f.open(hub.SubscribeRequest{Topics: []string{"a"}})
	gone.conn.Close()
	// No event and no heartbeat is sent: the loop notices the hang-up
	// from the socket alone.
	gone.waitEnded(t, "its client hung up")
	if n := f.loop.Len(); n != 1 {
		t.Errorf("Len = %d, want 1", n)
	}
	ids := f.publish(hub.Event{Topics: []string{"a"}, Data: "still here"})
	if got := stays.frame(t); !strings.Contains(got, ids[0]) {
		t.Errorf("the other stream got %q", got)
	}
}

func TestHeartbeatReachesIdleStreamsOnly(t *testing.T) {
	f := newFixture(t, hub.Options{}, evloop.Options{})
	c := f.open(hub.SubscribeRequest{Topics: []string{"a"}})
	f.beatNow()
	if got := c.frame(t); got != evloop.HeartbeatFrame {
		t.Fatalf("got %q, want a heartbeat", got)
	}
	f.beatNow()
	if got := c.frame(t); got != evloop.HeartbeatFrame {
		t.Fatalf("got %q, want the second heartbeat", got)
	}
}

func TestLargeEventsArriveWholeAndInOrder(t *testing.T) {
	// 16 MiB are published before the client reads: budgets above that.
	f := newFixture(t, hub.Options{QueueBytes: 32 << 20}, evloop.Options{MaxUnsent: 32 << 20})
	c := f.open(hub.SubscribeRequest{Topics: []string{"big"}})
	// Far more than a socket buffer holds: writes come back short and the
	// rest waits for the client to read.
	const n, size = 64, 256 << 10
	var want []string
	for i := range n {
		data := fmt.Sprintf("%03d:", i) + strings.Repeat(string(rune('a'+i%26)), size)
		ids := f.publish(hub.Event{Topics: []string{"big"}, Data: data})
		want = append(want, "id: "+ids[0]+"\ndata: "+data+"\n\n")
	}
	for i := range n {
		if got := c.frame(t); got != want[i] {
			t.Fatalf("event %d: got %d bytes starting %q, want %d bytes starting %q", i, len(got), got[:min(len(got), 20)], len(want[i]), want[i][:20])
		}
	}
}

func TestReplayLongerThanOneTurn(t *testing.T) {
	f := newFixture(t, hub.Options{ReplayBatch: 16}, evloop.Options{})
	first := f.publish(hub.Event{Topics: []string{"r"}, Data: "first"})
	var evs []hub.Event
	for i := range 1000 {
		evs = append(evs, hub.Event{Topics: []string{"r"}, Data: fmt.Sprint(i)})
	}
	ids := f.publish(evs...)
	conn, server := f.dial()
	sub, err := f.hub.Subscribe(context.Background(), hub.SubscribeRequest{Topics: []string{"r"}, LastEventID: first[0]})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.loop.Add(server, sub, false); err != nil {
		t.Fatal(err)
	}
	c := &client{conn: conn, r: bufio.NewReader(conn)}
	for i, id := range ids {
		if got, want := c.frame(t), fmt.Sprintf("id: %s\ndata: %d\n\n", id, i); got != want {
			t.Fatalf("replayed event %d: got %q, want %q", i, got, want)
		}
	}
}

func TestAClientThatStopsReadingIsClosedAlone(t *testing.T) {
	f := newFixture(t, hub.Options{QueueSize: 8}, evloop.Options{WriteTimeout: 200 * time.Millisecond})
	stalled := f.open(hub.SubscribeRequest{Topics: []string{"s"}})
	reader := f.open(hub.SubscribeRequest{Topics: []string{"s"}})
	// The reader takes every event before the next is published; the
	// stalled client reads nothing, so its socket fills, then its queue
	// overflows or its write times out, whichever comes first.
	data := strings.Repeat("x", 128<<10)
	for i := 0; ; i++ {
		select {
		case <-stalled.ended:
			return
		default:
		}
		if i == 2000 {
			t.Fatal("the stalled stream is still open after 2000 events (250 MiB)")
		}
		ids := f.publish(hub.Event{Topics: []string{"s"}, Data: data})
		if got := reader.frame(t); !strings.HasPrefix(got, "id: "+ids[0]+"\n") {
			t.Fatalf("the reader got %q…", got[:min(len(got), 40)])
		}
	}
}

func TestShutdownSendsTheFinalFrame(t *testing.T) {
	f := newFixture(t, hub.Options{}, evloop.Options{})
	c := f.open(hub.SubscribeRequest{Topics: []string{"a"}})
	f.hub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.loop.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got := c.frame(t); got != "retry: 1000\n\n" {
		t.Fatalf("last frame %q, want the retry", got)
	}
	if _, err := c.r.ReadByte(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want EOF", err)
	}
	_, server := f.dial()
	defer server.Close()
	if err := f.loop.Add(server, nil, false); !errors.Is(err, evloop.ErrClosed) {
		t.Fatalf("Add after Shutdown: %v, want ErrClosed", err)
	}
}

func TestShutdownClosesWhatOutlivesItsContext(t *testing.T) {
	f := newFixture(t, hub.Options{}, evloop.Options{})
	c := f.open(hub.SubscribeRequest{Topics: []string{"a"}})
	// The hub stays open, so the subscription never ends by itself.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.loop.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown: %v, want context.Canceled", err)
	}
	c.waitEnded(t, "Shutdown's context ended")
	if _, err := c.r.ReadByte(); err != io.EOF {
		t.Fatalf("after Shutdown: %v, want EOF", err)
	}
}

func TestAddRefusesAConnectionWithoutADescriptor(t *testing.T) {
	f := newFixture(t, hub.Options{}, evloop.Options{})
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := f.loop.Add(a, nil, false); !errors.Is(err, evloop.ErrUnsupported) {
		t.Fatalf("Add(net.Pipe): %v, want ErrUnsupported", err)
	}
}

func TestShutdownTwiceAtOnce(t *testing.T) {
	f := newFixture(t, hub.Options{}, evloop.Options{})
	f.open(hub.SubscribeRequest{Topics: []string{"a"}})
	f.hub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- f.loop.Shutdown(ctx) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	}
	if n := f.loop.Len(); n != 0 {
		t.Errorf("Len after Shutdown = %d", n)
	}
}

// TestChunkedStream: with chunked coding every write is a chunk, a
// heartbeat too, and a stream its source ends ends with the last chunk.
func TestChunkedStream(t *testing.T) {
	f := newFixture(t, hub.Options{}, evloop.Options{})
	conn, server := f.dial()
	sub, err := f.hub.Subscribe(context.Background(), hub.SubscribeRequest{Topics: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.loop.Add(server, sub, true); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	body := bufio.NewReader(httputil.NewChunkedReader(bufio.NewReader(conn)))
	c := &client{conn: conn, r: body}
	if got := c.frame(t); !strings.HasPrefix(got, "id: ") {
		t.Fatalf("first frame %q", got)
	}
	ids := f.publish(hub.Event{Topics: []string{"a"}, Data: "one\ntwo"})
	if got, want := c.frame(t), "id: "+ids[0]+"\ndata: one\ndata: two\n\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	f.beatNow()
	if got := c.frame(t); got != evloop.HeartbeatFrame {
		t.Fatalf("got %q, want a heartbeat", got)
	}
	f.hub.Close()
	if got := c.frame(t); got != "retry: 1000\n\n" {
		t.Fatalf("last frame %q, want the retry", got)
	}
	// The chunked reader reports EOF only on the last chunk ("0\r\n"):
	// a connection closed without it would be ErrUnexpectedEOF.
	if _, err := body.ReadByte(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want the end of the body", err)
	}
}
