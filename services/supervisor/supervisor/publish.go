package supervisor

import (
	"context"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
)

// publish sends a record's public events to the EVENTS stream with their
// Nats-Msg-Id, so a repeat (another replica publishing the same outbox) is
// stored once. A failure is logged: the decision is committed either way.
func (s *Service) publish(ctx context.Context, evs []events.ServiceOutEvent) {
	futures := make([]jetstream.PubAckFuture, 0, len(evs))
	for _, ev := range evs {
		if ev.Subject == "" {
			continue
		}
		f, err := s.js.PublishMsgAsync(&nats.Msg{Subject: ev.Subject, Data: ev.Data}, jetstream.WithMsgID(ev.MsgID))
		if err != nil {
			s.log.Warn("publish event", "subject", ev.Subject, "err", err)
			continue
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			s.log.Warn("publish event", "subject", f.Msg().Subject, "err", err)
		case <-ctx.Done():
			return
		}
	}
}
