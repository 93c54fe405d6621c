package engine

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/services/agent/docker"
)

func TestResolve(t *testing.T) {
	now := time.Now()
	code := func(n int) *int { return &n }
	cases := []struct {
		name   string
		cond   string
		target ctr
		want   depState
	}{
		{"start waits", condStart, ctr{status: ContainerCreated}, depWaiting},
		{"start running", condStart, ctr{status: ContainerRunning}, depResolved},
		{"start ran and stopped", condStart, ctr{status: ContainerStopped, startedAt: now}, depResolved},
		{"start never ran", condStart, ctr{status: ContainerStopped}, depFailed},
		{"complete running", condComplete, ctr{status: ContainerRunning, startedAt: now}, depWaiting},
		{"complete exit 1", condComplete, ctr{status: ContainerStopped, startedAt: now, exitCode: code(1)}, depResolved},
		{"success exit 0", condSuccess, ctr{status: ContainerStopped, startedAt: now, exitCode: code(0)}, depResolved},
		{"success exit 2", condSuccess, ctr{status: ContainerStopped, startedAt: now, exitCode: code(2)}, depFailed},
		{"success no code", condSuccess, ctr{status: ContainerStopped, startedAt: now}, depFailed},
		{"healthy unknown", condHealthy, ctr{status: ContainerRunning, startedAt: now, health: HealthUnknown}, depWaiting},
		{"healthy", condHealthy, ctr{status: ContainerRunning, startedAt: now, health: HealthHealthy}, depResolved},
		{"healthy but stopped", condHealthy, ctr{status: ContainerStopped, startedAt: now, health: HealthHealthy}, depFailed},
		{"create pending", condCreate, ctr{status: ContainerPulled}, depWaiting},
		{"created", condCreate, ctr{status: ContainerCreated, id: "x"}, depResolved},
		{"never created", condCreate, ctr{status: ContainerStopped}, depFailed},
		{"timeout expired", condSuccess, ctr{status: ContainerRunning, startedAt: now.Add(-3 * time.Second),
			def: ecsapi.ContainerDefinition{StartTimeout: ptr[int32](2)}}, depFailed},
		{"timeout pending", condHealthy, ctr{status: ContainerRunning, startedAt: now,
			def: ecsapi.ContainerDefinition{StartTimeout: ptr[int32](60)}}, depWaiting},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.target.name = "dep"
			got, why, wake := resolve(dep{&tc.target, tc.cond}, now)
			if got != tc.want {
				t.Fatalf("state = %d (%s), want %d", got, why, tc.want)
			}
			if got == depFailed && why == "" {
				t.Error("failure without a reason")
			}
			if tc.name == "timeout pending" && !wake.Equal(now.Add(time.Minute)) {
				t.Errorf("wake = %v", wake)
			}
		})
	}
}

func TestComputeStatusAndHealth(t *testing.T) {
	c := func(s ContainerStatus, essential, checked bool, h HealthStatus) *ctr {
		return &ctr{status: s, essential: essential, hasHealth: checked, health: h}
	}
	cases := []struct {
		name     string
		ctrs     []*ctr
		stopping bool
		inflight int
		want     TaskStatus
		health   HealthStatus
	}{
		{"pending", []*ctr{c(ContainerRunning, true, false, HealthUnknown), c(ContainerCreated, false, false, HealthUnknown)}, false, 0, TaskPending, HealthUnknown},
		{"running with a finished sidecar", []*ctr{c(ContainerRunning, true, true, HealthHealthy), c(ContainerStopped, false, false, HealthUnknown)}, false, 0, TaskRunning, HealthHealthy},
		{"stopping", []*ctr{c(ContainerRunning, true, true, HealthUnhealthy), c(ContainerStopped, true, false, HealthUnknown)}, true, 0, TaskStopping, HealthUnhealthy},
		{"stopped waits for operations", []*ctr{c(ContainerStopped, true, false, HealthUnknown)}, true, 1, TaskStopping, HealthUnknown},
		{"stopped", []*ctr{c(ContainerStopped, true, false, HealthUnknown)}, true, 0, TaskStopped, HealthUnknown},
		{"only non-essential checks", []*ctr{c(ContainerRunning, true, false, HealthUnknown), c(ContainerRunning, false, true, HealthUnhealthy)}, false, 0, TaskRunning, HealthUnknown},
		{"one essential still starting", []*ctr{c(ContainerRunning, true, true, HealthHealthy), c(ContainerRunning, true, true, HealthUnknown)}, false, 0, TaskRunning, HealthUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := computeStatus(tc.ctrs, tc.stopping, tc.inflight); got != tc.want {
				t.Errorf("status = %s, want %s", got, tc.want)
			}
			if got := taskHealth(tc.ctrs); got != tc.health {
				t.Errorf("health = %s, want %s", got, tc.health)
			}
		})
	}
}

