package agent

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/agentproto"
	"github.com/berth-project/berth/internal/tracing"
	"github.com/berth-project/berth/services/agent/engine"
)

const (
	reconnectPoll   = time.Second
	resyncRetryWait = 2 * time.Second
)

// desiredState is the agent's copy of its assignments, keyed by task ARN.
// Assignments the scheduler deleted are kept in gone while the engine still
// knows the task, so the metadata endpoints can describe it until cleanup.
type desiredState struct {
	mu    sync.Mutex
	byARN map[string]events.TaskAssignment
	byID  map[string]string // task id → ARN
	gone  map[string]events.TaskAssignment
}

func newDesiredState() *desiredState {
	return &desiredState{byARN: map[string]events.TaskAssignment{}, byID: map[string]string{}, gone: map[string]events.TaskAssignment{}}
}

func taskIDOf(arn string) string { return arn[strings.LastIndexByte(arn, '/')+1:] }

// put records an assignment unless an equal or newer version is known. It
// reports whether the assignment was taken.
func (d *desiredState) put(a events.TaskAssignment) bool {
	if a.TaskArn == "" {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if old, ok := d.byARN[a.TaskArn]; ok && old.Version > a.Version {
		return false
	}
	d.byARN[a.TaskArn] = a
	d.byID[taskIDOf(a.TaskArn)] = a.TaskArn
	delete(d.gone, a.TaskArn)
	return true
}

// remove forgets the task with the given id and returns its ARN.
func (d *desiredState) remove(taskID string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	arn, ok := d.byID[taskID]
	if !ok {
		return "", false
	}
	d.gone[arn] = d.byARN[arn]
	delete(d.byARN, arn)
	delete(d.byID, taskID)
	return arn, true
}

// replace makes snap the desired state: for tasks in both, the newer
// version wins; tasks missing from snap were deleted.
func (d *desiredState) replace(snap map[string]events.TaskAssignment) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for arn, old := range d.byARN {
		if _, ok := snap[arn]; !ok {
			d.gone[arn] = old
			delete(d.byARN, arn)
			delete(d.byID, taskIDOf(arn))
		}
	}
	for arn, a := range snap {
		if old, ok := d.byARN[arn]; ok && old.Version > a.Version {
			continue
		}
		d.byARN[arn] = a
		d.byID[taskIDOf(arn)] = arn
		delete(d.gone, arn)
	}
}

// all returns the current assignments.
func (d *desiredState) all() []events.TaskAssignment {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]events.TaskAssignment, 0, len(d.byARN))
	for _, a := range d.byARN {
		out = append(out, a)
	}
	return out
}

// get returns a task's assignment, current or recently deleted.
func (d *desiredState) get(arn string) (events.TaskAssignment, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if a, ok := d.byARN[arn]; ok {
		return a, true
	}
	a, ok := d.gone[arn]
	return a, ok
}

// pruneGone drops deleted assignments the engine has forgotten.
func (d *desiredState) pruneGone(known func(arn string) bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for arn := range d.gone {
		if !known(arn) {
			delete(d.gone, arn)
		}
	}
}

// toTask maps an assignment onto the engine's task.
func toTask(a events.TaskAssignment, cluster string) engine.Task {
	t := engine.Task{
		ARN:           a.TaskArn,
		Cluster:       cluster,
		DesiredStatus: engine.DesiredStatus(a.DesiredStatus),
		StopCode:      a.StopCode,
		StoppedReason: a.StoppedReason,
	}
	if a.TaskDefinition != nil {
		t.Definition = *a.TaskDefinition
	}
	if a.Overrides != nil {
		t.Overrides = *a.Overrides
	}
	return t
}

