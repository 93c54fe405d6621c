package engine

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/services/agent/docker"
	"github.com/distribution/reference"
)

const (
	inspectTimeout = 10 * time.Second
	stopRetryDelay = time.Second
)

// runner owns one task: one goroutine moves its containers forward, reacts to
// Docker events and results of its own operations, and reports. Only run()'s
// goroutine touches the fields above mu.
type runner struct {
	e      *Engine
	log    *slog.Logger
	arn    string
	task   Task                  // desired state; Definition is frozen in def
	def    ecsapi.TaskDefinition // immutable copy shared with operations
	info   docker.TaskInfo
	orphan bool // no task definition: containers found by label, to stop

	ctrs        []*ctr
	byName      map[string]*ctr
	dockerNames map[string]string

	status        TaskStatus
	stopping      bool
	stopCode      string
	stoppedReason string
	pullStartedAt time.Time
	pullStoppedAt time.Time
	startedAt     time.Time
	stoppingAt    time.Time
	execStoppedAt time.Time
	stoppedAt     time.Time
	wakeAt        time.Time
	seq           uint64
	last          *Report

	ctx      context.Context // the engine's: operations outlive a stop, not the engine
	results  chan opResult
	inflight int
	opCtx    context.Context // cancelled when the task starts stopping: aborts pulls
	opCancel context.CancelFunc

	mu            sync.Mutex // guards the fields below
	pendingTask   *Task
	pendingEvents map[string]*int // container name → exit code from the event, if any
	pendingOOM    map[string]bool // containers Docker reported an "oom" event for
	pendingAll    bool
	snapshot      Report
	wake          chan struct{}
}

func newRunner(e *Engine, t Task) *runner {
	r := &runner{
		e:       e,
		arn:     t.ARN,
		task:    t,
		def:     docker.ApplyTaskOverride(t.Definition, &t.Overrides), // overrides.cpu and .memory
		log:     e.log.With("task_arn", t.ARN),
		results: make(chan opResult, 16),
		wake:    make(chan struct{}, 1),
		byName:  map[string]*ctr{},
	}
	r.info = docker.TaskInfo{ARN: t.ARN, Cluster: t.Cluster, Family: t.family(), Revision: t.revision(), Definition: &r.def}
	if e.cfg.AWSVPC != nil {
		r.info.AWSVPCNetwork = e.cfg.AWSVPC.Network
	}
	r.snapshot = Report{TaskARN: t.ARN, Cluster: t.Cluster, Family: t.family(), Revision: t.revision(), DesiredStatus: t.DesiredStatus}
	return r
}

// update hands a new desired state to the runner (latest wins).
func (r *runner) update(t Task) {
	r.mu.Lock()
	r.pendingTask = &t
	r.mu.Unlock()
	r.poke()
}

// notify records a Docker event for one of the task's containers.
func (r *runner) notify(ev docker.Event) {
	name := ev.Labels[docker.LabelContainerName]
	r.mu.Lock()
	if r.pendingEvents == nil {
		r.pendingEvents = map[string]*int{}
	}
	if code := ev.ExitCode; code != nil || r.pendingEvents[name] == nil {
		r.pendingEvents[name] = code
	}
	if ev.Action == docker.ActionOOM {
		// Docker 20.10 can lose State.OOMKilled when the exit is handled
		// right after the OOM: remember the event itself.
		if r.pendingOOM == nil {
			r.pendingOOM = map[string]bool{}
		}
		r.pendingOOM[name] = true
	}
	r.mu.Unlock()
	r.poke()
}

// resync asks the runner to re-inspect every container.
func (r *runner) resync() {
	r.mu.Lock()
	r.pendingAll = true
	r.mu.Unlock()
	r.poke()
}

func (r *runner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *runner) report() Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snapshot
}

