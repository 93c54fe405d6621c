package engine

import (
	"testing"
	"time"

	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/services/agent/docker"
)

// Docker handled the exit (137, State.OOMKilled false) before the OOM
// notification: the task holds its STOPPED report until the late "oom"
// event, so the final report carries the OOM reason.
func TestEngineFake_LateOOMEvent(t *testing.T) {
	t.Parallel()
	h, f := newFakeHarness(t)
	e, _ := h.start(h.config())
	task := h.task("t", ecsapi.ContainerDefinition{Name: "hog", Memory: ptr[int32](8)})
	if err := e.Upsert(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(task.ARN, 5*time.Second, TaskRunning)
	f.exit("hog", 137)
	// The exit is known (the container is STOPPED), the task is not.
	h.waitFor(task.ARN, 5*time.Second, "hog stopped, task held", func(r Report) bool {
		hog, _ := r.Container("hog")
		return hog.LastStatus == ContainerStopped && r.LastStatus == TaskStopping
	})
	f.mu.Lock()
	for _, c := range f.ctrs {
		f.emit(c, docker.ActionOOM, nil)
	}
	f.mu.Unlock()
	r := h.waitStatus(task.ARN, 5*time.Second, TaskStopped)
	if hog, _ := r.Container("hog"); hog.Reason != ReasonOutOfMemory || hog.ExitCode == nil || *hog.ExitCode != 137 {
		t.Fatalf("%s", summary(r))
	}
}

// Without an "oom" event the hold ends after the grace period: STOPPED,
// exit 137, no OOM reason.
func TestEngineFake_KilledWithoutOOM(t *testing.T) {
	t.Parallel()
	h, f := newFakeHarness(t)
	e, _ := h.start(h.config())
	task := h.task("t", ecsapi.ContainerDefinition{Name: "hog", Memory: ptr[int32](8)})
	if err := e.Upsert(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(task.ARN, 5*time.Second, TaskRunning)
	f.exit("hog", 137)
	r := h.waitStatus(task.ARN, oomGrace+10*time.Second, TaskStopped)
	if hog, _ := r.Container("hog"); hog.Reason != "" || hog.ExitCode == nil || *hog.ExitCode != 137 || r.StopCode != StopCodeEssentialContainerExited {
		t.Fatalf("%s", summary(r))
	}
}

// Only an unexplained SIGKILL under a memory limit waits for an OOM.
func TestAwaitingOOM(t *testing.T) {
	now := time.Now()
	code := func(n int) *int { return &n }
	killed := func(mutate func(c *ctr)) *ctr {
		c := &ctr{status: ContainerStopped, exitCode: code(137), memLimited: true}
		if mutate != nil {
			mutate(c)
		}
		return c
	}
	for _, tc := range []struct {
		name string
		c    *ctr
		wait bool
	}{
		{"killed under a limit", killed(nil), true},
		{"still running", killed(func(c *ctr) { c.status = ContainerRunning }), false},
		{"exit 1", killed(func(c *ctr) { c.exitCode = code(1) }), false},
		{"no exit code", killed(func(c *ctr) { c.exitCode = nil }), false},
		{"no memory limit", killed(func(c *ctr) { c.memLimited = false }), false},
		{"stopped by the engine", killed(func(c *ctr) { c.stopSent = true }), false},
		{"oom already seen", killed(func(c *ctr) { c.oomKilled = true }), false},
		{"reason known", killed(func(c *ctr) { c.reason = ReasonOutOfMemory }), false},
		{"grace over", killed(func(c *ctr) { c.oomWaitEnd = now.Add(-time.Millisecond) }), false},
	} {
		until := awaitingOOM(tc.c, now)
		if got := !until.IsZero(); got != tc.wait {
			t.Errorf("%s: waits %v, want %v", tc.name, got, tc.wait)
		}
		if tc.wait && !until.Equal(now.Add(oomGrace)) {
			t.Errorf("%s: waits until %v, want now+%v", tc.name, until, oomGrace)
		}
	}
}
