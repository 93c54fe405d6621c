package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
)

// heartbeats tracks the last heartbeat of every agent, as the server
// stamped it into events.StreamHeartbeats. Heartbeats never touch the
// instance records: agentConnected is derived from the last one, and only
// a connect or disconnect changes the record (see runDetector).
type heartbeats struct {
	mu     sync.RWMutex
	last   map[string]time.Time // <cluster token>.<instance id> -> stream timestamp
	synced bool
}

func newHeartbeats() *heartbeats { return &heartbeats{last: map[string]time.Time{}} }

func hbKey(cluster, id string) string { return events.Token(cluster) + "." + id }

// lastSeen returns the time of the instance's last heartbeat (zero if none).
func (h *heartbeats) lastSeen(cluster, id string) time.Time {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.last[hbKey(cluster, id)]
}

func (h *heartbeats) isSynced() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.synced
}

// run follows the heartbeat stream with an ordered consumer (the last
// heartbeat of every agent first, then new ones) until ctx ends. Once the
// stored heartbeats are loaded it reports to synced.
func (h *heartbeats) run(ctx context.Context, js jetstream.JetStream, log *slog.Logger, synced chan<- error) {
	first := true
	report := func(err error) {
		if first {
			first = false
			synced <- err
		}
	}
	for ctx.Err() == nil {
		err := h.consume(ctx, js, func() {
			h.mu.Lock()
			h.synced = true
			h.mu.Unlock()
			report(nil)
		})
		if err != nil && ctx.Err() == nil {
			if first {
				report(err)
				return
			}
			log.Warn("heartbeat watch failed; retrying", "err", err)
			sleepCtx(ctx, time.Second)
		}
	}
}

func (h *heartbeats) consume(ctx context.Context, js jetstream.JetStream, markSynced func()) error {
	stream, err := js.Stream(ctx, events.StreamHeartbeats.Name)
	if err != nil {
		return fmt.Errorf("heartbeat stream: %w", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("heartbeat stream: %w", err)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return fmt.Errorf("heartbeat consumer: %w", err)
	}
	if info.State.Msgs == 0 {
		markSynced()
	}
	iter, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("heartbeat consumer: %w", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-cctx.Done()
		iter.Stop()
	}()
	for {
		m, err := iter.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return err
		}
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		// berth.agent.heartbeat.<cluster>.<instanceID>
		parts := strings.Split(m.Subject(), ".")
		if len(parts) == 5 {
			key := parts[3] + "." + parts[4]
			h.mu.Lock()
			if md.Timestamp.After(h.last[key]) {
				h.last[key] = md.Timestamp
			}
			h.mu.Unlock()
		}
		if md.NumPending == 0 {
			markSynced()
		}
	}
}

// connected reports whether rec's agent counts as connected at now: a
// heartbeat (or the registration) within the heartbeat timeout.
func (s *Service) connected(rec *events.InstanceRecord, now time.Time) bool {
	return now.Sub(s.lastContact(rec)) <= s.cfg.HeartbeatTimeout
}

// lastContact is the later of the agent's last heartbeat and its last
// registration.
func (s *Service) lastContact(rec *events.InstanceRecord) time.Time {
	seen := s.hb.lastSeen(rec.Cluster, rec.ID)
	if rec.ConnectedAt.After(seen) {
		return rec.ConnectedAt
	}
	return seen
}

// runDetector records agent connects and disconnects: a few times per
// heartbeat timeout it compares each instance's last contact with the
// AgentConnected of its record and, on a change, commits the record (a new
// version) and publishes an "ECS Container Instance State Change". Every
// replica runs it over the instances of its placement shards (all of them
// while it knows no other replica); where shards move, the commit's
// revision check lets exactly one replica record a transition, and the
// event's Nats-Msg-Id (<arn>#<version>) makes a repeated publish harmless.
// To keep replicas whose clocks differ slightly from flapping a record, an
// agent must be silent for the whole timeout to be marked disconnected, and
// heard within three quarters of it to be marked connected again.
func (s *Service) runDetector(ctx context.Context) {
	tick := max(s.cfg.HeartbeatTimeout/8, 50*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !s.hb.isSynced() {
			continue
		}
		now := s.cfg.Now()
		// Each replica watches the instances of its own shards, from its
		// placement view (current there); setConnected re-reads the
		// record before it writes.
		o := s.cache.ownership()
		for _, name := range s.cache.clusterNames() {
			for _, rec := range s.cache.placeSnapshot(name).recs {
				if !rec.Registered() || !o.OwnsKey(rec.ID) {
					continue
				}
				age := now.Sub(s.lastContact(rec))
				switch {
				case rec.AgentConnected && age > s.cfg.HeartbeatTimeout:
					s.setConnected(ctx, rec, false)
				case !rec.AgentConnected && age <= s.cfg.HeartbeatTimeout*3/4:
					s.setConnected(ctx, rec, true)
				}
			}
		}
	}
}

// setConnected records a connect or disconnect of rec's agent.
func (s *Service) setConnected(ctx context.Context, rec *events.InstanceRecord, connected bool) {
	_, _, err := s.updateInstance(ctx, rec.Cluster, rec.ID, func(cur *events.InstanceRecord) (*events.InstanceRecord, error) {
		if cur == nil || !cur.Registered() || cur.AgentConnected == connected {
			return nil, nil
		}
		age := s.cfg.Now().Sub(s.lastContact(cur))
		if (connected && age > s.cfg.HeartbeatTimeout*3/4) || (!connected && age <= s.cfg.HeartbeatTimeout) {
			return nil, nil // a newer registration or heartbeat changed the picture
		}
		next := cloneInstance(cur)
		next.AgentConnected = connected
		return next, nil
	})
	if err != nil && ctx.Err() == nil {
		s.log.Warn("record agent connectivity", "container_instance_arn", rec.ARN, "connected", connected, "err", err)
		return
	}
	if err == nil {
		s.log.Debug("agent connectivity changed", "container_instance_arn", rec.ARN, "connected", connected)
	}
}
