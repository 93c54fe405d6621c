package engine

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/services/agent/docker"
	"github.com/berth-project/berth/services/agent/docker/dockertest"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// A single sleeping container runs, stops on request, and is removed after
// the cleanup delay.
func TestEngine_SleepTaskRunsStopsAndIsCleanedUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cfg := h.config()
	cfg.CleanupDelay = 500 * time.Millisecond
	e, _ := h.start(cfg)
	ctx := t.Context()

	task := h.task("sleep", sleeper("app", 0))
	if err := e.Sync(ctx, []Task{task}); err != nil {
		t.Fatal(err)
	}
	r := h.waitStatus(task.ARN, 20*time.Second, TaskRunning)
	app, _ := r.Container("app")
	if r.LastStatus != TaskRunning || app.LastStatus != ContainerRunning || app.RuntimeID == "" || app.StartedAt.IsZero() {
		t.Fatalf("running report: %s", summary(r))
	}
	if r.PullStartedAt.IsZero() || r.PullStoppedAt.Before(r.PullStartedAt) || r.StartedAt.IsZero() {
		t.Errorf("timestamps: pull %v..%v started %v", r.PullStartedAt, r.PullStoppedAt, r.StartedAt)
	}
	if in := h.inspect(app.RuntimeID); !in.Running || in.Labels[docker.LabelTaskARN] != task.ARN || in.Labels[docker.LabelContainerName] != "app" {
		t.Fatalf("docker: %+v", in)
	}
	if got, ok := e.Task(task.ARN); !ok || got.LastStatus != TaskRunning {
		t.Errorf("Engine.Task = %s, %v", summary(got), ok)
	}

	if err := e.StopTask(ctx, task.ARN, StopCodeUserInitiated, "Task stopped by user"); err != nil {
		t.Fatal(err)
	}
	r = h.waitStatus(task.ARN, 20*time.Second, TaskStopped)
	app, _ = r.Container("app")
	if r.StopCode != StopCodeUserInitiated || r.StoppedReason != "Task stopped by user" || r.DesiredStatus != DesiredStopped {
		t.Errorf("stop: %s", summary(r))
	}
	if app.LastStatus != ContainerStopped || app.ExitCode == nil || *app.ExitCode != 0 {
		t.Errorf("container after stop: %s", summary(r))
	}
	if r.StoppingAt.IsZero() || r.ExecutionStoppedAt.IsZero() || r.StoppedAt.Before(r.StoppingAt) {
		t.Errorf("stop timestamps: %v %v %v", r.StoppingAt, r.ExecutionStoppedAt, r.StoppedAt)
	}
	dockertest.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		if n := len(h.containersOf(task.ARN)); n != 0 {
			return fmt.Errorf("%d containers left", n)
		}
		return nil
	})
	// A stopped task never comes back, even if asked again: Upsert decides
	// at once, and no new runner means nothing creates its containers (the
	// old one, if it is still finishing, only gets a desired state it
	// ignores).
	e.mu.Lock()
	old := e.runners[task.ARN]
	e.mu.Unlock()
	if err := e.Upsert(ctx, task); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	now := e.runners[task.ARN]
	e.mu.Unlock()
	if now != nil && now != old {
		t.Fatal("stopped task started again")
	}
	if n := len(h.containersOf(task.ARN)); n != 0 {
		t.Fatalf("stopped task restarted: %d containers", n)
	}
	if got, ok := e.Task(task.ARN); !ok || got.LastStatus != TaskStopped {
		t.Errorf("Engine.Task after cleanup = %s, %v", summary(got), ok)
	}
}

