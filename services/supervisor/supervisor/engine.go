package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/services/supervisor/reconcile"
)

// consumerName is the durable consumer on EVENTS every replica shares:
// each task or instance event reaches one replica, which reconciles the
// services it concerns.
const consumerName = "supervisor"

// staleAfter is how old a launch or a stop must be before a replica that
// finds it in a record (its decider may have died) re-sends it.
const staleAfter = 3 * time.Second

// startLoops starts the workers, the tick that finds due services and the
// event consumer.
func (s *Service) startLoops(ctx context.Context, bg *sync.WaitGroup) {
	for range s.cfg.Workers {
		bg.Go(func() {
			for {
				key, ok := s.queue.next()
				if !ok {
					return
				}
				if err := s.reconcile(ctx, key); err != nil && ctx.Err() == nil {
					s.log.Warn("reconcile", "service", key, "err", err)
				}
				s.queue.done(key)
			}
		})
	}
	bg.Go(func() {
		<-ctx.Done()
		s.queue.stop()
	})
	bg.Go(func() { s.tick(ctx) })
	bg.Go(func() {
		for ctx.Err() == nil {
			if err := s.consume(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("event consumer restarting", "err", err)
				sleep(ctx, time.Second)
			}
		}
	})
}

// tick queues the services that are due: a WakeAt passed, a launch or stop
// left behind, or no reconcile for a Resync interval.
func (s *Service) tick(ctx context.Context) {
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.cfg.Now()
		for _, c := range s.cache.list(func(_ string, r *events.ServiceRecord) bool { return due(r, now, s.cfg.Resync) }) {
			s.queue.add(events.ServiceKey(c.rec.Cluster, c.rec.Name))
		}
	}
}

// due reports whether rec needs a reconcile without any event.
func due(r *events.ServiceRecord, now time.Time, resync time.Duration) bool {
	if r.Status == events.ServiceInactive && len(r.Tasks) == 0 && len(r.Launches) == 0 {
		return false
	}
	if !r.WakeAt.IsZero() && !now.Before(r.WakeAt) {
		return true
	}
	if now.Sub(r.UpdatedAt) >= resync {
		return true
	}
	if len(r.Launches) > 0 && now.Sub(r.UpdatedAt) >= staleAfter {
		return true
	}
	for _, t := range r.Tasks {
		if t.StopReason != "" && t.DesiredStatus != events.DesiredStopped && now.Sub(r.UpdatedAt) >= staleAfter {
			return true
		}
	}
	return false
}

// consume follows the task and container-instance events.
func (s *Service) consume(ctx context.Context) error {
	cons, err := s.js.CreateOrUpdateConsumer(ctx, events.StreamEvents.Name, jetstream.ConsumerConfig{
		Durable:        consumerName,
		Description:    "supervisor: task and container instance events trigger service reconciles",
		FilterSubjects: []string{events.SubjECSEventFilter("", events.KindTask), events.SubjECSEventFilter("", events.KindContainerInstance)},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        30 * time.Second,
		MaxAckPending:  10000,
	})
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		s.onEvent(m.Data())
		_ = m.Ack()
	})
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	defer cc.Stop()
	select {
	case <-ctx.Done():
		return nil
	case <-cc.Closed():
		return errors.New("consumer closed")
	}
}

// eventFields are the parts of task and instance events the supervisor
// reads.
type eventFields struct {
	DetailType string `json:"detail-type"`
	Detail     struct {
		Group      string `json:"group"`
		ClusterArn string `json:"clusterArn"`
		Status     string `json:"status"`
		Arn        string `json:"containerInstanceArn"`
	} `json:"detail"`
}

