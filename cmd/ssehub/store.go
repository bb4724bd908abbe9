package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
	"github.com/ssehub/ssehub/store/nats"
	"github.com/ssehub/ssehub/store/pebble"
	"github.com/ssehub/ssehub/store/redis"
)

// openStore opens the log named by cfg.Store and returns it with its data
// folder ("" for stores that keep no files).
func openStore(ctx context.Context, cfg Config, logger *slog.Logger) (hub.Log, string, error) {
	if err := checkStore(cfg.Store); err != nil {
		return nil, "", err
	}
	kind, arg, _ := strings.Cut(cfg.Store, ":")
	switch kind {
	case "nats":
		url, stream, err := nats.ParseURL(cfg.Store)
		if err != nil {
			return nil, "", fmt.Errorf("--store: %w", err)
		}
		log, err := nats.Open(ctx, url, nats.Options{Stream: stream, Retention: cfg.retention()})
		if err != nil {
			return nil, "", fmt.Errorf("opening the nats store: %w", err)
		}
		return log, "", nil
	case "redis", "rediss", "redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel":
		target, stream, err := redis.ParseURL(cfg.Store)
		if err != nil {
			return nil, "", fmt.Errorf("--store: %w", err)
		}
		redis.RouteClientLogs(logger)
		log, err := redis.Open(ctx, target, redis.Options{
			Stream:    stream,
			Retention: cfg.retention(),
			Logger:    logger.With("component", "store"),
		})
		if err != nil {
			return nil, "", fmt.Errorf("opening the redis store: %w", err)
		}
		return log, "", nil
	case "memory":
		return memory.New(memory.Options{Retention: cfg.retention()}), "", nil
	case "file":
		if arg == "" {
			return nil, "", fmt.Errorf("--store %q: file: needs a folder, as in file:./ssehub-data", cfg.Store)
		}
		sync, err := pebble.ParseSyncPolicy(cfg.Sync)
		if err != nil {
			return nil, "", fmt.Errorf("--sync: %w", err)
		}
		if err := os.MkdirAll(arg, 0o700); err != nil {
			return nil, "", fmt.Errorf("creating the data folder: %w", err)
		}
		log, err := pebble.Open(arg, pebble.Options{
			Retention: cfg.retention(),
			Sync:      sync,
			Logger:    logger.With("component", "store"),
		})
		if err != nil {
			return nil, "", fmt.Errorf("opening the store in %s: %w", arg, err)
		}
		return log, arg, nil
	default:
		return nil, "", errUnknownStore(cfg.Store)
	}
}

// checkStore refuses a --store that openStore would, without connecting
// to anything, so that `ssehub config check` sees it too.
func checkStore(store string) error {
	kind, _, _ := strings.Cut(store, ":")
	switch kind {
	case "nats":
		if _, _, err := nats.ParseURL(store); err != nil {
			return storeURLError(err)
		}
	case "redis", "rediss", "redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel":
		if _, _, err := redis.ParseURL(store); err != nil {
			return storeURLError(err)
		}
	case "memory", "file":
	default:
		return errUnknownStore(store)
	}
	return nil
}

// storeURLError is an error of a store's URL parser. One from net/url
// quotes the whole address, password included, so only what it says is
// wrong is kept.
func storeURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return fmt.Errorf("--store: not a valid URL: %v", ue.Err)
	}
	return fmt.Errorf("--store: %w", err)
}

// errUnknownStore names the stores there are; the address is masked, as
// it may hold a password and the error goes to the journal.
func errUnknownStore(store string) error {
	return fmt.Errorf("--store %q: want file:FOLDER, memory:, redis://HOST:PORT[/DB][?stream=NAME] (or redis+cluster://HOST:PORT,… or redis+sentinel://HOST:PORT,…?master=NAME), nats://HOST:PORT[?stream=NAME]", maskURL(store))
}

// sharedStore reports whether the store is one several nodes share.
func sharedStore(store string) bool {
	kind, _, _ := strings.Cut(store, ":")
	return strings.HasPrefix(kind, "redis") || kind == "nats"
}
