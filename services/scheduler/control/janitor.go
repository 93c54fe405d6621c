package control

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natsutil"
)

// purgeEvery: the janitor drops old delete markers every this many rounds.
const purgeEvery = 10

// runJanitor expires what the scheduler no longer needs to keep, every
// JanitorInterval:
//
//   - STOPPED tasks older than TaskRetention (they stay describable that
//     long), and deregistered instances as old with no task left;
//   - clientTokens older than TokenRetention;
//   - tasks asked to stop whose agent is gone (disconnected, or its
//     instance deregistered) for a heartbeat timeout: they are recorded
//     STOPPED, as the agent would have reported, so their resources come
//     back;
//   - now and then, delete markers older than half an hour.
//
// The bucket has no per-key TTLs (they would need a LimitMarkerTTL bucket,
// and kv.Update drops them anyway), hence a janitor. Every replica runs
// one; each delete expects the revision it saw, so two janitors never
// remove something that changed meanwhile, and the loser's conflict is
// ignored.
func (s *Service) runJanitor(ctx context.Context) {
	t := time.NewTicker(s.cfg.JanitorInterval)
	defer t.Stop()
	for round := 1; ; round++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.sweep(ctx, round%purgeEvery == 0)
	}
}

// sweep is one janitor round.
func (s *Service) sweep(ctx context.Context, purge bool) {
	now := s.cfg.Now()
	for _, name := range s.cache.clusterNames() {
		s.expireTasks(ctx, name, now)
		s.reapOrphans(ctx, name, now)
		s.expireInstances(ctx, name, now)
	}
	s.expireTokens(ctx, now)
	if purge {
		if err := s.state.kv.PurgeDeletes(ctx, jetstream.DeleteMarkersOlderThan(30*time.Minute)); err != nil && ctx.Err() == nil {
			s.log.Warn("purge delete markers", "err", err)
		}
	}
}

func (s *Service) expireTasks(ctx context.Context, cluster string, now time.Time) {
	for _, t := range s.cache.tasks(cluster, func(t *taskEntry) bool {
		return t.LastStatus == events.TaskStopped && t.StoppedAt != nil && now.Sub(*t.StoppedAt) > s.cfg.TaskRetention
	}) {
		err := s.state.del(ctx, events.TaskKey(cluster, t.ID), t.rev)
		if err != nil && !natsutil.IsConflict(err) && ctx.Err() == nil {
			s.log.Warn("expire task", "task_id", t.ID, "err", err)
		}
	}
}

// reapOrphans records STOPPED the tasks asked to stop that no agent will
// ever report on.
func (s *Service) reapOrphans(ctx context.Context, cluster string, now time.Time) {
	for _, t := range s.cache.tasks(cluster, func(t *taskEntry) bool {
		return t.DesiredStatus == events.DesiredStopped && t.LastStatus != events.TaskStopped &&
			t.StoppingAt != nil && now.Sub(*t.StoppingAt) > s.cfg.HeartbeatTimeout
	}) {
		rec, _, ok := s.cache.instance(cluster, t.ContainerInstanceID)
		if ok && rec.Registered() && s.connected(rec, now) {
			continue // its agent is alive and will report
		}
		if ok && !rec.Registered() && s.connected(rec, now) {
			continue // deregistered, but its agent still works on it
		}
		r := events.TaskStateReport{TaskArn: s.taskARN(cluster, t.ID), LastStatus: events.TaskStopped, ReportedAt: now.UTC()}
		if err := s.applyReport(ctx, &r, false); err != nil && ctx.Err() == nil {
			s.log.Warn("reap orphaned task", "task_id", t.ID, "err", err)
		}
	}
}

func (s *Service) expireInstances(ctx context.Context, cluster string, now time.Time) {
	for _, rec := range s.cache.instances(cluster) {
		if rec.Registered() || rec.DeregisteredAt == nil || now.Sub(*rec.DeregisteredAt) <= s.cfg.TaskRetention {
			continue
		}
		if len(s.cache.tasks(cluster, func(t *taskEntry) bool { return t.ContainerInstanceID == rec.ID })) > 0 {
			continue
		}
		_, rev, ok := s.cache.instance(cluster, rec.ID)
		if !ok {
			continue
		}
		b := s.state.newBatch()
		b.del(events.InstanceKey(cluster, rec.ID), rev)
		if rec.EC2InstanceID != "" {
			b.del(identityKey(cluster, rec.EC2InstanceID), 0)
		}
		if _, err := s.state.commit(ctx, b); err != nil && !natsutil.IsConflict(err) && ctx.Err() == nil {
			s.log.Warn("expire instance", "container_instance_arn", rec.ARN, "err", err)
		}
	}
}

func (s *Service) expireTokens(ctx context.Context, now time.Time) {
	w, err := s.state.kv.WatchFiltered(ctx, []string{"tok.>"}, jetstream.MetaOnly(), jetstream.IgnoreDeletes())
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("list client tokens", "err", err)
		}
		return
	}
	defer func() { _ = w.Stop() }()
	var old []jetstream.KeyValueEntry
	for done := false; !done; {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			switch {
			case !ok || e == nil:
				done = true
			case now.Sub(e.Created()) > s.cfg.TokenRetention:
				old = append(old, e)
			}
		}
	}
	for _, e := range old {
		err := s.state.del(ctx, e.Key(), e.Revision())
		if err != nil && !natsutil.IsConflict(err) && !errors.Is(err, jetstream.ErrKeyNotFound) && ctx.Err() == nil {
			s.log.Warn("expire client token", "key", e.Key(), "err", err)
		}
	}
}