// onEvent queues the services an event concerns: the service of a task
// (group service:<name>); for an instance whose status this replica has
// not seen yet, every service of its cluster (DAEMON services follow
// instances, REPLICA ones move off DRAINING ones).
func (s *Service) onEvent(data []byte) {
	var ev eventFields
	if json.Unmarshal(data, &ev) != nil {
		return
	}
	cluster := ev.Detail.ClusterArn[strings.LastIndexByte(ev.Detail.ClusterArn, '/')+1:]
	switch ev.DetailType {
	case events.DetailTaskStateChange:
		if name, ok := strings.CutPrefix(ev.Detail.Group, "service:"); ok {
			s.queue.add(events.ServiceKey(cluster, name))
		}
	case events.DetailContainerInstanceStateChange:
		if !s.instanceChanged(ev.Detail.Arn, ev.Detail.Status) {
			return
		}
		for _, c := range s.cache.list(func(_ string, r *events.ServiceRecord) bool { return r.Cluster == cluster }) {
			s.queue.add(events.ServiceKey(c.rec.Cluster, c.rec.Name))
		}
	}
}

// instanceChanged remembers an instance's status and reports whether it
// differs from the last one this replica saw.
func (s *Service) instanceChanged(arn, status string) bool {
	s.instMu.Lock()
	defer s.instMu.Unlock()
	if s.instStatus == nil {
		s.instStatus = map[string]string{}
	}
	if s.instStatus[arn] == status {
		return false
	}
	s.instStatus[arn] = status
	return true
}

// reconcile brings one service closer to its configuration: re-send what
// a previous decision left behind, observe, decide, commit, act.
func (s *Service) reconcile(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	for range maxAttempts {
		rec, rev, err := s.store.get(ctx, key)
		if err != nil || rec == nil {
			return err
		}
		now := s.cfg.Now().UTC()
		if len(rec.Outbox) > 0 && now.Sub(rec.UpdatedAt) < time.Minute {
			s.publish(ctx, rec.Outbox)
		}
		if len(rec.Launches) > 0 {
			// Launches decided earlier, by this replica or one that died:
			// the clientToken makes sending them again safe.
			if err := s.runLaunches(ctx, key, rec.Launches); err != nil {
				return err
			}
			if rec, rev, err = s.store.get(ctx, key); err != nil || rec == nil {
				return err
			}
		}
		in, err := s.observe(ctx, rec)
		if err != nil {
			return err
		}
		next := clone(rec)
		res := reconcile.Decide(next, in, s.params())
		s.resendStops(ctx, rec, in)
		if !res.Changed && now.Sub(rec.ReconciledAt) < s.cfg.Resync/2 {
			return nil
		}
		next.Version++
		next.UpdatedAt, next.ReconciledAt = now, now
		n, err := s.store.put(ctx, key, next, rev)
		if errors.Is(err, errConflict) {
			continue
		}
		if err != nil {
			return err
		}
		s.cache.put(key, next, n)
		s.log.Debug("decided", "service", key, "revision", n, "launches", len(next.Launches), "stops", len(res.Stops))
		s.publish(ctx, next.Outbox)
		s.stopAll(ctx, next.Cluster, res.Stops)
		if len(next.Launches) > 0 {
			return s.runLaunches(ctx, key, next.Launches)
		}
		return nil
	}
	return fmt.Errorf("reconcile %s: too much contention", key)
}

// stopAll sends the StopTask calls of a decision, a few at once (each is
// a commit in the scheduler).
func (s *Service) stopAll(ctx context.Context, cluster string, stops []reconcile.Stop) {
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, st := range stops {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := s.ecs.stopTask(ctx, cluster, st.ARN, st.Reason); err != nil {
				s.log.Warn("stop task", "cluster", cluster, "task", st.ARN, "err", err)
			}
		})
	}
	wg.Wait()
}

// resendStops re-sends the stops a previous decision made that the
// scheduler has not applied (the decider may have died before sending).
func (s *Service) resendStops(ctx context.Context, prev *events.ServiceRecord, in reconcile.Input) {
	var stops []reconcile.Stop
	for _, t := range prev.Tasks {
		o, seen := in.Tasks[t.ARN]
		if t.StopReason == "" || (seen && (o.Missing || o.DesiredStatus == events.DesiredStopped)) {
			continue
		}
		stops = append(stops, reconcile.Stop{ARN: t.ARN, Reason: t.StopReason})
	}
	s.stopAll(ctx, prev.Cluster, stops)
}

