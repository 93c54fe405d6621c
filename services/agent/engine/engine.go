package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/services/agent/docker"
)

// Defaults.
const (
	DefaultStopTimeout    = 30 * time.Second // ECS container stopTimeout default
	DefaultCleanupDelay   = 3 * time.Hour    // ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION
	DefaultResyncInterval = time.Minute
	DefaultNamePrefix     = "berth-"
	tombstoneTTL          = 24 * time.Hour
	// digestCheckTimeout bounds ResolveDigest and the image inspect that
	// may spare a pull; past it the engine pulls.
	digestCheckTimeout = 2 * time.Second
)

// ErrNotRunning is returned by calls made before Run is ready or after it returned.
var ErrNotRunning = errors.New("engine is not running")

// ErrUnknownTask is returned by StopTask for a task the engine does not run.
var ErrUnknownTask = errors.New("unknown task")

// Config configures an Engine. Only Runtime is required.
type Config struct {
	Runtime docker.Runtime
	// Logger; nil discards.
	Logger *slog.Logger
	// Reporter receives every report, one at a time, in order, from a single
	// goroutine. It should return quickly; reports queue while it runs.
	Reporter func(Report)
	// Owner is the io.berth.managed label value: the engine adopts and
	// cleans up only containers carrying it. Default docker.DefaultOwner.
	Owner string
	// NamePrefix starts every container name. Default "berth-".
	NamePrefix string
	// PullBehavior follows ECS_IMAGE_PULL_BEHAVIOR. Default docker.PullDefault.
	PullBehavior docker.PullBehavior
	// RegistryAuth supplies pull credentials when the task has none for the
	// image's registry. Optional.
	RegistryAuth func(ctx context.Context, image string) (*docker.RegistryAuth, error)
	// ResolveDigest returns the manifest digest an image reference points
	// to in its registry now, or "" when it cannot tell cheaply (another
	// registry, an error). With pull behavior default, an image whose local
	// copy already carries that digest is not pulled again: the pull would
	// fetch nothing, and costs a round trip through the Docker daemon and
	// the registry on every task start. Optional.
	ResolveDigest func(ctx context.Context, image string) (string, error)
	// StopTimeout is the grace period between SIGTERM and SIGKILL for
	// containers without stopTimeout. Default 30 s.
	StopTimeout time.Duration
	// CleanupDelay is how long stopped containers are kept. Default 3 h.
	CleanupDelay time.Duration
	// ResyncInterval re-inspects every container, in case an event was lost.
	// Default 1 min.
	ResyncInterval time.Duration
	// ImageCleanup removes images the engine pulled once they are unused.
	ImageCleanup ImageCleanup
	// ContainerEnv returns environment variables to inject into a container
	// of a task (the agent's ECS_CONTAINER_METADATA_URI_V4...); variables the
	// container definition sets win. It must be pure and fast: it is called
	// when the task is validated and again at create. Optional.
	ContainerEnv func(taskARN string, def *ecsapi.TaskDefinition, container string) map[string]string
	// HostCPUs caps task-level CPU ceilings (see docker.ContainerSpec.HostCPUs).
	// 0: no cap.
	HostCPUs int
	// AWSVPC turns on awsvpc network mode; nil refuses awsvpc tasks.
	AWSVPC *AWSVPC
}

// AWSVPC is where awsvpc tasks get their network namespaces: a pause
// container per task, from PauseImage (which must exist locally: see
// docker.Client.EnsurePauseImage), on the Docker network Network (see
// docker.Client.EnsureAWSVPCNetwork).
type AWSVPC struct {
	Network    string
	PauseImage string
}

// Engine runs the tasks the control plane wants on this host as Docker
// containers and reports their state. Create with New, then Run; feed it
// desired tasks with Sync and Upsert from any goroutine.
type Engine struct {
	cfg     Config
	rt      docker.Runtime
	log     *slog.Logger
	reports reportQueue
	images  *imageTracker
	pulls   pullGroup
	wg      sync.WaitGroup // runners and their operations

	started     atomic.Bool
	gcRunning   atomic.Bool
	imageCycles atomic.Int64  // image cleanup cycles run (tests wait on it)
	ready       chan struct{} // closed once Run has listed existing containers

	mu      sync.Mutex
	ctx     context.Context // Run's; nil before
	closing bool            // Run is shutting down: no new runners
	runners map[string]*runner
	tombs   map[string]tomb                      // finished tasks: never run again
	pool    map[string][]docker.ContainerSummary // found at start, by task ARN, not yet claimed
}

type tomb struct {
	at     time.Time
	report Report
}

