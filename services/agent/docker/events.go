package docker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// eventActions are the container events the agent reacts to.
var eventActions = []string{ActionStart, ActionDie, ActionOOM, ActionHealthStatus, ActionStop, ActionKill, ActionDestroy}

// Events implements Runtime. The stream reconnects with back-off (100 ms up
// to Options.EventsRetryMax) and resumes from the last event seen; after each
// reconnect it sends an ActionReconnected event, since events may have been
// lost while the daemon was away.
func (c *Client) Events(ctx context.Context, labels map[string]string) <-chan Event {
	out := make(chan Event, 64)
	go func() {
		defer close(out)
		var since time.Time
		backoff := 100 * time.Millisecond
		for attempt := 0; ; attempt++ {
			f := make(client.Filters).Add("type", string(events.ContainerEventType)).Add("event", eventActions...)
			for k, v := range labels {
				if v == "" {
					f.Add("label", k)
				} else {
					f.Add("label", k+"="+v)
				}
			}
			opts := client.EventsListOptions{Filters: f}
			if !since.IsZero() {
				opts.Since = fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())
			}
			res := c.api.Events(ctx, opts)
			if attempt > 0 {
				select {
				case out <- Event{Action: ActionReconnected, Time: time.Now()}:
				case <-ctx.Done():
					return
				}
			}
			err := c.pump(ctx, res, out, &since, &backoff)
			if ctx.Err() != nil {
				return
			}
			c.log.Warn("docker event stream broken; reconnecting", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(backoff*2, c.eventsRetryMax)
		}
	}()
	return out
}

// pump copies messages until the stream fails; it resets the back-off once a
// message arrives.
func (c *Client) pump(ctx context.Context, res client.EventsResult, out chan<- Event, since *time.Time, backoff *time.Duration) error {
	for {
		select {
		case m := <-res.Messages:
			*backoff = 100 * time.Millisecond
			ev := fromMessage(m)
			if ev.Time.After(*since) {
				*since = ev.Time
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return ctx.Err()
			}
		case err := <-res.Err:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func fromMessage(m events.Message) Event {
	ev := Event{ContainerID: m.Actor.ID, Labels: m.Actor.Attributes}
	action := string(m.Action)
	if a, status, ok := strings.Cut(action, ":"); ok && a == ActionHealthStatus {
		action, ev.Health = a, strings.TrimSpace(status)
	}
	ev.Action = action
	if m.TimeNano != 0 {
		ev.Time = time.Unix(0, m.TimeNano)
	} else {
		ev.Time = time.Unix(m.Time, 0)
	}
	if s, ok := m.Actor.Attributes["exitCode"]; ok {
		if code, err := strconv.Atoi(s); err == nil {
			ev.ExitCode = &code
		}
	}
	return ev
}
