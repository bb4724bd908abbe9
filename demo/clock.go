package demo

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// ClockTopic carries the clock demo: the first seed's endpoint, which sends
// "Controller {i} at {time}" every five seconds as a plain message.
const ClockTopic = "demo/clock"

type clock struct {
	hub *hub.Hub
	now func() time.Time
	log *slog.Logger
	n   int // ticks so far; touched only by the publisher goroutine
}

func (c *clock) tick(ctx context.Context) {
	c.n++
	data := fmt.Sprintf("Controller %d at %s", c.n, c.now().Format(time.RFC3339))
	if _, err := c.hub.Publish(ctx, hub.Event{Topics: []string{ClockTopic}, Data: data}); err != nil {
		logPublishError(ctx, c.log, "clock", err)
	}
}