// run is the runner's goroutine: adopt, then loop until STOPPED, then wait
// for the cleanup delay and remove the task's containers and volumes. When
// ctx ends (the engine stops) it returns at once and leaves containers
// running, so a restarted engine can adopt them.
func (r *runner) run(ctx context.Context, pool []docker.ContainerSummary) {
	r.ctx = ctx
	r.opCtx, r.opCancel = context.WithCancel(ctx)
	defer r.opCancel()

	initErr := r.init()
	r.adopt(ctx, pool)
	if initErr != nil {
		r.log.Warn("task refused", "err", initErr)
		r.beginStop(StopCodeTaskFailedToStart, reasonFor(initErr))
		for _, c := range r.ctrs {
			c.dependents = nil // the graph may be broken (cycles): stop in any order
		}
	}

	for {
		r.absorb(ctx)
		r.step(ctx)
		r.publish()
		if r.status == TaskStopped && r.inflight == 0 {
			break
		}
		var timer *time.Timer
		var fire <-chan time.Time
		if !r.wakeAt.IsZero() {
			timer = time.NewTimer(max(time.Until(r.wakeAt), 0))
			fire = timer.C
		}
		select {
		case <-r.wake:
		case res := <-r.results:
			r.apply(res)
		case <-fire:
		case <-ctx.Done():
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}

	r.log.Info("task stopped", "stop_code", r.stopCode, "reason", r.stoppedReason)
	if !r.hadContainers() {
		r.cleanup(ctx) // nothing to keep around (failed volumes may remain)
		return
	}
	select {
	case <-time.After(r.e.cfg.CleanupDelay):
	case <-ctx.Done():
		return
	}
	r.cleanup(ctx)
}

// init validates the task and builds its containers.
func (r *runner) init() error {
	if r.orphan {
		return nil
	}
	pause := ""
	if v := r.e.cfg.AWSVPC; v != nil && docker.IsAWSVPC(&r.task.Definition) {
		pause = v.PauseImage
	}
	r.ctrs = buildContainers(&r.task, r.e.cfg.NamePrefix, r.e.cfg.StopTimeout, pause)
	r.dockerNames = map[string]string{}
	for _, c := range r.ctrs {
		r.byName[c.name] = c
		r.dockerNames[c.name] = c.dockerName
	}
	if err := validateTask(&r.task, r.e.cfg.AWSVPC != nil); err != nil {
		return err
	}
	for _, c := range r.ctrs {
		if _, err := docker.Translate(r.spec(c)); err != nil {
			return &createError{err}
		}
	}
	return nil
}

type createError struct{ error }

func (e *createError) Unwrap() error { return e.error }

// reasonFor words an init failure as a stoppedReason.
func reasonFor(err error) string {
	if ce := (*createError)(nil); errors.As(err, &ce) {
		return prefixCannotCreate + err.Error()
	}
	return prefixInvalidTask + err.Error()
}

func (r *runner) spec(c *ctr) docker.ContainerSpec {
	s := docker.ContainerSpec{
		Name:        c.dockerName,
		Owner:       r.e.cfg.Owner,
		Task:        r.info,
		Definition:  c.def,
		DockerNames: r.dockerNames,
		HostCPUs:    r.e.cfg.HostCPUs,
	}
	if env := r.e.cfg.ContainerEnv; env != nil {
		s.Env = env(r.arn, &r.def, c.name)
	}
	return s
}

// adopt takes over containers a previous engine created for this task:
// the best one per container name is inspected and kept, extras removed.
func (r *runner) adopt(ctx context.Context, pool []docker.ContainerSummary) {
	rank := func(s docker.ContainerSummary) int {
		switch s.State {
		case "running", "restarting", "paused":
			return 0
		case "created":
			return 1
		default:
			return 2
		}
	}
	sort.SliceStable(pool, func(i, j int) bool {
		if a, b := rank(pool[i]), rank(pool[j]); a != b {
			return a < b
		}
		return pool[i].Created.After(pool[j].Created)
	})
	taken := map[string]bool{}
	for _, s := range pool {
		name := s.Labels[docker.LabelContainerName]
		c := r.byName[name]
		if c == nil || taken[name] {
			r.log.Warn("removing duplicate or unknown container of the task", "container", s.Name, "id", s.ID)
			if err := r.e.rt.RemoveContainer(ctx, s.ID); err != nil {
				r.log.Warn("remove duplicate container", "id", s.ID, "err", err)
			}
			continue
		}
		taken[name] = true
		ictx, cancel := context.WithTimeout(ctx, inspectTimeout)
		in, err := r.e.rt.InspectContainer(ictx, s.ID)
		cancel()
		if err != nil {
			r.log.Warn("inspect adopted container", "id", s.ID, "err", err)
			continue
		}
		applyInspect(c, in)
		if r.orphan && in.StopTimeout != nil {
			c.stopTimeout = time.Duration(*in.StopTimeout) * time.Second
		}
		if in.ImageID != "" {
			if img, err := r.e.rt.InspectImage(ctx, in.ImageID); err == nil {
				c.digest = docker.RepoDigestFor(c.def.Image, img.RepoDigests)
			}
		}
		r.log.Info("adopted container", "container", c.name, "id", in.ID, "status", c.status.String())
	}
}

// absorb applies pending desired-state updates and re-inspects containers
// Docker told us about.
func (r *runner) absorb(ctx context.Context) {
	r.mu.Lock()
	t, evs, all, ooms := r.pendingTask, r.pendingEvents, r.pendingAll, r.pendingOOM
	r.pendingTask, r.pendingEvents, r.pendingAll, r.pendingOOM = nil, nil, false, nil
	r.mu.Unlock()
	if t != nil && r.task.DesiredStatus != DesiredStopped { // STOPPED is final
		r.task.DesiredStatus = t.DesiredStatus
		r.task.StopCode, r.task.StoppedReason = t.StopCode, t.StoppedReason
		if t.RegistryAuth != nil {
			r.task.RegistryAuth = t.RegistryAuth
		}
	}
	for _, c := range r.ctrs {
		if ooms[c.name] && c.id != "" {
			c.oomKilled = true
		}
		code, hit := evs[c.name]
		if c.id == "" || !(hit || all) {
			continue
		}
		ictx, cancel := context.WithTimeout(ctx, inspectTimeout)
		in, err := r.e.rt.InspectContainer(ictx, c.id)
		cancel()
		switch {
		case errors.Is(err, docker.ErrNotFound):
			containerGone(c, code)
		case err != nil:
			r.log.Warn("inspect container", "container", c.name, "err", err)
		default:
			applyInspect(c, in)
		}
	}
}

// containerGone handles a container removed behind the engine's back.
func containerGone(c *ctr, exitCode *int) {
	if c.status < ContainerCreated || c.status == ContainerStopped {
		return
	}
	c.advance(ContainerStopped)
	if c.exitCode == nil && exitCode != nil {
		code := *exitCode
		c.exitCode = &code
	}
	if c.reason == "" {
		c.reason = "ContainerRemoved: the container was removed outside the agent"
	}
}

func (r *runner) hadContainers() bool {
	for _, c := range r.ctrs {
		if c.id != "" {
			return true
		}
	}
	return false
}

// cleanup removes the task's containers and task-scoped volumes.
func (r *runner) cleanup(ctx context.Context) {
	list, err := r.e.rt.ListContainers(ctx, map[string]string{docker.LabelManaged: r.e.cfg.Owner, docker.LabelTaskARN: r.arn})
	if err != nil {
		r.log.Warn("cleanup: list containers", "err", err)
		return
	}
	for _, s := range list {
		if err := r.e.rt.RemoveContainer(ctx, s.ID); err != nil {
			r.log.Warn("cleanup: remove container", "id", s.ID, "err", err)
		}
	}
	if err := r.e.rt.RemoveTaskVolumes(ctx, r.arn); err != nil {
		r.log.Warn("cleanup: remove volumes", "err", err)
	}
	r.log.Info("task cleaned up", "containers", len(list))
}

// registryHost is the registry domain of an image reference ("docker.io").
func registryHost(image string) string {
	n, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return ""
	}
	return reference.Domain(n)
}
