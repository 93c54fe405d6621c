package control

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/ids"
	"github.com/berth-project/berth/internal/tracing"
	"github.com/berth-project/berth/scheduler"
)

var newUUID = ids.UUID

// placement is one task of a decision: the snapshot index of its instance.
type placement struct{ index int }

// place decides where the tasks of sp go and commits them, with the
// instances' new resources, the agents' assignments and the clientToken,
// through the cluster's committer: in one atomic batch (with whatever else
// is being committed in the cluster at that moment) that expects the
// revisions the decision was made on. A lost race refreshes and decides
// again.
func (s *Service) place(ctx context.Context, sp *taskSpec) (_ []*events.TaskRecord, _ []ecsapi.Failure, err error) {
	ctx, span := tracing.Tracer().Start(ctx, "scheduler.place", trace.WithAttributes(
		attribute.String("ecs.cluster", sp.cluster.Name), attribute.Int("ecs.task.count", sp.count)))
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	sp.traceParent = tracing.TraceParent(ctx)
	var (
		tasks    []*events.TaskRecord
		failures []ecsapi.Failure
		result   error
		taskAt   []int
	)
	j := &job{msgs: 3*sp.count + 1, token: sp.token}
	j.prepare = func(ctx context.Context) bool {
		tasks, failures, result, taskAt = nil, nil, nil, nil
		if sp.token == "" {
			return false
		}
		var done bool
		done, tasks, failures, result = s.replayToken(ctx, sp)
		return done || result != nil
	}
	j.apply = func(r *round) {
		placed, fs, err := s.decide(sp, r.insts, r.snap, r.share())
		if err != nil {
			result = err
			return
		}
		failures = fs
		arns := make([]string, 0, len(placed))
		if sp.token != "" {
			// The token is written even when nothing could be placed: an
			// earlier attempt of the same call, still on its way, must not
			// place tasks after this one answered that there are none.
			defer func() {
				if result == nil {
					r.b.put(tokenKey(sp.cluster.Name, sp.token), tokenRecord{Hash: sp.tokenHash, TaskARNs: arns, Failures: failures, CreatedAt: r.now}, sp.tokenRev)
				}
			}()
		}
		if len(placed) == 0 {
			return
		}
		// Apply every placement before touching the round, so a failure
		// (never expected: placement counted each task) leaves it as it was.
		work := map[int]scheduler.Instance{}
		for _, p := range placed {
			in, seen := work[p.index]
			if !seen {
				in = r.insts[p.index]
			}
			next, err := scheduler.Apply(in, sp.res, sp.group)
			if err != nil {
				result = fmt.Errorf("apply placement on %s: %w", r.snap.recs[p.index].ID, err)
				return
			}
			work[p.index] = next
		}
		for i, in := range work {
			r.set(i, in)
		}
		for _, p := range placed {
			t := s.newTask(sp, ids.Hex32(), r.snap.recs[p.index], r.now)
			applyLaunch(t, sp, len(tasks))
			tasks = append(tasks, t)
			arns = append(arns, t.ARN)
			taskAt = append(taskAt, r.addTask(t, sp))
		}
	}
	j.finish = func(r *round, revs []uint64) {
		s.stats.tasks.Add(int64(len(tasks)))
		for i, t := range tasks {
			s.cache.putTask(t, revs[taskAt[i]])
			r.pubTasks = append(r.pubTasks, t)
		}
	}
	j.fail = func(err error) { result = err }
	if err := s.submit(ctx, sp.cluster.Name, j); err != nil {
		return nil, nil, err
	}
	if result != nil {
		return nil, nil, result
	}
	if failures == nil {
		failures = []ecsapi.Failure{}
	}
	return tasks, failures, nil
}

