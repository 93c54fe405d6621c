package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/berth-project/berth/services/agent/docker"
	"github.com/berth-project/berth/services/agent/docker/dockertest"
)

// A second engine on the same Docker adopts the running tasks of the first
// without creating duplicates, and stops the container of a task that is no
// longer wanted.
func TestEngine_AdoptionAfterRestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()

	var tasks []Task
	for i := range 6 {
		tasks = append(tasks, h.task(fmt.Sprintf("t%d", i), sleeper("app", 0)))
	}
	e1, stop1 := h.start(h.config())
	if err := e1.Sync(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, task := range tasks {
		r := h.waitStatus(task.ARN, 30*time.Second, TaskRunning)
		c, _ := r.Container("app")
		ids[task.ARN] = c.RuntimeID
	}
	stop1() // the agent goes away; its containers keep running
	for _, task := range tasks {
		c := h.inspect(ids[task.ARN])
		if !c.Running {
			t.Fatalf("%s stopped with the engine", task.ARN)
		}
	}

	e2, _ := h.start(h.config())
	keep, drop := tasks[:5], tasks[5]
	if err := e2.Sync(ctx, keep); err != nil {
		t.Fatal(err)
	}
	for _, task := range keep {
		var r Report
		dockertest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
			var ok bool
			r, ok = e2.Task(task.ARN)
			if c, _ := r.Container("app"); !ok || r.LastStatus != TaskRunning || c.RuntimeID == "" {
				return fmt.Errorf("new engine: %s", summary(r))
			}
			return nil
		})
		if c, _ := r.Container("app"); c.RuntimeID != ids[task.ARN] {
			t.Errorf("%s: runtime id %s, was %s", task.ARN, c.RuntimeID, ids[task.ARN])
		}
	}
	r := h.waitStatus(drop.ARN, 20*time.Second, TaskStopped)
	if c, _ := r.Container("app"); c.RuntimeID != ids[drop.ARN] || c.ExitCode == nil {
		t.Errorf("dropped task: %s", summary(r))
	}
	if c := h.inspect(ids[drop.ARN]); c.Running {
		t.Errorf("container of the dropped task still runs")
	}

	// Exactly one container per task, the original one.
	list, err := h.c.ListContainers(ctx, map[string]string{docker.LabelManaged: h.owner})
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, s := range list {
		per[s.Labels[docker.LabelTaskARN]]++
		if ids[s.Labels[docker.LabelTaskARN]] != s.ID {
			t.Errorf("unexpected container %s (%s)", s.Name, s.ID)
		}
	}
	for _, task := range tasks {
		if per[task.ARN] != 1 {
			t.Errorf("%s: %d containers", task.ARN, per[task.ARN])
		}
	}
	// Later stops of adopted tasks work as usual.
	if err := e2.StopTask(ctx, keep[0].ARN, StopCodeUserInitiated, "Task stopped by user"); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(keep[0].ARN, 20*time.Second, TaskStopped)
}