// An essential container exiting 3 stops the task and the other container.
func TestEngine_EssentialExitStopsTask(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	e, _ := h.start(h.config())

	side := sleeper("side", 0)
	side.Essential = ptr(false)
	task := h.task("ess",
		ecsapi.ContainerDefinition{Name: "main", Command: []string{"sh", "-c", "sleep 1; exit 3"}},
		side,
	)
	if err := e.Sync(t.Context(), []Task{task}); err != nil {
		t.Fatal(err)
	}
	r := h.waitStatus(task.ARN, 30*time.Second, TaskStopped)
	main, _ := r.Container("main")
	sc, _ := r.Container("side")
	if r.StopCode != StopCodeEssentialContainerExited || r.StoppedReason != ReasonEssentialContainerExited {
		t.Errorf("stop: %s", summary(r))
	}
	if main.ExitCode == nil || *main.ExitCode != 3 || main.LastStatus != ContainerStopped {
		t.Errorf("main: %s", summary(r))
	}
	if sc.LastStatus != ContainerStopped || sc.RuntimeID == "" {
		t.Fatalf("side: %s", summary(r))
	}
	if in := h.inspect(sc.RuntimeID); in.Running {
		t.Errorf("side still running in Docker")
	}
	if r.ExecutionStoppedAt.IsZero() || r.ExecutionStoppedAt.After(r.StoppedAt) {
		t.Errorf("executionStoppedAt %v stoppedAt %v", r.ExecutionStoppedAt, r.StoppedAt)
	}
}

// hostPort 0 gives an ephemeral port, read back from inspect.
func TestEngine_PortBindingsAndResources(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	e, _ := h.start(h.config())

	task := h.task("web", ecsapi.ContainerDefinition{
		Name:         "web",
		Command:      []string{"httpd", "-f", "-p", "80", "-h", "/www"},
		Cpu:          ptr[int32](256),
		Memory:       ptr[int32](64),
		PortMappings: []ecsapi.PortMapping{{ContainerPort: ptr[int32](80), HostPort: ptr[int32](0), Protocol: "tcp"}},
	})
	if err := e.Sync(t.Context(), []Task{task}); err != nil {
		t.Fatal(err)
	}
	r := h.waitStatus(task.ARN, 20*time.Second, TaskRunning)
	web, _ := r.Container("web")
	if len(web.NetworkBindings) == 0 {
		t.Fatalf("no network bindings: %s", summary(r))
	}
	b := web.NetworkBindings[0]
	if b.ContainerPort != 80 || b.HostPort <= 0 || b.Protocol != "tcp" || b.BindIP == "" {
		t.Fatalf("binding = %+v", b)
	}
	ecs := r.ECSContainers()[0].NetworkBindings[0]
	if *ecs.HostPort != int32(b.HostPort) || ecs.BindIP != b.BindIP {
		t.Errorf("ECS binding = %+v", ecs)
	}
	var body []byte
	dockertest.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", b.HostPort))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(resp.Body)
		return err
	})
	if !strings.Contains(string(body), "hello from berth") {
		t.Errorf("body = %q", body)
	}

	raw, err := h.c.API().ContainerInspect(t.Context(), web.RuntimeID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if hc := raw.Container.HostConfig; hc.Memory != 64*1024*1024 || hc.CPUShares != 256 {
		t.Errorf("Memory = %d, CpuShares = %d; want 64 MiB, 256", hc.Memory, hc.CPUShares)
	}
}

