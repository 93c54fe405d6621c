package control_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/simagent"
	"github.com/berth-project/berth/internal/testenv"
)

// TestTasks_SDK_Lifecycle runs tasks on simulated agents through their
// whole life with the Go SDK: RunTask, the agent's reports, DescribeTasks,
// ListTasks, StopTask, and the instance's resources and counters on the
// way, with the events each change publishes.
func TestTasks_SDK_Lifecycle(t *testing.T) {
	e := startSched(t, 1, testConfig())
	ctx := context.Background()
	log := collectEvents(t, e.Env, "events.ecs.>")
	e.cluster(t, "life")
	a := e.agent(t, simagent.Config{Cluster: "life", CPU: 1024, Memory: 2048, FullLifecycle: true})
	td := e.taskDef(t, "web", 128, 256, [2]int32{80, 0}, [2]int32{443, 8443})

	out := e.runTask(t, &ecs.RunTaskInput{
		Cluster: aws.String("life"), TaskDefinition: aws.String(td), StartedBy: aws.String("ci-job"),
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("blue")}},
		Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{
			Name: aws.String("app"), Command: []string{"sleep", "5"},
			Environment: []types.KeyValuePair{{Name: aws.String("A"), Value: aws.String("1")}},
		}}},
	})
	if len(out.Tasks) != 1 || len(out.Failures) != 0 {
		t.Fatalf("run task: %+v %+v", out.Tasks, out.Failures)
	}
	task := out.Tasks[0]
	arn := aws.ToString(task.TaskArn)
	if aws.ToString(task.LastStatus) != "PROVISIONING" || aws.ToString(task.DesiredStatus) != "RUNNING" ||
		aws.ToString(task.ContainerInstanceArn) != a.InstanceArn() || aws.ToString(task.Group) != "family:web" ||
		aws.ToString(task.StartedBy) != "ci-job" || task.LaunchType != types.LaunchTypeEc2 || task.Version != 1 ||
		aws.ToString(task.Cpu) != "128" || aws.ToString(task.Memory) != "256" || task.CreatedAt == nil ||
		aws.ToString(task.AvailabilityZone) != "us-east-1a" || !strings.HasPrefix(arn, "arn:aws:ecs:us-east-1:123456789012:task/life/") {
		t.Fatalf("new task: %+v", task)
	}
	if len(task.Containers) != 1 || aws.ToString(task.Containers[0].Name) != "app" || aws.ToString(task.Containers[0].Image) != "nginx:1.27" ||
		aws.ToString(task.Containers[0].LastStatus) != "PENDING" || aws.ToString(task.Containers[0].Memory) != "256" ||
		!strings.Contains(aws.ToString(task.Containers[0].ContainerArn), ":container/life/") {
		t.Fatalf("new task containers: %+v", task.Containers)
	}
	if o := task.Overrides; o == nil || len(o.ContainerOverrides) != 1 || o.ContainerOverrides[0].Command[0] != "sleep" {
		t.Fatalf("overrides: %+v", task.Overrides)
	}

	running := e.waitTask(t, "life", arn, "RUNNING")
	c := running.Containers[0]
	if aws.ToString(c.LastStatus) != "RUNNING" || aws.ToString(c.RuntimeId) == "" || !strings.HasPrefix(aws.ToString(c.ImageDigest), "sha256:") ||
		running.PullStartedAt == nil || running.PullStoppedAt == nil || running.StartedAt == nil || running.Version < 3 ||
		len(running.Tags) != 1 || running.HealthStatus == "" {
		t.Fatalf("running task: %+v", running)
	}
	if len(c.NetworkBindings) != 2 {
		t.Fatalf("bindings: %+v", c.NetworkBindings)
	}
	for _, b := range c.NetworkBindings {
		hp := aws.ToInt32(b.HostPort)
		switch aws.ToInt32(b.ContainerPort) {
		case 80:
			if hp < simagent.DynamicPortMin || hp > simagent.DynamicPortMax {
				t.Fatalf("dynamic host port %d", hp)
			}
		case 443:
			if hp != 8443 {
				t.Fatalf("static host port %d", hp)
			}
		}
	}

	// The instance holds the task: resources, the static port, counters.
	ci := e.describeInstance(t, "life", a.InstanceArn())
	if resource(ci.RemainingResources, "CPU") != 1024-128 || resource(ci.RemainingResources, "MEMORY") != 2048-256 ||
		!contains(ports(ci.RemainingResources, "PORTS"), "8443") || contains(ports(ci.RegisteredResources, "PORTS"), "8443") ||
		ci.RunningTasksCount != 1 || ci.PendingTasksCount != 0 || !ci.AgentConnected {
		t.Fatalf("instance with a task: %+v", ci)
	}
	list, err := e.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("life")})
	must(t, err)
	if len(list.TaskArns) != 1 || list.TaskArns[0] != arn {
		t.Fatalf("list tasks: %v", list.TaskArns)
	}

	// StopTask: desired STOPPED at once, then STOPPED as the agent reports.
	stop, err := e.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("life"), Task: aws.String(arn), Reason: aws.String("deploy")})
	must(t, err)
	if st := stop.Task; aws.ToString(st.DesiredStatus) != "STOPPED" || string(st.StopCode) != "UserInitiated" ||
		aws.ToString(st.StoppedReason) != "deploy" || st.StoppingAt == nil || st.Version <= running.Version {
		t.Fatalf("stop task: %+v", st)
	}
	stopped := e.waitTask(t, "life", arn, "STOPPED")
	if stopped.StoppedAt == nil || stopped.ExecutionStoppedAt == nil || string(stopped.StopCode) != "UserInitiated" ||
		aws.ToString(stopped.StoppedReason) != "deploy" || aws.ToInt32(stopped.Containers[0].ExitCode) != 143 ||
		aws.ToString(stopped.Containers[0].LastStatus) != "STOPPED" {
		t.Fatalf("stopped task: %+v", stopped)
	}
	natstest.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error {
		ci = e.describeInstance(t, "life", a.InstanceArn())
		if resource(ci.RemainingResources, "CPU") != 1024 || resource(ci.RemainingResources, "MEMORY") != 2048 ||
			contains(ports(ci.RemainingResources, "PORTS"), "8443") || ci.RunningTasksCount != 0 {
			return errorf("instance after stop: %+v", ci)
		}
		return nil
	})
	// Listing: RUNNING (the default) shows nothing, STOPPED the task,
	// PENDING never anything.
	for status, want := range map[types.DesiredStatus]int{"": 0, types.DesiredStatusStopped: 1, types.DesiredStatusPending: 0} {
		list, err := e.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("life"), DesiredStatus: status})
		must(t, err)
		if len(list.TaskArns) != want {
			t.Fatalf("list %q: %v", status, list.TaskArns)
		}
	}
	// The assignment is gone.
	insts, tasks := records(t, e.JS, "life")
	checkAccounting(t, insts, tasks)

	// Events: every version of the task exactly once (as with ECS, the
	// order of delivery is not guaranteed: version orders them), and
	// instance changes for the placement and the stop.
	natstest.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error {
		var versions []int64
		var statuses []string
		inst := 0
		for _, ev := range log.all() {
			switch ev.DetailType {
			case events.DetailTaskStateChange:
				var d events.TaskDetail
				must(t, json.Unmarshal(ev.Detail, &d))
				versions = append(versions, d.Version)
				statuses = append(statuses, d.LastStatus)
				if ev.Source != "aws.ecs" || ev.Resources[0] != arn || ev.Account != testenv.Account || !strings.HasSuffix(d.CreatedAt, "Z") {
					t.Fatalf("task event: %+v", ev)
				}
			case events.DetailContainerInstanceStateChange:
				inst++
			}
		}
		if !contains(statuses, "STOPPED") || len(versions) < int(stopped.Version) {
			return errorf("task events so far: %v %v", versions, statuses)
		}
		slices.Sort(versions)
		for i := range versions {
			if versions[i] != int64(i+1) {
				t.Fatalf("task event versions %v", versions)
			}
		}
		if !contains(statuses, "ACTIVATING") || !contains(statuses, "DEPROVISIONING") && !contains(statuses, "STOPPING") {
			t.Fatalf("task event statuses %v", statuses)
		}
		if inst < 3 { // registration, placement, RUNNING, release
			return errorf("%d instance events", inst)
		}
		return nil
	})
}
