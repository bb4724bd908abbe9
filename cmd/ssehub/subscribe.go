package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/ssehub/ssehub/sseclient"
)

// subscribeCmd prints the events of topics as they arrive, reconnecting and
// resuming by itself, until interrupted.
func subscribeCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("subscribe", stderr)
	base := fs.String("url", "http://localhost:8080", "the hub's base URL")
	token := fs.String("token", "", "token allowing private topics (optional)")
	last := fs.String("last-event-id", "", "resume after this event")
	var topics listFlag
	fs.Var(&topics, "topic", "topic selector (repeat for several)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if err := refuseArgs(fs); err != nil {
		return err
	}
	if len(topics) == 0 {
		fmt.Fprintln(stderr, "usage: ssehub subscribe --topic SELECTOR [flags]")
		return errUsage
	}
	q := url.Values{"topic": topics}
	opts := []sseclient.Option{sseclient.WithLastEventID(*last)}
	if *token != "" {
		opts = append(opts, sseclient.WithHeader("Authorization", "Bearer "+*token))
	}
	stream := sseclient.New(strings.TrimSuffix(*base, "/")+"/events?"+q.Encode(), opts...).Connect(ctx)
	defer stream.Close()
	for {
		ev, err := stream.Next()
		var retry *sseclient.RetryError
		switch {
		case errors.As(err, &retry):
			fmt.Fprintf(stderr, "ssehub: %v; reconnecting in %v\n", retry.Err, retry.Delay)
			continue
		case ctx.Err() != nil:
			return nil
		case err != nil:
			return err
		}
		printEvent(stdout, ev.ID, ev.Type, ev.Data)
	}
}

// printEvent writes an event as an SSE block, readable and pipeable.
func printEvent(w io.Writer, id, typ, data string) {
	fmt.Fprintf(w, "id: %s\nevent: %s\n", id, typ)
	for _, line := range strings.Split(data, "\n") {
		fmt.Fprintf(w, "data: %s\n", line)
	}
	fmt.Fprintln(w)
}
