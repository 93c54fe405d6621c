package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/berth-project/berth/events"
)

// agentConnectedAge: an agent whose last heartbeat is older is counted as
// disconnected.
const agentConnectedAge = time.Minute

// RegisterNATSHealth adds Berth's JetStream health to the exporter, read
// at each collection: berth.jetstream.consumer.pending (messages not yet
// delivered plus delivered but not acknowledged, per stream and durable
// consumer: the consumers' lag), berth.jetstream.stream.messages and
// berth.agents.connected (agents with a heartbeat in the last minute, per
// cluster, from AGENT_HEARTBEATS).
func (x *Exporter) RegisterNATSHealth(js jetstream.JetStream) error {
	lag, err1 := x.meter.Int64ObservableGauge("berth.jetstream.consumer.pending", metric.WithUnit("{message}"),
		metric.WithDescription("messages a durable consumer has not yet processed (pending + ack pending)"))
	msgs, err2 := x.meter.Int64ObservableGauge("berth.jetstream.stream.messages", metric.WithUnit("{message}"))
	agents, err3 := x.meter.Int64ObservableGauge("berth.agents.connected", metric.WithUnit("{agent}"),
		metric.WithDescription("agents with a heartbeat in the last minute"))
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("metrics: health instruments: %w", err)
	}
	_, err := x.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		observeStreams(ctx, js, o, lag, msgs)
		observeAgents(ctx, js, o, agents)
		return nil
	}, lag, msgs, agents)
	if err != nil {
		return fmt.Errorf("metrics: health callback: %w", err)
	}
	return nil
}

func observeStreams(ctx context.Context, js jetstream.JetStream, o metric.Observer, lag, msgs metric.Int64ObservableGauge) {
	streams := js.ListStreams(ctx)
	for info := range streams.Info() {
		name := info.Config.Name
		if strings.HasPrefix(name, "KV_") {
			continue
		}
		o.ObserveInt64(msgs, int64(info.State.Msgs), metric.WithAttributes(attribute.String("stream", name)))
		s, err := js.Stream(ctx, name)
		if err != nil {
			continue
		}
		cons := s.ListConsumers(ctx)
		for ci := range cons.Info() {
			if ci.Config.Durable == "" {
				continue
			}
			o.ObserveInt64(lag, int64(ci.NumPending)+int64(ci.NumAckPending),
				metric.WithAttributes(attribute.String("stream", name), attribute.String("consumer", ci.Name)))
		}
	}
}

func observeAgents(ctx context.Context, js jetstream.JetStream, o metric.Observer, agents metric.Int64ObservableGauge) {
	s, err := js.Stream(ctx, events.StreamHeartbeats.Name)
	if err != nil {
		return
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(">"))
	if err != nil {
		return
	}
	connected := map[string]int64{}
	for subj := range info.State.Subjects {
		parts := strings.Split(subj, ".") // berth.agent.heartbeat.<cluster>.<id>
		if len(parts) != 5 {
			continue
		}
		if _, ok := connected[parts[3]]; !ok {
			connected[parts[3]] = 0
		}
		m, err := s.GetLastMsgForSubject(ctx, subj)
		if err == nil && time.Since(m.Time) < agentConnectedAge {
			connected[parts[3]]++
		}
	}
	for cluster, n := range connected {
		o.ObserveInt64(agents, n, metric.WithAttributes(attribute.String("ClusterName", cluster)))
	}
}