// RunTask overrides reach Docker, not only the scheduler's reservation:
// a container override's cpu, memory and memoryReservation, and the task
// override's cpu (a NanoCpus ceiling on every container) and memory (the
// hard limit of a container without its own). A container with no memory
// at either level runs without a limit.
func TestEngine_OverridesReachDocker(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	e, _ := h.start(h.config())

	sized := sleeper("sized", 0)
	sized.Cpu, sized.Memory = ptr[int32](128), ptr[int32](96)
	task := h.task("overrides", sized, sleeper("plain", 0))
	task.Definition.Cpu, task.Definition.Memory = "512", "256"
	task.Overrides = ecsapi.TaskOverride{
		Cpu: "256", Memory: "160",
		ContainerOverrides: []ecsapi.ContainerOverride{{Name: "sized", Cpu: ptr[int32](300), Memory: ptr[int32](80), MemoryReservation: ptr[int32](40)}},
	}
	bare := h.task("no-memory", sleeper("bare", 0))
	if err := e.Sync(t.Context(), []Task{task, bare}); err != nil {
		t.Fatal(err)
	}
	hostConfig := func(arn, name string) container.HostConfig {
		t.Helper()
		r := h.waitStatus(arn, 30*time.Second, TaskRunning)
		c, _ := r.Container(name)
		raw, err := h.c.API().ContainerInspect(t.Context(), c.RuntimeID, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return *raw.Container.HostConfig
	}
	if hc := hostConfig(task.ARN, "sized"); hc.CPUShares != 300 || hc.Memory != 80<<20 || hc.MemoryReservation != 40<<20 || hc.NanoCPUs != 250_000_000 {
		t.Errorf("sized: CpuShares %d Memory %d MemoryReservation %d NanoCpus %d; want 300, 80 MiB, 40 MiB, 0.25 CPU",
			hc.CPUShares, hc.Memory, hc.MemoryReservation, hc.NanoCPUs)
	}
	if hc := hostConfig(task.ARN, "plain"); hc.Memory != 160<<20 || hc.NanoCPUs != 250_000_000 || hc.CPUShares != 2 {
		t.Errorf("plain: Memory %d NanoCpus %d CpuShares %d; want the task override's 160 MiB and 0.25 CPU, 2 shares", hc.Memory, hc.NanoCPUs, hc.CPUShares)
	}
	if hc := hostConfig(bare.ARN, "bare"); hc.Memory != 0 || hc.MemoryReservation != 0 || hc.NanoCPUs != 0 {
		t.Errorf("no memory anywhere: Memory %d MemoryReservation %d NanoCpus %d; want no limits", hc.Memory, hc.MemoryReservation, hc.NanoCPUs)
	}
}

// Health checks: a passing one makes container and task HEALTHY, a failing
// one UNHEALTHY.
func TestEngine_HealthCheck(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	e, _ := h.start(h.config())

	check := func(name, cmd string) ecsapi.ContainerDefinition {
		c := sleeper(name, 0)
		c.HealthCheck = &ecsapi.HealthCheck{Command: []string{"CMD-SHELL", cmd},
			Interval: ptr[int32](1), Timeout: ptr[int32](2), Retries: ptr[int32](1)}
		return c
	}
	good := h.task("good", check("app", "true"))
	bad := h.task("bad", check("app", "exit 1"))
	if err := e.Sync(t.Context(), []Task{good, bad}); err != nil {
		t.Fatal(err)
	}
	r := h.waitFor(good.ARN, 20*time.Second, "HEALTHY", func(r Report) bool { return r.HealthStatus == HealthHealthy })
	if c, _ := r.Container("app"); c.HealthStatus != HealthHealthy || r.LastStatus != TaskRunning {
		t.Errorf("good: %s", summary(r))
	}
	r = h.waitFor(bad.ARN, 20*time.Second, "UNHEALTHY", func(r Report) bool { return r.HealthStatus == HealthUnhealthy })
	if c, _ := r.Container("app"); c.HealthStatus != HealthUnhealthy || r.LastStatus != TaskRunning {
		t.Errorf("bad: %s (a standalone task keeps running when unhealthy)", summary(r))
	}
}

// dependsOn SUCCESS holds the app until init exits 0; a failing init stops
// the task before the app starts.
func TestEngine_DependsOnSuccess(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	e, _ := h.start(h.config())

	mk := func(id string, exit int) Task {
		init := ecsapi.ContainerDefinition{Name: "init", Essential: ptr(false),
			Command: []string{"sh", "-c", fmt.Sprintf("sleep 1; exit %d", exit)}}
		app := sleeper("app", 0)
		app.DependsOn = []ecsapi.ContainerDependency{{ContainerName: "init", Condition: "SUCCESS"}}
		return h.task(id, init, app)
	}
	ok, fail := mk("ok", 0), mk("fail", 1)
	if err := e.Sync(t.Context(), []Task{ok, fail}); err != nil {
		t.Fatal(err)
	}

	r := h.waitStatus(ok.ARN, 30*time.Second, TaskRunning)
	init, _ := r.Container("init")
	app, _ := r.Container("app")
	if init.LastStatus != ContainerStopped || init.ExitCode == nil || *init.ExitCode != 0 || app.LastStatus != ContainerRunning {
		t.Fatalf("ok: %s", summary(r))
	}
	if app.StartedAt.Before(init.FinishedAt) {
		t.Errorf("app started at %v, before init finished at %v", app.StartedAt, init.FinishedAt)
	}
	// While init ran, the app must never have been reported RUNNING.
	h.mu.Lock()
	for _, rep := range h.reports[ok.ARN] {
		i, _ := rep.Container("init")
		a, _ := rep.Container("app")
		if a.LastStatus == ContainerRunning && i.LastStatus != ContainerStopped {
			t.Errorf("app RUNNING while init %s", i.LastStatus)
		}
	}
	h.mu.Unlock()

	r = h.waitStatus(fail.ARN, 30*time.Second, TaskStopped)
	app, _ = r.Container("app")
	if r.StopCode != StopCodeTaskFailedToStart || !strings.Contains(r.StoppedReason, "exited with code 1") {
		t.Errorf("fail: %s", summary(r))
	}
	if !app.StartedAt.IsZero() || app.LastStatus != ContainerStopped {
		t.Errorf("app started despite failed dependency: %s", summary(r))
	}
}

// An image that cannot be pulled stops the task with TaskFailedToStart.
func TestEngine_PullFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cfg := h.config()
	cfg.PullBehavior = docker.PullDefault
	e, _ := h.start(cfg)

	img := "berth-test/does-not-exist-" + dockertest.RunID() + ":latest"
	task := h.task("pull", ecsapi.ContainerDefinition{Name: "app", Image: img}, sleeper("other", 0))
	if err := e.Sync(t.Context(), []Task{task}); err != nil {
		t.Fatal(err)
	}
	r := h.waitStatus(task.ARN, 30*time.Second, TaskStopped)
	if r.StopCode != StopCodeTaskFailedToStart || !strings.HasPrefix(r.StoppedReason, "CannotPullContainerError: ") ||
		len(r.StoppedReason) <= len("CannotPullContainerError: ") {
		t.Fatalf("pull failure: %s", summary(r))
	}
	t.Logf("stoppedReason: %s", r.StoppedReason)
	app, _ := r.Container("app")
	if app.Reason != r.StoppedReason || app.RuntimeID != "" {
		t.Errorf("app: %s", summary(r))
	}
	if r.PullStartedAt.IsZero() || r.PullStoppedAt.IsZero() {
		t.Errorf("pull timestamps missing")
	}
	if other, _ := r.Container("other"); other.LastStatus != ContainerStopped {
		t.Errorf("other: %s", summary(r))
	}
}