// runLaunches sends each launch's RunTask and folds its tasks into the
// record.
func (s *Service) runLaunches(ctx context.Context, key string, launches []events.ServiceLaunch) error {
	for _, l := range launches {
		r, err := s.ecs.runLaunch(ctx, l)
		if err != nil {
			return fmt.Errorf("launch %s: %w", l.Token, err)
		}
		if err := s.foldLaunch(ctx, key, l.Token, r); err != nil {
			return err
		}
	}
	return nil
}

// foldLaunch records a launch's tasks with compare-and-set.
func (s *Service) foldLaunch(ctx context.Context, key, token string, r reconcile.LaunchResult) error {
	for range maxAttempts {
		rec, rev, err := s.store.get(ctx, key)
		if err != nil || rec == nil {
			return err
		}
		now := s.cfg.Now().UTC()
		rec.Outbox = nil
		if !reconcile.FoldLaunch(rec, token, r, now, s.params()) {
			return nil
		}
		rec.Version++
		rec.UpdatedAt = now
		n, err := s.store.put(ctx, key, rec, rev)
		if errors.Is(err, errConflict) {
			continue
		}
		if err != nil {
			return err
		}
		s.cache.put(key, rec, n)
		s.publish(ctx, rec.Outbox)
		return nil
	}
	return fmt.Errorf("fold launch %s: too much contention", token)
}

// observe asks the scheduler about the service's tasks and, as needed,
// its cluster's instances.
func (s *Service) observe(ctx context.Context, rec *events.ServiceRecord) (reconcile.Input, error) {
	in := reconcile.Input{Now: s.cfg.Now().UTC()}
	arns := make([]string, 0, len(rec.Tasks))
	for _, t := range rec.Tasks {
		arns = append(arns, t.ARN)
	}
	var err error
	if len(arns) > 0 {
		if in.Tasks, err = s.ecs.describeTasks(ctx, rec.Cluster, arns); err != nil {
			return in, err
		}
	}
	if rec.SchedulingStrategy == events.SchedulingDaemon && rec.Status == events.ServiceActive {
		if in.Eligible, err = s.eligible(ctx, rec); err != nil {
			return in, err
		}
		in.Daemon = true
		return in, nil
	}
	if len(arns) > 0 && rec.Status == events.ServiceActive {
		draining, err := s.ecs.instances(ctx, rec.Cluster, events.InstanceDraining, "")
		if err != nil {
			return in, err
		}
		in.Draining = map[string]bool{}
		for _, a := range draining {
			in.Draining[a] = true
		}
	}
	in.Now = s.cfg.Now().UTC()
	return in, nil
}

// eligible lists the ACTIVE instances that meet the service's memberOf
// constraints (the task definition's as well), with their ec2InstanceId.
func (s *Service) eligible(ctx context.Context, rec *events.ServiceRecord) ([]reconcile.Instance, error) {
	var exprs []string
	for _, c := range rec.PlacementConstraints {
		if c.Type == "memberOf" && c.Expression != "" {
			exprs = append(exprs, "("+c.Expression+")")
		}
	}
	td, err := s.ecs.taskDefinition(ctx, rec.TaskDefinition)
	if err != nil {
		return nil, err
	}
	for _, c := range td.PlacementConstraints {
		if c.Type == "memberOf" && c.Expression != "" {
			exprs = append(exprs, "("+c.Expression+")")
		}
	}
	arns, err := s.ecs.instances(ctx, rec.Cluster, events.InstanceActive, strings.Join(exprs, " and "))
	if err != nil {
		return nil, err
	}
	ids, err := s.ecs.ec2IDs(ctx, rec.Cluster, arns)
	if err != nil {
		return nil, err
	}
	out := make([]reconcile.Instance, 0, len(arns))
	for _, a := range arns {
		if id := ids[a]; id != "" {
			out = append(out, reconcile.Instance{ARN: a, EC2ID: id})
		}
	}
	return out, nil
}
