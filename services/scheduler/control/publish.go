package control

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/jsonx"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/internal/outbox"
)

// publisher announces committed changes on the public EVENTS stream in the
// EventBridge envelope, through internal/outbox. Every event carries
// Nats-Msg-Id <arn>#<version> and an event id derived from it, so
// publishing a change again (a retried report, a replayed clientToken, two
// replicas noticing the same disconnect, the relay) stores it once.
//
// An event is a function of its record, so the relay (a durable consumer
// on the state bucket's stream, see startState) derives it from the
// committed task or instance record itself; a write that replaces a record
// whose event this replica has not seen stored carries that event too
// (carry).
type publisher struct {
	out     *outbox.Publisher
	region  string
	account string
	log     *slog.Logger
	// counts gives an instance's pending and running tasks.
	counts func(cluster, id string) (pending, running int)
}

// outEvent is one event ready to publish.
type outEvent = outbox.Event

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
	msgID := events.ECSEventMsgID(arn, version)
	var data []byte
	detailJSON, err := jsonx.Marshal(detail)
	if err == nil {
		data, err = events.EncodeEventJSON(outbox.EventID(msgID), events.SourceECS, detailType, p.account, p.region, at, []string{arn}, detailJSON)
	}
	if err != nil {
		p.log.Error("build event", "arn", arn, "err", err)
		return outEvent{}
	}
	return outEvent{
		Subject: events.SubjECSEvent(cluster, kind, id),
		MsgID:   msgID,
		At:      at,
		Data:    data,
	}
}

// publish sends the events and waits for the stream to store them. A
// failure is logged and returned: the change is committed either way, and
// the relay publishes it later.
func (p *publisher) publish(ctx context.Context, evs ...outEvent) error {
	err := p.out.Publish(ctx, evs...)
	if err != nil {
		p.log.Warn("publish event", "err", err)
	}
	return err
}

// carryTask makes write i of b carry the event of prev, the task record it
// replaces, unless that event was seen stored (see outbox: the write may
// supersede prev before the relay saw it).
func (p *publisher) carryTask(b *batch, i int, prev *events.TaskRecord) {
	if prev == nil || p.out.Seen(events.ECSEventMsgID(prev.ARN, prev.Version)) {
		return
	}
	b.carry(i, p.taskEvent(prev))
}

// carryInstance is carryTask for an instance record.
func (p *publisher) carryInstance(b *batch, i int, prev *events.InstanceRecord) {
	if prev == nil || p.out.Seen(events.ECSEventMsgID(prev.ARN, prev.Version)) {
		return
	}
	b.carry(i, p.instanceEvent(prev))
}

// relayEvents are the events of a committed write of the state bucket, for
// the relay: the event of the task or instance record written, and those
// the write carries.
func (p *publisher) relayEvents(m jetstream.Msg) ([]outbox.Event, error) {
	evs, err := outbox.Attached(m.Headers())
	if err != nil {
		return nil, err
	}
	if kvDeleted(m.Headers()) {
		return evs, nil
	}
	if id := m.Headers().Get(eventIDHeader); id != "" && p.out.Seen(id) {
		return evs, nil // announced: no need to decode the record
	}
	key := strings.TrimPrefix(m.Subject(), natsutil.KVSubject(events.BucketECSState.Name, ""))
	if !recordKey(key) {
		return evs, nil
	}
	// Most writes were announced by this replica: look at the version
	// before decoding and rendering the whole record.
	var head struct {
		ARN     string `json:"arn"`
		Version int64  `json:"version"`
	}
	if err := jsonx.Unmarshal(m.Data(), &head); err != nil {
		return evs, fmt.Errorf("decode %s: %w", key, err)
	}
	if p.out.Seen(events.ECSEventMsgID(head.ARN, head.Version)) {
		return evs, nil
	}
	switch {
	case strings.HasPrefix(key, "task."):
		var t events.TaskRecord
		if err := jsonx.Unmarshal(m.Data(), &t); err != nil {
			return evs, fmt.Errorf("decode %s: %w", key, err)
		}
		evs = append(evs, p.taskEvent(&t))
	case strings.HasPrefix(key, "inst."):
		r, err := decodeInstance(m.Data())
		if err != nil {
			return evs, fmt.Errorf("decode %s: %w", key, err)
		}
		evs = append(evs, p.instanceEvent(r))
	}
	return evs, nil
}