// `docker stop` from outside: the engine sees it and reports the real exit code.
func TestEngine_ExternalDockerStop(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	e, _ := h.start(h.config())

	task := h.task("ext", sleeper("app", 42))
	if err := e.Sync(t.Context(), []Task{task}); err != nil {
		t.Fatal(err)
	}
	r := h.waitStatus(task.ARN, 20*time.Second, TaskRunning)
	app, _ := r.Container("app")
	if err := h.c.StopContainer(context.Background(), app.RuntimeID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	r = h.waitStatus(task.ARN, 20*time.Second, TaskStopped)
	app, _ = r.Container("app")
	if app.ExitCode == nil || *app.ExitCode != 42 || r.StopCode != StopCodeEssentialContainerExited {
		t.Fatalf("after docker stop: %s", summary(r))
	}
}

// A container killed for memory is reported with ECS's OOM reason.
func TestEngine_OutOfMemory(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	e, _ := h.start(h.config())

	task := h.task("oom", ecsapi.ContainerDefinition{
		Name:            "hog",
		Memory:          ptr[int32](8),
		LinuxParameters: &ecsapi.LinuxParameters{MaxSwap: ptr[int32](0)},
		Command:         []string{"sh", "-c", `x=$(head -c 100000000 /dev/zero | tr '\0' a); echo done`},
	})
	if err := e.Sync(t.Context(), []Task{task}); err != nil {
		t.Fatal(err)
	}
	r := h.waitStatus(task.ARN, 30*time.Second, TaskStopped)
	hog, _ := r.Container("hog")
	if hog.Reason != ReasonOutOfMemory || hog.ExitCode == nil || *hog.ExitCode != 137 {
		t.Fatalf("oom: %s", summary(r))
	}
}

// Shutdown runs in reverse dependency order: db (which app depends on) is
// stopped only after app has stopped, although app takes longer to stop.
func TestEngine_ReverseOrderShutdown(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	e, _ := h.start(h.config())

	db := sleeper("db", 0)
	app := ecsapi.ContainerDefinition{Name: "app", Command: []string{"sleep", "3600"}, // ignores SIGTERM: killed after 1 s
		DependsOn: []ecsapi.ContainerDependency{{ContainerName: "db", Condition: "START"}}}
	task := h.task("order", db, app)
	if err := e.Sync(t.Context(), []Task{task}); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(task.ARN, 20*time.Second, TaskRunning)
	if err := e.Sync(t.Context(), nil); err != nil { // no longer wanted
		t.Fatal(err)
	}
	r := h.waitStatus(task.ARN, 20*time.Second, TaskStopped)
	dbr, _ := r.Container("db")
	appr, _ := r.Container("app")
	if appr.ExitCode == nil || *appr.ExitCode != 137 || dbr.ExitCode == nil || *dbr.ExitCode != 0 {
		t.Fatalf("exit codes: %s", summary(r))
	}
	if dbr.FinishedAt.Before(appr.FinishedAt) {
		t.Errorf("db finished at %v, before app at %v", dbr.FinishedAt, appr.FinishedAt)
	}
	if appr.StartedAt.Before(dbr.StartedAt) {
		t.Errorf("app started before db")
	}
}

// Definitions the agent cannot run are refused without touching Docker.
func TestEngine_RefusesUnsupportedTasks(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	e, _ := h.start(h.config())

	awsvpc := h.task("awsvpc", sleeper("app", 0))
	awsvpc.Definition.NetworkMode = "awsvpc"
	fargate := h.task("fargate", sleeper("app", 0))
	fargate.Definition.RequiresCompatibilities = []string{"FARGATE"}
	cycle := h.task("cycle", sleeper("a", 0), sleeper("b", 0))
	cycle.Definition.ContainerDefinitions[0].DependsOn = []ecsapi.ContainerDependency{{ContainerName: "b", Condition: "START"}}
	cycle.Definition.ContainerDefinitions[1].DependsOn = []ecsapi.ContainerDependency{{ContainerName: "a", Condition: "START"}}
	if err := e.Sync(t.Context(), []Task{awsvpc, fargate, cycle}); err != nil {
		t.Fatal(err)
	}
	for task, want := range map[string]string{awsvpc.ARN: "awsvpc", fargate.ARN: "FARGATE", cycle.ARN: "cycle"} {
		r := h.waitStatus(task, 10*time.Second, TaskStopped)
		if r.StopCode != StopCodeTaskFailedToStart || !strings.Contains(r.StoppedReason, want) {
			t.Errorf("%s: %s", want, summary(r))
		}
		if n := len(h.containersOf(task)); n != 0 {
			t.Errorf("%s: %d containers created", want, n)
		}
	}
}
