//go:build !linux

package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

const defaultBenchReader = "goroutine"

func pollSubscribers(context.Context, []*benchSubscriber, *atomic.Int64, *sync.WaitGroup) error {
	return errors.New("--reader epoll works on Linux only; use --reader goroutine")
}

type streamPoller struct{}

func newStreamPoller(context.Context, int, *sync.WaitGroup) (*streamPoller, error) {
	return nil, errors.New("--resumers works on Linux only")
}

func (p *streamPoller) add(int, *benchSubscriber) error { return nil }
