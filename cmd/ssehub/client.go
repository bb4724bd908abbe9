package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/publisher"
)

// tokenCmd prints a token signed with the hub's key.
func tokenCmd(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("token", stderr)
	key := fs.String("jwt-key", "", "the hub's token key (default: the one kept in --data)")
	data := fs.String("data", "./ssehub-data", "the hub's data folder, where a generated key is kept")
	var publish, subscribe listFlag
	fs.Var(&publish, "publish", "selectors the token may publish to (repeat or comma-separate; default * unless --subscribe is given)")
	fs.Var(&subscribe, "subscribe", "selectors of private topics the token may receive")
	ttl := fs.Duration("ttl", 0, "how long the token is valid (0: no expiry)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if *key == "" {
		b, err := os.ReadFile(filepath.Join(*data, "jwt.key"))
		if err != nil {
			return fmt.Errorf("no --jwt-key given and none kept in %s: %w", *data, err)
		}
		*key = strings.TrimSpace(string(b))
	}
	if len(publish) == 0 && len(subscribe) == 0 {
		publish = listFlag{"*"}
	}
	token, err := auth.Sign([]byte(*key), publish, subscribe, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, token)
	return nil
}

// publishCmd publishes one event over HTTP and prints its id.
func publishCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("publish", stderr)
	url := fs.String("url", "http://localhost:8080", "the hub's base URL")
	token := fs.String("token", "", "publisher token")
	var topics listFlag
	fs.Var(&topics, "topic", "topic to publish to (repeat for several)")
	typ := fs.String("type", "", "event type")
	evID := fs.String("id", "", "event id (default: assigned by the hub)")
	retry := fs.Duration("retry", 0, "reconnection delay to send with the event")
	private := fs.Bool("private", false, "deliver only to subscribers allowed to receive the topic")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() != 1 || len(topics) == 0 {
		fmt.Fprintln(stderr, "usage: ssehub publish --topic TOPIC [flags] DATA   (DATA - reads standard input)")
		return errUsage
	}
	data := fs.Arg(0)
	if data == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return err
		}
		data = string(b)
	}
	client := publisher.New(*url, *token, &http.Client{Timeout: 30 * time.Second})
	id, err := client.Publish(ctx, publisher.Event{
		Topics: topics, Data: data, Type: *typ, ID: *evID,
		Retry: retry.Milliseconds(), Private: *private,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, id)
	return nil
}
