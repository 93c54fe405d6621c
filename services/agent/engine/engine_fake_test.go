package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/services/agent/docker"
	"github.com/berth-project/berth/services/agent/docker/dockertest"
)

func TestEngineFake_EssentialStartFailure(t *testing.T) {
	t.Parallel()
	h, f := newFakeHarness(t)
	f.startErr["app"] = errors.New("exec: \"nope\": executable file not found")
	e, _ := h.start(h.config())

	task := h.task("t", ecsapi.ContainerDefinition{Name: "app"})
	if err := e.Upsert(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	r := h.waitStatus(task.ARN, 5*time.Second, TaskStopped)
	app, _ := r.Container("app")
	want := "CannotStartContainerError: exec: \"nope\": executable file not found"
	if r.StopCode != StopCodeTaskFailedToStart || r.StoppedReason != want || app.Reason != want || app.RuntimeID == "" {
		t.Fatalf("%s", summary(r))
	}
}

func TestEngineFake_NonEssentialCreateFailureKeepsTask(t *testing.T) {
	t.Parallel()
	h, f := newFakeHarness(t)
	f.createErr["side"] = errors.New("invalid mount")
	e, _ := h.start(h.config())

	task := h.task("t", ecsapi.ContainerDefinition{Name: "app"}, ecsapi.ContainerDefinition{Name: "side", Essential: ptr(false)})
	if err := e.Upsert(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	r := h.waitStatus(task.ARN, 5*time.Second, TaskRunning)
	side, _ := r.Container("side")
	if r.LastStatus != TaskRunning || side.LastStatus != ContainerStopped || side.Reason != "CannotCreateContainerError: invalid mount" {
		t.Fatalf("%s", summary(r))
	}
}

// A container that exists with the task's name but was not listed at start
// (e.g. created by an older agent still shutting down) is adopted through
// the name conflict, not duplicated.
func TestEngineFake_CreateConflictAdopts(t *testing.T) {
	t.Parallel()
	h, f := newFakeHarness(t)
	e, _ := h.start(h.config())
	task := h.task("t", ecsapi.ContainerDefinition{Name: "app"})

	// Pretend a previous agent created (not started) the container after Run listed.
	r0 := newRunner(e, task)
	c0 := buildContainers(&r0.task, e.cfg.NamePrefix, time.Second, "")[0]
	if _, err := f.CreateContainer(t.Context(), docker.ContainerSpec{Name: c0.dockerName, Owner: e.cfg.Owner,
		Task: r0.info, Definition: c0.def}); err != nil {
		t.Fatal(err)
	}
	if err := e.Upsert(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	r := h.waitStatus(task.ARN, 5*time.Second, TaskRunning)
	if app, _ := r.Container("app"); app.RuntimeID != "c0001" || f.count() != 1 {
		t.Fatalf("%s; creates=%d", summary(r), f.count())
	}
}

// When events are lost, the reconnect notice (or the periodic resync)
// makes the engine re-inspect and notice the exit.
func TestEngineFake_ResyncAfterLostEvents(t *testing.T) {
	t.Parallel()
	h, f := newFakeHarness(t)
	e, _ := h.start(h.config())
	task := h.task("t", ecsapi.ContainerDefinition{Name: "app"})
	if err := e.Upsert(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(task.ARN, 5*time.Second, TaskRunning)
	// The engine has inspected the container after starting it and after
	// the start event: nothing more makes it look before the next event.
	dockertest.Eventually(t, 5*time.Second, 5*time.Millisecond, func() error {
		if n := f.inspected("app"); n < 2 {
			return fmt.Errorf("%d inspections of app", n)
		}
		return nil
	})

	f.mu.Lock()
	f.quiet = true
	f.mu.Unlock()
	f.exit("app", 7)
	// A negative check: nothing tells the engine, so for a while it must
	// not notice (observed, not slept through).
	h.never(task.ARN, 100*time.Millisecond, "noticed the exit without events", func(r Report) bool { return r.LastStatus != TaskRunning })
	f.events <- docker.Event{Action: docker.ActionReconnected}
	r := h.waitStatus(task.ARN, 5*time.Second, TaskStopped)
	if app, _ := r.Container("app"); app.ExitCode == nil || *app.ExitCode != 7 {
		t.Fatalf("%s", summary(r))
	}
}

func TestEngineFake_StopRetriedAfterError(t *testing.T) {
	t.Parallel()
	h, f := newFakeHarness(t)
	f.stopErrs = 2
	e, _ := h.start(h.config())
	task := h.task("t", ecsapi.ContainerDefinition{Name: "app"})
	if err := e.Upsert(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(task.ARN, 5*time.Second, TaskRunning)
	if err := e.StopTask(t.Context(), task.ARN, StopCodeUserInitiated, "bye"); err != nil {
		t.Fatal(err)
	}
	r := h.waitStatus(task.ARN, 10*time.Second, TaskStopped)
	if app, _ := r.Container("app"); app.ExitCode == nil || *app.ExitCode != 143 || r.StoppedReason != "bye" {
		t.Fatalf("%s", summary(r))
	}
}

// HEALTHY holds the app until db is healthy; startTimeout gives up.
func TestEngineFake_DependsOnHealthy(t *testing.T) {
	t.Parallel()
	h, f := newFakeHarness(t)
	e, _ := h.start(h.config())

	mk := func(id string, timeout *int32) Task {
		db := ecsapi.ContainerDefinition{Name: "db", StartTimeout: timeout,
			HealthCheck: &ecsapi.HealthCheck{Command: []string{"CMD-SHELL", "true"}}}
		app := ecsapi.ContainerDefinition{Name: "app",
			DependsOn: []ecsapi.ContainerDependency{{ContainerName: "db", Condition: "HEALTHY"}}}
		return h.task(id, db, app)
	}
	ok, late := mk("ok", nil), mk("late", ptr[int32](1))
	if err := e.Sync(t.Context(), []Task{ok, late}); err != nil {
		t.Fatal(err)
	}
	h.waitFor(ok.ARN, 5*time.Second, "db running", func(r Report) bool {
		db, _ := r.Container("db")
		return db.LastStatus == ContainerRunning
	})
	// late gives up after its 1 s startTimeout; ok's app must still be
	// held then, its db being no healthier.
	r := h.waitStatus(late.ARN, 5*time.Second, TaskStopped)
	if r.StopCode != StopCodeTaskFailedToStart || !strings.Contains(r.StoppedReason, "startTimeout") {
		t.Fatalf("late: %s", summary(r))
	}
	if r, _ := h.last(ok.ARN); r.LastStatus != TaskPending {
		t.Fatalf("app started before db was healthy: %s", summary(r))
	}
	f.setHealth("db", "healthy") // both tasks' db; only ok still runs
	r = h.waitStatus(ok.ARN, 5*time.Second, TaskRunning)
	if r.HealthStatus != HealthHealthy {
		t.Errorf("ok: %s", summary(r))
	}
}

// Shutdown order over a chain a -> b -> c (a depends on b, b on c).
func TestEngineFake_ShutdownOrderChain(t *testing.T) {
	t.Parallel()
	h, f := newFakeHarness(t)
	e, _ := h.start(h.config())
	task := h.task("t",
		ecsapi.ContainerDefinition{Name: "c"},
		ecsapi.ContainerDefinition{Name: "a", DependsOn: []ecsapi.ContainerDependency{{ContainerName: "b", Condition: "START"}}},
		ecsapi.ContainerDefinition{Name: "b", Links: []string{"c:cc"}},
	)
	if err := e.Upsert(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(task.ARN, 5*time.Second, TaskRunning)
	task.DesiredStatus = DesiredStopped
	if err := e.Upsert(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(task.ARN, 5*time.Second, TaskStopped)
	f.mu.Lock()
	order := slices.Clone(f.stopCalls)
	f.mu.Unlock()
	if !slices.Equal(order, []string{"a", "b", "c"}) {
		t.Fatalf("stop order %v, want [a b c]", order)
	}
}

// Cleanup removes containers and task volumes after the delay.
func TestEngineFake_Cleanup(t *testing.T) {
	t.Parallel()
	h, f := newFakeHarness(t)
	cfg := h.config()
	cfg.CleanupDelay = 50 * time.Millisecond
	e, _ := h.start(cfg)
	task := h.task("t", ecsapi.ContainerDefinition{Name: "app", Command: []string{"x"}})
	if err := e.Upsert(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(task.ARN, 5*time.Second, TaskRunning)
	f.exit("app", 0)
	h.waitStatus(task.ARN, 5*time.Second, TaskStopped)
	dockertest.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error {
		if s := f.status("app"); s != "absent" || !f.removedVolumes(task.ARN) {
			return fmt.Errorf("not cleaned up: container %s, volumes removed %v", s, f.removedVolumes(task.ARN))
		}
		return nil
	})
}

func (f *fakeRuntime) removedVolumes(arn string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.volumesRmd[arn]
}

// Images the engine pulled are removed once unused for MinAge; images used
// with prefer-cached never are.
func TestEngineFake_ImageCleanup(t *testing.T) {
	t.Parallel()
	for _, b := range []docker.PullBehavior{docker.PullDefault, docker.PullPreferCached} {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			h, f := newFakeHarness(t)
			f.pullFresh = true
			cfg := h.config()
			cfg.PullBehavior = b
			cfg.CleanupDelay = 100 * time.Millisecond
			cfg.ImageCleanup = ImageCleanup{Interval: 20 * time.Millisecond, MinAge: 10 * time.Millisecond}
			e, _ := h.start(cfg)
			task := h.task("t", ecsapi.ContainerDefinition{Name: "app"})
			if err := e.Upsert(t.Context(), task); err != nil {
				t.Fatal(err)
			}
			h.waitStatus(task.ARN, 5*time.Second, TaskRunning)
			waitImageCycles(t, e, 3) // while the container exists
			if got := f.removedImages(); len(got) != 0 {
				t.Fatalf("image removed while in use: %v", got)
			}
			f.exit("app", 0)
			h.waitStatus(task.ARN, 5*time.Second, TaskStopped)
			if b == docker.PullDefault {
				dockertest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
					if got := f.removedImages(); !slices.Equal(got, []string{"img"}) {
						return fmt.Errorf("removed %v, want [img]", got)
					}
					return nil
				})
				return
			}
			// prefer-cached: once the container is gone, cycles go by and
			// the image stays.
			dockertest.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
				if s := f.status("app"); s != "absent" {
					return fmt.Errorf("container %s", s)
				}
				return nil
			})
			waitImageCycles(t, e, 3)
			if got := f.removedImages(); len(got) != 0 {
				t.Fatalf("prefer-cached image removed: %v", got)
			}
		})
	}
}

type downRuntime struct{ *fakeRuntime }

func (downRuntime) Ping(context.Context) error { return docker.ErrUnavailable }

// A Run that cannot reach Docker releases callers waiting to upsert.
func TestEngineFake_RunFailureReleasesCallers(t *testing.T) {
	t.Parallel()
	e, err := New(Config{Runtime: downRuntime{newFake()}})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- e.Upsert(t.Context(), Task{ARN: "a"}) }()
	if err := e.Run(t.Context()); !errors.Is(err, docker.ErrUnavailable) {
		t.Fatalf("Run = %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrNotRunning) {
			t.Fatalf("Upsert = %v, want ErrNotRunning", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Upsert still blocked")
	}
}

// ContainerEnv is asked per container and its variables reach Docker; the
// definition's own variables win.
func TestEngineFake_ContainerEnv(t *testing.T) {
	t.Parallel()
	h, f := newFakeHarness(t)
	cfg := h.config()
	var mu sync.Mutex
	asked := map[string]string{}
	cfg.ContainerEnv = func(arn string, def *ecsapi.TaskDefinition, container string) map[string]string {
		mu.Lock()
		asked[container] = arn + "|" + def.NetworkMode
		mu.Unlock()
		return map[string]string{"META": "uri-" + container, "MINE": "agent"}
	}
	e, _ := h.start(cfg)
	task := h.task("t", ecsapi.ContainerDefinition{Name: "app", Command: []string{"x"},
		Environment: []ecsapi.KeyValuePair{{Name: "MINE", Value: "user"}}})
	if err := e.Upsert(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	r := h.waitStatus(task.ARN, 5*time.Second, TaskRunning)
	app, _ := r.Container("app")
	in, err := f.InspectContainer(t.Context(), app.RuntimeID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(in.Env, []string{"MINE=user", "META=uri-app"}) {
		t.Errorf("env = %v", in.Env)
	}
	mu.Lock()
	defer mu.Unlock()
	if asked["app"] != task.ARN+"|bridge" {
		t.Errorf("ContainerEnv asked %v", asked)
	}
}

// An "oom" event before the exit gives the OOM reason even when Docker's
// State.OOMKilled was lost (a Docker 20.10 race).
func TestEngineFake_OOMEventWithoutOOMKilled(t *testing.T) {
	t.Parallel()
	h, f := newFakeHarness(t)
	e, _ := h.start(h.config())
	task := h.task("t", ecsapi.ContainerDefinition{Name: "hog", Command: []string{"x"}})
	if err := e.Upsert(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(task.ARN, 5*time.Second, TaskRunning)
	f.mu.Lock()
	for _, c := range f.ctrs {
		f.emit(c, docker.ActionOOM, nil)
	}
	f.mu.Unlock()
	// The oom event comes before the die event on the one event stream, as
	// Docker sends them; the engine takes them in that order.
	f.exit("hog", 137)
	r := h.waitStatus(task.ARN, 5*time.Second, TaskStopped)
	if hog, _ := r.Container("hog"); hog.Reason != ReasonOutOfMemory || hog.ExitCode == nil || *hog.ExitCode != 137 {
		t.Fatalf("%s", summary(r))
	}
}
