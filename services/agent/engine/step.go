package engine

import (
	"context"
	"errors"
	"time"

	"github.com/berth-project/berth/services/agent/docker"
)

type opKind int

const (
	opPull opKind = iota
	opCreate
	opStart
	opStop
)

func (k opKind) String() string {
	return [...]string{"pull", "create", "start", "stop"}[k]
}

// opResult is what an operation goroutine hands back to the runner.
type opResult struct {
	c     *ctr
	kind  opKind
	err   error
	id    string
	image docker.Image
	info  *docker.Container // inspect after create (adoption), start or stop
	gone  bool              // the container no longer exists
}

// step decides and launches the next operations. It is the only place that
// changes the task's course: essential exits, dependency failures, shutdown.
func (r *runner) step(ctx context.Context) {
	now := time.Now()
	r.wakeAt = time.Time{}

	if !r.stopping && r.task.DesiredStatus == DesiredStopped {
		r.beginStop(r.task.StopCode, r.task.StoppedReason)
	}
	if !r.stopping {
		for _, c := range r.ctrs {
			if c.essential && c.status == ContainerStopped {
				r.beginStop(StopCodeEssentialContainerExited, ReasonEssentialContainerExited)
				break
			}
		}
	}
	if !r.stopping {
		r.advanceContainers(ctx, now)
	}
	if r.stopping {
		r.shutdown(ctx, now)
	}

	for _, c := range r.ctrs {
		if c.essential && c.status == ContainerStopped && r.execStoppedAt.IsZero() {
			r.execStoppedAt = now
		}
	}
	next := computeStatus(r.ctrs, r.stopping, r.inflight)
	if next == TaskStopped {
		for _, c := range r.ctrs {
			if until := awaitingOOM(c, now); !until.IsZero() {
				next = TaskStopping
				r.wakeAt = earliest(r.wakeAt, until)
			}
		}
	}
	if next > r.status {
		r.status = next
		switch next {
		case TaskRunning:
			r.startedAt = now
		case TaskStopped:
			if r.execStoppedAt.IsZero() {
				r.execStoppedAt = now
			}
			r.stoppedAt = now
		}
	}
}

// advanceContainers moves each idle container one step towards RUNNING when
// its dependencies allow.
func (r *runner) advanceContainers(ctx context.Context, now time.Time) {
	for _, c := range r.ctrs {
		if c.busy || c.status >= ContainerRunning || r.stopping {
			continue
		}
		switch c.status {
		case ContainerNone:
			r.launchPull(c)
		case ContainerPulled:
			switch st, why, at := gate(c.createDeps, now); st {
			case depFailed:
				r.failContainer(c, prefixDependency+why)
			case depResolved:
				r.launchCreate(ctx, c)
			default:
				r.wakeAt = earliest(r.wakeAt, at)
			}
		case ContainerCreated:
			switch st, why, at := gate(c.deps, now); st {
			case depFailed:
				r.failContainer(c, prefixDependency+why)
			case depResolved:
				r.launchStart(ctx, c)
			default:
				r.wakeAt = earliest(r.wakeAt, at)
			}
		}
	}
}

// shutdown stops containers in reverse dependency order: a container is
// stopped only once every container that depends on it has stopped.
// Containers that never started are simply marked STOPPED.
func (r *runner) shutdown(ctx context.Context, now time.Time) {
	for changed := true; changed; {
		changed = false
		for _, c := range r.ctrs {
			if c.busy || c.status == ContainerStopped || liveDependents(c) {
				continue
			}
			if c.status < ContainerRunning {
				c.advance(ContainerStopped)
				changed = true
				continue
			}
			if now.Before(c.stopRetryAt) {
				r.wakeAt = earliest(r.wakeAt, c.stopRetryAt)
				continue
			}
			r.launchStop(ctx, c)
		}
	}
}

// beginStop turns the task towards STOPPED. The first reason wins.
func (r *runner) beginStop(code, reason string) {
	if r.stopping {
		return
	}
	r.stopping = true
	r.stopCode, r.stoppedReason = code, reason
	r.stoppingAt = time.Now()
	r.opCancel() // abort pulls still running
	r.log.Info("stopping task", "stop_code", code, "reason", reason)
}

// failContainer marks a container that could not be created or started.
// An essential one takes the task down with TaskFailedToStart.
func (r *runner) failContainer(c *ctr, reason string) {
	if c.reason == "" {
		c.reason = reason
	}
	c.advance(ContainerStopped)
	r.log.Warn("container failed", "container", c.name, "reason", reason)
	if c.essential {
		r.beginStop(StopCodeTaskFailedToStart, reason)
	}
}

// launch runs fn in its own goroutine and hands the result to the runner
// (unless the engine is shutting down).
func (r *runner) launch(c *ctr, kind opKind, fn func() opResult) {
	ctx := r.ctx
	c.busy = true
	r.inflight++
	r.e.wg.Add(1)
	go func() {
		defer r.e.wg.Done()
		res := fn()
		res.c, res.kind = c, kind
		select {
		case r.results <- res:
		case <-ctx.Done():
		}
	}()
}

func (r *runner) launchPull(c *ctr) {
	if r.pullStartedAt.IsZero() {
		r.pullStartedAt = time.Now()
	}
	if c.pause { // made by the agent, never pulled
		rt, ref, opCtx := r.e.rt, c.def.Image, r.opCtx
		r.launch(c, opPull, func() opResult {
			img, err := rt.InspectImage(opCtx, ref)
			return opResult{image: img, err: err}
		})
		return
	}
	ref := c.def.Image
	var auth *docker.RegistryAuth
	if a, ok := r.task.RegistryAuth[registryHost(ref)]; ok {
		auth = &a
	}
	opCtx, provider := r.opCtx, r.e.cfg.RegistryAuth
	r.launch(c, opPull, func() opResult {
		if auth == nil && provider != nil {
			a, err := provider(opCtx, ref)
			if err != nil {
				return opResult{err: err}
			}
			auth = a
		}
		img, err := r.e.pull(opCtx, ref, auth)
		return opResult{image: img, err: err}
	})
}

