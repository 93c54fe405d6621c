package control

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/jsonx"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/scheduler"
)

// reportsConsumer is the durable consumer every replica shares on the
// AGENT_REPORTS work queue: each report goes to one replica, which
// acknowledges it only after its effect is committed (and announced).
const reportsConsumer = "scheduler"

// reportPull bounds the reports a replica holds unacknowledged: small (the
// client's default is 500), so a replica that dies leaves little to
// redeliver and nothing waits behind a slow commit for long.
const reportPull = 64

// reportLoop consumes agent reports.
type reportLoop struct {
	cc      jetstream.ConsumeContext
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopped sync.Once
}

// stop stops taking reports, lets the workers finish the one they are
// applying and waits for them; reports still queued here are left
// unacknowledged and come back to another replica.
func (r *reportLoop) stop() {
	r.stopped.Do(func() {
		r.cc.Stop()
		r.cancel()
		r.wg.Wait()
	})
}

// startReports starts consuming AGENT_REPORTS. Reports are spread over
// ReportWorkers goroutines by task, so the reports of one task are applied
// in order by this replica (other replicas may hold others; the revision
// checks and the forward-only transitions sort that out).
func (s *Service) startReports(ctx context.Context) (*reportLoop, error) {
	cons, err := s.js.CreateOrUpdateConsumer(ctx, events.StreamAgentReports.Name, jetstream.ConsumerConfig{
		Durable:       reportsConsumer,
		Description:   "scheduler replicas applying agent task state reports",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.ReportAckWait,
		MaxAckPending: 4096,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("control: reports consumer: %w", err)
	}
	wctx, cancel := context.WithCancel(ctx)
	loop := &reportLoop{cancel: cancel}
	work := make([]chan jetstream.Msg, s.cfg.ReportWorkers)
	for i := range work {
		ch := make(chan jetstream.Msg, reportPull)
		work[i] = ch
		loop.wg.Add(1)
		go func() {
			defer loop.wg.Done()
			for {
				select {
				case <-wctx.Done():
					return
				case m := <-ch:
					s.handleReport(wctx, m)
				}
			}
		}()
	}
	loop.cc, err = cons.Consume(func(m jetstream.Msg) {
		var r struct {
			TaskArn string `json:"taskArn"`
		}
		_ = jsonx.Unmarshal(m.Data(), &r)
		h := fnv.New32a()
		h.Write([]byte(r.TaskArn))
		select {
		case work[h.Sum32()%uint32(len(work))] <- m:
		case <-wctx.Done():
		}
	}, jetstream.PullMaxMessages(reportPull))
	if err != nil {
		cancel()
		loop.wg.Wait()
		return nil, fmt.Errorf("control: consume reports: %w", err)
	}
	return loop, nil
}

// handleReport applies one report and acknowledges it; a report that
// cannot be applied now is redelivered a little later, one that can never
// be applied is terminated.
func (s *Service) handleReport(ctx context.Context, m jetstream.Msg) {
	var r events.TaskStateReport
	if err := jsonx.Unmarshal(m.Data(), &r); err != nil || r.TaskArn == "" {
		s.log.Warn("bad agent report", "subject", m.Subject(), "err", err)
		_ = m.TermWithReason("bad report")
		return
	}
	if err := s.applyReport(ctx, &r, true); err != nil {
		if ctx.Err() == nil {
			s.log.Warn("apply agent report", "task_arn", r.TaskArn, "last_status", r.LastStatus, "err", err)
		}
		_ = m.NakWithDelay(time.Second)
		return
	}
	_ = m.Ack()
}

// applyReport folds an agent report into its task. A report that does not
// stop the task changes only the task record: one write with the revision
// read. A report that stops it also gives its resources back to its
// instance and deletes its assignment, in one atomic batch, through the
// cluster's committer. checkInstance refuses reports from another instance
// than the task's. A report about an unknown task, or one that changes
// nothing, is not an error: the task's current event is published again
// (the stream drops the repeat), so a report redelivered after a crash
// between commit and publish still gets its event out.
func (s *Service) applyReport(ctx context.Context, r *events.TaskStateReport, checkInstance bool) error {
	ref, err := events.ParseECSARN(r.TaskArn)
	if err != nil || ref.Type != events.ResourceTask || ref.Cluster == "" || !validID(ref.ID) {
		s.log.Warn("agent report for a bad task ARN", "task_arn", r.TaskArn)
		return nil
	}
	cluster, id := ref.Cluster, ref.ID
	for range maxAttempts {
		t, rev, err := s.state.getTask(ctx, cluster, id)
		if err != nil {
			return err
		}
		if t == nil {
			return nil // expired or never existed
		}
		if checkInstance && r.ContainerInstanceArn != "" && r.ContainerInstanceArn != t.ContainerInstanceARN {
			s.log.Warn("agent report from another instance", "task_arn", r.TaskArn, "container_instance_arn", r.ContainerInstanceArn)
			return nil
		}
		now := s.cfg.Now().UTC()
		next := cloneTask(t)
		eff := transition(next, r, now)
		switch {
		case !eff.changed:
			return s.pub.publish(ctx, s.pub.taskEvent(t))
		case eff.released:
			return s.releaseTask(ctx, cluster, id, r, t, rev)
		}
		next.Version++
		next.UpdatedAt = now
		b := s.state.newBatch()
		s.pub.carryTask(b, b.putTask(next, rev), t)
		revs, err := s.state.commit(ctx, b)
		if natsutil.IsConflict(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("commit report of %s: %w", id, err)
		}
		s.cache.putTask(next, revs[0])
		return s.pub.publish(ctx, s.pub.taskEvent(next))
	}
	return fmt.Errorf("report of %s: %w", id, errTooMuchContention)
}

// releaseTask commits a report that stops a task, through the cluster's
// committer: the task STOPPED, its resources back on its instance, its
// assignment deleted, in one atomic batch. The first round uses the task
// as the caller read it (t at rev); a round after a lost race reads it again
// and redoes the transition.
func (s *Service) releaseTask(ctx context.Context, cluster, id string, r *events.TaskStateReport, t *events.TaskRecord, rev uint64) error {
	var (
		result error
		next   *events.TaskRecord
		eff    transitionEffect
		taskAt int
	)
	fresh := true // t is the caller's read, not used by a round yet
	j := &job{msgs: 3}
	j.prepare = func(ctx context.Context) bool {
		result = nil
		if !fresh {
			if t, rev, result = s.state.getTask(ctx, cluster, id); result != nil || t == nil {
				return true
			}
		}
		fresh = false
		next = cloneTask(t)
		eff = transition(next, r, s.cfg.Now().UTC())
		if !eff.changed {
			result = s.pub.publish(ctx, s.pub.taskEvent(t))
			return true
		}
		if eff.released {
			// Make sure the round sees the instance, even if the cache
			// has not heard of it.
			if _, _, ok := s.cache.instance(cluster, t.ContainerInstanceID); !ok {
				rec, irev, err := s.state.getInstance(ctx, cluster, t.ContainerInstanceID)
				if err != nil {
					result = err
					return true
				}
				if rec != nil {
					s.cache.putInstance(rec, irev)
				}
			}
		}
		return false
	}
	j.apply = func(rd *round) {
		var in scheduler.Instance
		i := -1
		if eff.released {
			i = rd.index(t.ContainerInstanceID)
			if i < 0 && j.tries < 3 {
				// The round's snapshot was taken before prepare read the
				// instance into the cache (this replica had not heard of
				// it yet): releasing nothing would leave the task's
				// resources held for good. Run again on a newer snapshot;
				// an instance still missing after that is gone.
				j.again = true
				rd.refresh(t.ContainerInstanceID)
				return
			}
			if i >= 0 {
				res := scheduler.Resources{CPU: t.Held.CPU, Memory: t.Held.Memory, TCPPorts: t.Held.TCPPorts, UDPPorts: t.Held.UDPPorts}
				var err error
				in, err = scheduler.Release(rd.fresh(i), res, t.Group, scheduler.PhasePending)
				switch {
				case err != nil && j.tries < 3:
					// The task was read before the instance snapshot
					// (another replica released it meanwhile), or the
					// snapshot is stale: read both again.
					j.again = true
					rd.refresh(t.ContainerInstanceID)
					return
				case err != nil:
					// Never expected: the instance does not hold what the
					// task says. Record the task stopped anyway rather
					// than block it.
					s.log.Error("instance does not hold the task", "task_arn", t.ARN, "container_instance_arn", t.ContainerInstanceARN, "err", err)
					i = -1
				}
			}
		}
		next.Version++
		next.UpdatedAt = rd.now
		taskAt = rd.b.putTask(next, rev)
		s.pub.carryTask(rd.b, taskAt, t)
		if !eff.released {
			return
		}
		rd.b.del(events.AssignmentKey(cluster, t.ContainerInstanceID, id), 0)
		if i >= 0 {
			rd.set(i, in)
		}
	}
	j.finish = func(rd *round, revs []uint64) {
		s.cache.putTask(next, revs[taskAt])
		rd.pubTasks = append(rd.pubTasks, next)
	}
	j.fail = func(err error) { result = err }
	if err := s.submit(ctx, cluster, j); err != nil {
		return err
	}
	return result
}