// followDesired feeds the engine from the assignment watch until ctx ends:
// on every Synced marker (the first, after each watcher restart, and after
// a NATS reconnect, which starts a new watch) and every ResyncInterval, the
// whole desired state is re-read and given to Engine.Sync; in between,
// changes go to Upsert and deletions stop what still runs.
func (a *Agent) followDesired(ctx context.Context) {
	watch := func() (<-chan agentproto.Update, context.CancelFunc) {
		wctx, cancel := context.WithCancel(ctx)
		return a.proto.Watch(wctx), cancel
	}
	updates, stopWatch := watch()
	defer func() { stopWatch() }()
	resync := time.NewTicker(a.cfg.ResyncInterval)
	defer resync.Stop()
	poll := time.NewTicker(reconnectPoll)
	defer poll.Stop()
	reconnects := a.nc.Stats().Reconnects
	synced := false
	var retry <-chan time.Time
	doSync := func(why string) {
		retry = nil
		if err := a.resync(ctx, why); err != nil && ctx.Err() == nil {
			a.log.Warn("desired state resync failed; retrying", "reason", why, "err", err)
			retry = time.After(resyncRetryWait)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-updates:
			if !ok {
				if ctx.Err() != nil {
					return
				}
				updates = nil // a replaced watch; the new one is in place
				continue
			}
			switch {
			case u.Synced:
				synced = true
				doSync("watch synced")
			case u.Deleted:
				a.forget(ctx, u.TaskID)
			default:
				if a.desired.put(u.Assignment) && synced {
					a.upsert(ctx, u.Assignment)
				}
			}
		case <-resync.C:
			if synced {
				doSync("periodic")
			}
		case <-poll.C:
			if n := a.nc.Stats().Reconnects; n != reconnects {
				// The KV watcher may take a while to notice the server
				// went away: start a new watch, whose Synced marker
				// brings a full resync.
				reconnects = n
				a.log.Info("nats reconnected; re-reading the desired state")
				stopWatch()
				updates, stopWatch = watch()
			}
		case <-retry:
			doSync("retry")
		}
	}
}

// resync re-reads every assignment and hands the full set to the engine,
// which also stops tasks that are no longer assigned. When the read fails,
// the engine still gets the agent's own copy (built from the watch), and the
// caller retries.
func (a *Agent) resync(ctx context.Context, why string) error {
	rctx, cancel := context.WithTimeout(ctx, a.cfg.CallTimeout)
	snap, readErr := a.proto.Assignments(rctx)
	cancel()
	if readErr == nil {
		a.desired.replace(snap)
	}
	asgs := a.desired.all()
	tasks := make([]engine.Task, 0, len(asgs))
	for _, asg := range asgs {
		tasks = append(tasks, toTask(asg, a.proto.Cluster()))
	}
	if err := a.eng.Sync(ctx, tasks); err != nil {
		return fmt.Errorf("engine sync: %w", err)
	}
	a.desired.pruneGone(func(arn string) bool { _, ok := a.eng.Task(arn); return ok })
	a.log.Debug("desired state synced", "reason", why, "tasks", len(tasks))
	return readErr
}

func (a *Agent) upsert(ctx context.Context, asg events.TaskAssignment) {
	// A new task continues the trace of the RunTask that placed it (the
	// assignment's traceparent): its span covers handing it to the engine.
	if _, known := a.eng.Task(asg.TaskArn); !known && asg.TraceParent != "" && asg.DesiredStatus == events.DesiredRunning {
		var span trace.Span
		ctx, span = tracing.Tracer().Start(tracing.ContextWithTraceParent(ctx, asg.TraceParent), "agent.StartTask",
			trace.WithAttributes(attribute.String("ecs.task.arn", asg.TaskArn), attribute.String("ecs.container_instance.arn", asg.ContainerInstanceArn)))
		defer span.End()
	}
	if err := a.eng.Upsert(ctx, toTask(asg, a.proto.Cluster())); err != nil && ctx.Err() == nil {
		a.log.Warn("engine upsert", "task_arn", asg.TaskArn, "err", err)
	}
}

// forget handles a deleted assignment: the scheduler has recorded the task
// STOPPED; if its containers still run, stop them.
func (a *Agent) forget(ctx context.Context, taskID string) {
	arn, ok := a.desired.remove(taskID)
	if !ok {
		return
	}
	if r, known := a.eng.Task(arn); known && r.LastStatus < engine.TaskStopped {
		a.log.Info("assignment deleted while the task runs; stopping it", "task_arn", arn)
		if err := a.eng.StopTask(ctx, arn, "", ""); err != nil && ctx.Err() == nil {
			a.log.Warn("stop task", "task_arn", arn, "err", err)
		}
	}
}