// addTask adds the writes of a new task, its record and its assignment,
// to the round's batch and returns the index of the record's write.
func (r *round) addTask(t *events.TaskRecord, sp *taskSpec) int {
	at := r.b.putTask(t, 0)
	r.b.eventID(at, events.ECSEventMsgID(t.ARN, t.Version))
	r.b.put(events.AssignmentKey(t.Cluster, t.ContainerInstanceID, t.ID), assignment(t, sp), 0)
	return at
}

// decide runs placement on the snapshot: the scheduler's pipeline for
// RunTask, the named instances in order for StartTask. With several
// replicas, a RunTask goes onto this replica's shards (allowed) when all
// its tasks fit there, and onto the whole cluster otherwise (internal/members).
func (s *Service) decide(sp *taskSpec, insts []scheduler.Instance, snap *snapshot, allowed []bool) ([]placement, []ecsapi.Failure, error) {
	failures := []ecsapi.Failure{}
	if sp.targets == nil {
		var res scheduler.Result
		var err error
		narrow := false
		if allowed != nil {
			res, err = sp.plan.Place(insts, sp.count, scheduler.Options{Allowed: allowed})
			narrow = err == nil && res.Unplaced == 0
			if narrow {
				s.stats.narrowed.Add(1)
			} else {
				s.stats.widened.Add(1)
			}
		}
		if !narrow {
			res, err = sp.plan.Place(insts, sp.count, scheduler.Options{})
		}
		if errors.Is(err, scheduler.ErrNoContainerInstances) {
			return nil, nil, invalid(scheduler.MsgNoContainerInstances)
		}
		if err != nil {
			return nil, nil, invalid("%s", err.Error())
		}
		out := make([]placement, 0, len(res.Placements))
		for _, p := range res.Placements {
			out = append(out, placement{index: p.Index})
		}
		for _, f := range res.Failures {
			failures = append(failures, ecsapi.Failure{Arn: f.ARN, Reason: f.Reason, Detail: f.Detail})
		}
		return out, failures, nil
	}
	work := map[int]scheduler.Instance{}
	var out []placement
	for _, ref := range sp.targets {
		arn := ref
		if !events.IsARN(ref) {
			arn = s.instanceARN(sp.cluster.Name, ref)
		}
		id, ok := s.instanceRef(sp.cluster.Name, ref)
		i := sort.Search(len(insts), func(i int) bool { return insts[i].ID >= id })
		if !ok || i == len(insts) || insts[i].ID != id || !snap.recs[i].Registered() {
			failures = append(failures, ecsapi.Failure{Arn: arn, Reason: "MISSING"})
			continue
		}
		in, seen := work[i]
		if !seen {
			in = insts[i]
		}
		if reason := sp.plan.Check(&in); reason != "" {
			failures = append(failures, ecsapi.Failure{Arn: arn, Reason: reason})
			continue
		}
		next, err := scheduler.Apply(in, sp.res, sp.group)
		if err != nil {
			failures = append(failures, ecsapi.Failure{Arn: arn, Reason: conflictReason(err)})
			continue
		}
		work[i] = next
		out = append(out, placement{index: i})
	}
	return out, failures, nil
}

func conflictReason(err error) string {
	var ce *scheduler.ConflictError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return "RESOURCE"
}

// refreshInstances re-reads instance records straight from the bucket
// after a lost commit, so the next decision does not trip on the same
// stale revision while the feed catches up.
func (s *Service) refreshInstances(ctx context.Context, cluster string, recs []*events.InstanceRecord) error {
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	return s.refreshIDs(ctx, cluster, ids)
}

// refreshIDs re-reads instance records by id into the cache.
func (s *Service) refreshIDs(ctx context.Context, cluster string, ids []string) error {
	for _, id := range ids {
		cur, rev, err := s.state.getInstance(ctx, cluster, id)
		if err != nil {
			return err
		}
		if cur == nil {
			s.cache.removeInstance(cluster, id, ^uint64(0))
			continue
		}
		s.cache.putInstance(cur, rev)
	}
	return nil
}
