package cron

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
)

// startRuleMatching follows the EVENTS stream with the durable consumer
// shared by every replica and, for every event and every enabled rule
// whose pattern matches it, queues one fire message per target on
// CRON_FIRES with Nats-Msg-Id match/<rule>/<target>@<event id>: a
// redelivered event queues nothing twice. Events published before the
// consumer first existed are not matched.
func (s *Service) startRuleMatching(ctx context.Context) (func(), error) {
	cons, err := s.js.CreateOrUpdateConsumer(ctx, events.StreamEvents.Name, jetstream.ConsumerConfig{
		Durable:       rulesConsumer,
		Description:   "cron replicas matching events against EventBridge rules",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxAckPending: 1000,
		DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("cron: rules consumer: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { s.matchEvent(ctx, m) }, jetstream.PullMaxMessages(64))
	if err != nil {
		return nil, fmt.Errorf("cron: consume events: %w", err)
	}
	return cc.Stop, nil
}

func (s *Service) matchEvent(ctx context.Context, m jetstream.Msg) {
	rules := s.cache.matching(m.Data())
	if len(rules) == 0 {
		_ = m.Ack()
		return
	}
	var ev struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(m.Data(), &ev); err != nil || ev.ID == "" {
		_ = m.Ack()
		return
	}
	for _, r := range rules {
		for _, t := range r.rule.Targets {
			f := fireMsg{Kind: "match", Key: r.key, TargetID: t.Id, EventID: ev.ID, Event: m.Data()}
			data, _ := json.Marshal(f)
			msg := &nats.Msg{Subject: events.SubjCronFire("match", r.rule.Bus, r.rule.Name), Data: data, Header: nats.Header{"Berth-Type": {TypeFire}}}
			if _, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(f.msgID())); err != nil {
				s.log.Warn("queue matched event", "rule", r.rule.ARN, "err", err)
				_ = m.Nak()
				return
			}
		}
	}
	_ = m.Ack()
}
