package control

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/ids"
)

// publisher announces committed changes on the public EVENTS stream in the
// EventBridge envelope. Every event carries Nats-Msg-Id <arn>#<version>, so
// publishing a change again (a retried report, a replayed clientToken, two
// replicas noticing the same disconnect) stores it once.
type publisher struct {
	js      jetstream.JetStream
	region  string
	account string
	log     *slog.Logger
	// counts gives an instance's pending and running tasks.
	counts func(cluster, id string) (pending, running int)
}

// outEvent is one event ready to publish.
type outEvent struct {
	subject string
	msgID   string
	data    []byte
}

// taskEvent is the "ECS Task State Change" of t at its current version.
func (p *publisher) taskEvent(t *events.TaskRecord) outEvent {
	return p.event(t.Cluster, events.KindTask, t.ID, t.ARN, t.Version, events.DetailTaskStateChange, t.UpdatedAt, taskDetail(t))
}

// instanceEvent is the "ECS Container Instance State Change" of r at its
// current version.
func (p *publisher) instanceEvent(r *events.InstanceRecord) outEvent {
	pending, running := p.counts(r.Cluster, r.ID)
	return p.event(r.Cluster, events.KindContainerInstance, r.ID, r.ARN, r.Version, events.DetailContainerInstanceStateChange, r.UpdatedAt, instanceDetail(r, pending, running))
}

func (p *publisher) event(cluster, kind, id, arn string, version int64, detailType string, at time.Time, detail any) outEvent {
	ev, err := events.NewEvent(ids.UUID(), events.SourceECS, detailType, p.account, p.region, at, []string{arn}, detail)
	if err != nil {
		p.log.Error("build event", "arn", arn, "err", err)
		return outEvent{}
	}
	return outEvent{
		subject: events.SubjECSEvent(cluster, kind, id),
		msgID:   events.ECSEventMsgID(arn, version),
		data:    mustJSON(ev),
	}
}

// publish sends the events and waits for the stream to store them. A
// failure is logged and returned: the change is committed either way.
func (p *publisher) publish(ctx context.Context, evs ...outEvent) error {
	futures := make([]jetstream.PubAckFuture, 0, len(evs))
	var firstErr error
	for _, ev := range evs {
		if ev.subject == "" {
			continue
		}
		msg := &nats.Msg{Subject: ev.subject, Data: ev.data, Header: nats.Header{}}
		f, err := p.js.PublishMsgAsync(msg, jetstream.WithMsgID(ev.msgID))
		if err != nil {
			p.log.Warn("publish event", "subject", ev.subject, "err", err)
			firstErr = cmpErr(firstErr, err)
			continue
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			p.log.Warn("publish event", "subject", f.Msg().Subject, "err", err)
			firstErr = cmpErr(firstErr, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return firstErr
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