// New validates cfg and applies defaults.
func New(cfg Config) (*Engine, error) {
	if cfg.Runtime == nil {
		return nil, errors.New("engine: Config.Runtime is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Owner == "" {
		cfg.Owner = docker.DefaultOwner
	}
	if cfg.NamePrefix == "" {
		cfg.NamePrefix = DefaultNamePrefix
	}
	if cfg.PullBehavior == "" {
		cfg.PullBehavior = docker.PullDefault
	}
	if _, err := docker.ParsePullBehavior(string(cfg.PullBehavior)); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	if cfg.CleanupDelay <= 0 {
		cfg.CleanupDelay = DefaultCleanupDelay
	}
	if cfg.ResyncInterval <= 0 {
		cfg.ResyncInterval = DefaultResyncInterval
	}
	cfg.ImageCleanup = cfg.ImageCleanup.withDefaults()
	log := cfg.Logger.With("component", "engine")
	return &Engine{
		cfg:     cfg,
		rt:      cfg.Runtime,
		log:     log,
		reports: newReportQueue(),
		images:  newImageTracker(),
		ready:   make(chan struct{}),
		runners: map[string]*runner{},
		tombs:   map[string]tomb{},
		pool:    map[string][]docker.ContainerSummary{},
	}, nil
}

func (e *Engine) ownerLabels() map[string]string {
	return map[string]string{docker.LabelManaged: e.cfg.Owner}
}

// Run lists the containers a previous engine left (to adopt them), follows
// Docker events and drives every task until ctx ends. Containers keep
// running when Run returns. Run may be called once; it fails at once when
// the Docker daemon does not answer (the caller decides whether to retry
// with a new Engine).
func (e *Engine) Run(ctx context.Context) error {
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("engine: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	isReady := false
	defer func() {
		if !isReady { // release callers waiting in Upsert/Sync: they get ErrNotRunning
			e.mu.Lock()
			e.ctx = ctx
			e.mu.Unlock()
			cancel()
			close(e.ready)
		}
	}()
	if err := e.rt.Ping(ctx); err != nil {
		return fmt.Errorf("engine: %w", err)
	}

	evs := e.rt.Events(ctx, e.ownerLabels()) // subscribe first: nothing falls between list and stream
	existing, err := e.rt.ListContainers(ctx, e.ownerLabels())
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	e.mu.Lock()
	for _, s := range existing {
		if arn := s.Labels[docker.LabelTaskARN]; arn != "" {
			e.pool[arn] = append(e.pool[arn], s)
		}
	}
	e.ctx = ctx
	e.mu.Unlock()
	e.log.Info("engine started", "owner", e.cfg.Owner, "existing_containers", len(existing), "existing_tasks", len(e.pool))
	close(e.ready)
	isReady = true

	reporterDone := make(chan struct{})
	go func() {
		defer close(reporterDone)
		e.reports.run(e.cfg.Reporter)
	}()

	resync := time.NewTicker(e.cfg.ResyncInterval)
	defer resync.Stop()
	var gc <-chan time.Time
	if !e.cfg.ImageCleanup.Disabled {
		t := time.NewTicker(e.cfg.ImageCleanup.Interval)
		defer t.Stop()
		gc = t.C
	}
loop:
	for {
		select {
		case ev, ok := <-evs:
			if !ok {
				break loop
			}
			e.dispatch(ev)
		case <-resync.C:
			e.forEachRunner((*runner).resync)
			e.pruneTombs()
		case <-gc:
			if e.gcRunning.CompareAndSwap(false, true) {
				e.wg.Add(1)
				go func() {
					defer e.wg.Done()
					defer e.gcRunning.Store(false)
					e.cleanImages(ctx)
				}()
			}
		case <-ctx.Done():
			break loop
		}
	}
	cancel()
	e.mu.Lock()
	e.closing = true // no runner starts after this, so wg.Wait is safe
	e.mu.Unlock()
	e.wg.Wait()
	e.reports.close()
	<-reporterDone
	e.log.Info("engine stopped")
	return nil
}

func (e *Engine) dispatch(ev docker.Event) {
	if ev.Action == docker.ActionReconnected {
		e.forEachRunner((*runner).resync)
		return
	}
	e.mu.Lock()
	r := e.runners[ev.Labels[docker.LabelTaskARN]]
	e.mu.Unlock()
	if r != nil {
		r.notify(ev)
	}
}

func (e *Engine) forEachRunner(fn func(*runner)) {
	e.mu.Lock()
	rs := slices.Collect(maps.Values(e.runners))
	e.mu.Unlock()
	for _, r := range rs {
		fn(r)
	}
}

// waitReady blocks until Run is ready, and returns its context.
func (e *Engine) waitReady(ctx context.Context) (context.Context, error) {
	select {
	case <-e.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	e.mu.Lock()
	rctx := e.ctx
	e.mu.Unlock()
	if rctx.Err() != nil {
		return nil, ErrNotRunning
	}
	return rctx, nil
}

// Upsert adds a task or changes its desired status. A task whose desired
// status is STOPPED, or that stopped, never runs again. Invalid tasks are
// not an error here: they are reported STOPPED with TaskFailedToStart.
// Upsert waits for Run to be ready.
func (e *Engine) Upsert(ctx context.Context, t Task) error {
	rctx, err := e.waitReady(ctx)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.upsertLocked(rctx, t)
	return nil
}

func (e *Engine) upsertLocked(rctx context.Context, t Task) {
	if r := e.runners[t.ARN]; r != nil {
		r.update(t)
		return
	}
	if _, done := e.tombs[t.ARN]; done {
		return
	}
	r := newRunner(e, t)
	pool := e.pool[t.ARN]
	delete(e.pool, t.ARN)
	e.startLocked(rctx, r, pool)
}

func (e *Engine) startLocked(rctx context.Context, r *runner, pool []docker.ContainerSummary) {
	if e.closing {
		return
	}
	e.runners[r.arn] = r
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		r.run(rctx, pool)
		if rctx.Err() != nil {
			return // engine stopping: keep the task's state for nobody
		}
		e.mu.Lock()
		delete(e.runners, r.arn)
		e.tombs[r.arn] = tomb{at: time.Now(), report: r.report()}
		e.mu.Unlock()
	}()
}

// Sync declares the complete set of tasks for this host: each is upserted,
// and every other task (known, or found in Docker at start with this
// engine's owner label) is stopped. The first Sync after a restart is what
// stops containers of tasks the control plane no longer wants.
func (e *Engine) Sync(ctx context.Context, tasks []Task) error {
	rctx, err := e.waitReady(ctx)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, t := range tasks {
		want[t.ARN] = true
		e.upsertLocked(rctx, t)
	}
	for arn, r := range e.runners {
		if !want[arn] {
			r.update(Task{ARN: arn, DesiredStatus: DesiredStopped})
		}
	}
	for arn, pool := range e.pool {
		delete(e.pool, arn)
		if _, done := e.tombs[arn]; done {
			continue
		}
		e.log.Info("stopping containers of a task that is no longer wanted", "task_arn", arn, "containers", len(pool))
		e.startLocked(rctx, newOrphanRunner(e, arn, pool), pool)
	}
	return nil
}

// StopTask sets a known task's desired status to STOPPED.
func (e *Engine) StopTask(ctx context.Context, arn, stopCode, reason string) error {
	if _, err := e.waitReady(ctx); err != nil {
		return err
	}
	e.mu.Lock()
	r := e.runners[arn]
	e.mu.Unlock()
	if r == nil {
		return fmt.Errorf("task %s: %w", arn, ErrUnknownTask)
	}
	r.update(Task{ARN: arn, DesiredStatus: DesiredStopped, StopCode: stopCode, StoppedReason: reason})
	return nil
}

// Task returns the latest report of a task, running or finished.
func (e *Engine) Task(arn string) (Report, bool) {
	e.mu.Lock()
	r, tb := e.runners[arn], e.tombs[arn]
	e.mu.Unlock()
	if r != nil {
		return r.report(), true
	}
	return tb.report, tb.report.TaskARN != ""
}

// Tasks returns the latest report of every task the engine runs (finished
// tasks excluded once cleaned up).
func (e *Engine) Tasks() []Report {
	var out []Report
	e.forEachRunner(func(r *runner) { out = append(out, r.report()) })
	slices.SortFunc(out, func(a, b Report) int {
		switch {
		case a.TaskARN < b.TaskARN:
			return -1
		case a.TaskARN > b.TaskARN:
			return 1
		}
		return 0
	})
	return out
}

func (e *Engine) pruneTombs() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for arn, tb := range e.tombs {
		if time.Since(tb.at) > tombstoneTTL {
			delete(e.tombs, arn)
		}
	}
}

// newOrphanRunner builds a runner for containers found at start whose task
// is no longer wanted: the task definition is rebuilt from labels, just
// enough to stop the containers, report the task STOPPED and clean up.
func newOrphanRunner(e *Engine, arn string, pool []docker.ContainerSummary) *runner {
	t := Task{ARN: arn, DesiredStatus: DesiredStopped}
	seen := map[string]bool{}
	for _, s := range pool {
		l := s.Labels
		t.Cluster, t.Family = l[docker.LabelCluster], l[docker.LabelTaskDefFamily]
		if v, err := strconv.Atoi(l[docker.LabelTaskDefVersion]); err == nil {
			t.Revision = int32(v)
		}
		name := l[docker.LabelContainerName]
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		essential := false
		t.Definition.ContainerDefinitions = append(t.Definition.ContainerDefinitions,
			ecsapi.ContainerDefinition{Name: name, Image: s.Image, Essential: &essential})
	}
	r := newRunner(e, t)
	r.orphan = true
	r.ctrs = buildContainers(&r.task, e.cfg.NamePrefix, e.cfg.StopTimeout, "")
	for _, c := range r.ctrs {
		if c.name == docker.PauseContainerName {
			c.pause, c.stopTimeout = true, 0 // it ignores SIGTERM
		}
		r.byName[c.name] = c
	}
	return r
}

// pullGroup shares one pull between tasks asking for the same image at once.
type pullGroup struct {
	mu    sync.Mutex
	calls map[string]*pullCall
}

type pullCall struct {
	done chan struct{}
	img  docker.Image
	err  error
}

// pull ensures ref following the engine's pull behavior. The pull itself
// runs under the engine's context, so a task that gives up does not abort
// it for others; the caller stops waiting when ctx ends.
func (e *Engine) pull(ctx context.Context, ref string, auth *docker.RegistryAuth) (docker.Image, error) {
	key := ref
	if auth != nil {
		key += "\x00" + auth.ServerAddress + "\x00" + auth.Username
	}
	e.mu.Lock()
	rctx := e.ctx
	e.mu.Unlock()
	e.pulls.mu.Lock()
	if e.pulls.calls == nil {
		e.pulls.calls = map[string]*pullCall{}
	}
	call := e.pulls.calls[key]
	if call == nil {
		call = &pullCall{done: make(chan struct{})}
		e.pulls.calls[key] = call
		e.wg.Add(1) // called from an operation goroutine, itself in wg
		go func() {
			defer e.wg.Done()
			call.img, call.err = e.ensureImage(rctx, ref, auth)
			if call.err == nil && call.img.Pulled && e.cfg.PullBehavior != docker.PullPreferCached {
				e.images.pulled(ref, call.img.ID)
			}
			e.pulls.mu.Lock()
			delete(e.pulls.calls, key)
			e.pulls.mu.Unlock()
			close(call.done)
		}()
	}
	e.pulls.mu.Unlock()
	select {
	case <-call.done:
		return call.img, call.err
	case <-ctx.Done():
		return docker.Image{}, ctx.Err()
	}
}

// ensureImage makes ref available following the pull behavior. With the
// default behavior (pull every time) it first asks ResolveDigest: when the
// local image already has the digest the registry serves for ref, pulling
// is a no-op and is skipped.
func (e *Engine) ensureImage(ctx context.Context, ref string, auth *docker.RegistryAuth) (docker.Image, error) {
	if e.cfg.PullBehavior == docker.PullDefault && e.cfg.ResolveDigest != nil {
		if img, ok := e.upToDate(ctx, ref); ok {
			return img, nil
		}
	}
	return e.rt.EnsureImage(ctx, ref, auth, e.cfg.PullBehavior)
}

// upToDate returns the local image of ref when it is what the registry
// serves for ref.
func (e *Engine) upToDate(ctx context.Context, ref string) (docker.Image, bool) {
	dctx, cancel := context.WithTimeout(ctx, digestCheckTimeout)
	defer cancel()
	want, err := e.cfg.ResolveDigest(dctx, ref)
	if err != nil || want == "" {
		if err != nil {
			e.log.Debug("cannot resolve the image digest; pulling", "image", ref, "err", err)
		}
		return docker.Image{}, false
	}
	img, err := e.rt.InspectImage(dctx, ref)
	if err != nil || !docker.HasRepoDigest(ref, img.RepoDigests, want) {
		return docker.Image{}, false
	}
	img.Digest = want
	e.log.Debug("image up to date; not pulling", "image", ref, "digest", want)
	return img, true
}

// reportQueue is an unbounded FIFO drained by one goroutine, so runners
// never block on a slow consumer and reports keep their order.
type reportQueue struct {
	mu     sync.Mutex
	items  []Report
	wake   chan struct{}
	closed bool
}

func newReportQueue() reportQueue { return reportQueue{wake: make(chan struct{}, 1)} }

func (q *reportQueue) push(r Report) {
	q.mu.Lock()
	q.items = append(q.items, r)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *reportQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *reportQueue) run(fn func(Report)) {
	for {
		q.mu.Lock()
		items, closed := q.items, q.closed
		q.items = nil
		q.mu.Unlock()
		for _, it := range items {
			if fn != nil {
				fn(it)
			}
		}
		if closed && len(items) == 0 {
			return
		}
		if len(items) == 0 {
			<-q.wake
		}
	}
}