func (r *runner) launchCreate(ctx context.Context, c *ctr) {
	spec := r.spec(c)
	rt, arn := r.e.rt, r.arn
	r.e.images.touch(c.def.Image)
	r.launch(c, opCreate, func() opResult {
		id, err := rt.CreateContainer(ctx, spec)
		if errors.Is(err, docker.ErrConflict) {
			// A container with this name exists: ours from an earlier run?
			in, ierr := rt.InspectContainer(ctx, spec.Name)
			if ierr == nil && in.Labels[docker.LabelTaskARN] == arn && in.Labels[docker.LabelContainerName] == spec.Definition.Name {
				return opResult{id: in.ID, info: &in}
			}
		}
		return opResult{id: id, err: err}
	})
}

func (r *runner) launchStart(ctx context.Context, c *ctr) {
	rt, id := r.e.rt, c.id
	r.launch(c, opStart, func() opResult {
		if err := rt.StartContainer(ctx, id); err != nil {
			return opResult{err: err}
		}
		in, err := rt.InspectContainer(ctx, id)
		if err != nil {
			return opResult{}
		}
		return opResult{info: &in}
	})
}

func (r *runner) launchStop(ctx context.Context, c *ctr) {
	rt, id, timeout := r.e.rt, c.id, c.stopTimeout
	c.stopSent = true
	r.log.Debug("stopping container", "container", c.name, "timeout", timeout)
	r.launch(c, opStop, func() opResult {
		err := rt.StopContainer(ctx, id, timeout)
		if err != nil && !errors.Is(err, docker.ErrNotFound) {
			return opResult{err: err}
		}
		in, err := rt.InspectContainer(ctx, id)
		if errors.Is(err, docker.ErrNotFound) {
			return opResult{gone: true}
		}
		if err != nil {
			return opResult{err: err}
		}
		return opResult{info: &in}
	})
}

// apply folds an operation's result into the task.
func (r *runner) apply(res opResult) {
	c := res.c
	c.busy = false
	r.inflight--
	now := time.Now()
	switch res.kind {
	case opPull:
		r.pullStoppedAt = now
		if res.err != nil {
			if r.stopping && r.opCtx.Err() != nil {
				return // aborted because the task is stopping
			}
			reason := prefixCannotPull + docker.DaemonMessage(res.err)
			c.reason = reason
			c.advance(ContainerStopped)
			// ECS: a pull failure stops the task, essential container or not.
			r.beginStop(StopCodeTaskFailedToStart, reason)
			return
		}
		c.digest = res.image.Digest
		c.advance(ContainerPulled)
		if res.image.Pulled {
			r.log.Info("image pulled", "image", c.def.Image)
		}
	case opCreate:
		if res.err != nil {
			r.failContainer(c, prefixCannotCreate+docker.DaemonMessage(res.err))
			return
		}
		c.id = res.id
		c.advance(ContainerCreated)
		if res.info != nil {
			r.log.Info("adopted existing container", "container", c.name, "id", res.id)
			applyInspect(c, *res.info)
		}
	case opStart:
		if res.err != nil {
			r.failContainer(c, prefixCannotStart+docker.DaemonMessage(res.err))
			return
		}
		if res.info != nil {
			applyInspect(c, *res.info)
		} else {
			c.advance(ContainerRunning) // inspect failed; events and resync will correct
		}
	case opStop:
		switch {
		case res.err != nil:
			r.log.Warn("stop container failed; retrying", "container", c.name, "err", res.err)
			c.stopRetryAt = now.Add(stopRetryDelay)
		case res.gone:
			containerGone(c, nil)
		default:
			applyInspect(c, *res.info)
			if c.status != ContainerStopped {
				c.stopRetryAt = now.Add(stopRetryDelay)
			}
		}
	}
}

// publish sends a report when anything changed since the last one.
func (r *runner) publish() {
	rep := Report{
		TaskARN:            r.arn,
		Cluster:            r.task.Cluster,
		Family:             r.info.Family,
		Revision:           r.info.Revision,
		DesiredStatus:      r.task.DesiredStatus,
		LastStatus:         r.status,
		HealthStatus:       taskHealth(r.ctrs),
		PullStartedAt:      r.pullStartedAt,
		PullStoppedAt:      r.pullStoppedAt,
		StartedAt:          r.startedAt,
		StoppingAt:         r.stoppingAt,
		ExecutionStoppedAt: r.execStoppedAt,
		StoppedAt:          r.stoppedAt,
	}
	if r.stopping {
		rep.StopCode, rep.StoppedReason = r.stopCode, r.stoppedReason
	}
	for _, c := range r.ctrs {
		if c.pause {
			rep.Network = taskNetwork(c)
			continue
		}
		rep.Containers = append(rep.Containers, containerReport(c))
	}
	if r.last != nil && sameReport(*r.last, rep) {
		return
	}
	// Seq follows the clock, so it also grows across engine restarts.
	r.seq = max(r.seq+1, uint64(time.Now().UnixNano()))
	rep.Seq = r.seq
	r.last = &rep
	r.mu.Lock()
	r.snapshot = rep
	r.mu.Unlock()
	r.e.reports.push(rep)
}