func validTask() Task {
	return Task{
		ARN: "arn:aws:ecs:local:0:task/c/abc", DesiredStatus: DesiredRunning,
		Definition: ecsapi.TaskDefinition{Family: "f", ContainerDefinitions: []ecsapi.ContainerDefinition{
			{Name: "web", Image: "img", HealthCheck: &ecsapi.HealthCheck{Command: []string{"CMD", "true"}}},
			{Name: "app", Image: "img", Essential: ptr(false)},
		}},
	}
}

func TestValidateTask(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(*Task)
		wantErr error
		text    string
	}{
		{"valid", func(*Task) {}, nil, ""},
		{"no arn", func(t *Task) { t.ARN = "" }, errInvalidTask, "ARN"},
		{"bad desired", func(t *Task) { t.DesiredStatus = "PENDING" }, errInvalidTask, "desired"},
		{"no containers", func(t *Task) { t.Definition.ContainerDefinitions = nil }, errInvalidTask, "no containers"},
		{"duplicate", func(t *Task) { t.Definition.ContainerDefinitions[1].Name = "web" }, errInvalidTask, "twice"},
		{"no essential", func(t *Task) { t.Definition.ContainerDefinitions[0].Essential = ptr(false) }, errInvalidTask, "essential"},
		{"awsvpc", func(t *Task) { t.Definition.NetworkMode = "awsvpc" }, docker.ErrUnsupported, "awsvpc"},
		{"unknown dependency", func(t *Task) {
			t.Definition.ContainerDefinitions[1].DependsOn = []ecsapi.ContainerDependency{{ContainerName: "db", Condition: "START"}}
		}, errInvalidTask, "unknown container"},
		{"bad condition", func(t *Task) {
			t.Definition.ContainerDefinitions[1].DependsOn = []ecsapi.ContainerDependency{{ContainerName: "web", Condition: "READY"}}
		}, errInvalidTask, "READY"},
		{"healthy without check", func(t *Task) {
			t.Definition.ContainerDefinitions[0].DependsOn = []ecsapi.ContainerDependency{{ContainerName: "app", Condition: "HEALTHY"}}
		}, errInvalidTask, "no healthCheck"},
		{"healthy with check", func(t *Task) {
			t.Definition.ContainerDefinitions[1].DependsOn = []ecsapi.ContainerDependency{{ContainerName: "web", Condition: "healthy"}}
		}, nil, ""},
		{"cycle through a link", func(t *Task) {
			t.Definition.ContainerDefinitions[0].Links = []string{"app:a"}
			t.Definition.ContainerDefinitions[1].VolumesFrom = []ecsapi.VolumeFrom{{SourceContainer: "web"}}
		}, errInvalidTask, "web -> app -> web"},
		{"unknown override", func(t *Task) {
			t.Overrides.ContainerOverrides = []ecsapi.ContainerOverride{{Name: "nope"}}
		}, errInvalidTask, "override"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			task := validTask()
			tc.mutate(&task)
			err := validateTask(&task, false)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.wantErr, tc.text)
			}
		})
	}
}

func TestBuildContainers(t *testing.T) {
	task := validTask()
	task.Definition.ContainerDefinitions[1].DependsOn = []ecsapi.ContainerDependency{{ContainerName: "web", Condition: "START"}}
	task.Definition.ContainerDefinitions[1].StopTimeout = ptr[int32](5)
	task.Overrides.ContainerOverrides = []ecsapi.ContainerOverride{{Name: "app", Command: []string{"run"}}}
	ctrs := buildContainers(&task, "p-", 30*time.Second, "")
	web, app := ctrs[0], ctrs[1]
	if web.dockerName != "p-f-0-web-abc" || !web.essential || app.essential {
		t.Errorf("web = %+v", web)
	}
	if len(web.dependents) != 1 || web.dependents[0] != app || len(app.deps) != 1 || app.deps[0].target != web {
		t.Errorf("graph: web.dependents=%v app.deps=%v", web.dependents, app.deps)
	}
	if app.stopTimeout != 5*time.Second || web.stopTimeout != 30*time.Second {
		t.Errorf("stop timeouts %v %v", app.stopTimeout, web.stopTimeout)
	}
	if len(app.def.Command) != 1 || app.def.Command[0] != "run" {
		t.Errorf("override not applied: %v", app.def.Command)
	}
}

func TestStatusStrings(t *testing.T) {
	if TaskRunning.String() != "RUNNING" || TaskStopped.String() != "STOPPED" || !TaskStopped.Terminal() {
		t.Error("task status names")
	}
	if ContainerCreated.Public() != "PENDING" || ContainerRunning.Public() != "RUNNING" || ContainerStopped.Public() != "STOPPED" {
		t.Error("container public names")
	}
	b, _ := TaskDeprovisioning.MarshalText()
	if string(b) != "DEPROVISIONING" {
		t.Errorf("MarshalText = %s", b)
	}
}
