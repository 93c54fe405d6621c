package control_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/simagent"
)

type cliTask struct {
	TaskArn              string `json:"taskArn"`
	ContainerInstanceArn string `json:"containerInstanceArn"`
	LastStatus           string `json:"lastStatus"`
	DesiredStatus        string `json:"desiredStatus"`
	StopCode             string `json:"stopCode"`
	StoppedReason        string `json:"stoppedReason"`
	Group                string `json:"group"`
	Version              int    `json:"version"`
	Containers           []struct {
		Name            string           `json:"name"`
		LastStatus      string           `json:"lastStatus"`
		ExitCode        *int             `json:"exitCode"`
		NetworkBindings []map[string]any `json:"networkBindings"`
	} `json:"containers"`
}

type cliTasks struct {
	Tasks    []cliTask           `json:"tasks"`
	Failures []map[string]string `json:"failures"`
}

// TestTasks_CLI drives container instances and tasks with the Debian aws
// CLI v2: three simulated instances, placement strategies and constraints,
// a task that fits nowhere, StopTask, and the tasks-running and
// tasks-stopped waiters.
func TestTasks_CLI(t *testing.T) {
	e := startSched(t, 1, testConfig())
	cli(t, e.Env, nil, "ecs", "create-cluster", "--cluster-name", "cli")
	var instances []string
	types := []string{"t2.small", "t2.medium", "m5.large"}
	for i, it := range types {
		a := e.agent(t, simagent.Config{Cluster: "cli", CPU: 2048, Memory: 1000, InstanceType: it, HostID: fmt.Sprintf("cli-%d", i)})
		instances = append(instances, a.InstanceArn())
	}
	var listed struct{ ContainerInstanceArns []string }
	cli(t, e.Env, &listed, "ecs", "list-container-instances", "--cluster", "cli")
	if len(listed.ContainerInstanceArns) != 3 {
		t.Fatalf("list-container-instances: %+v", listed)
	}
	var described struct {
		ContainerInstances []struct {
			ContainerInstanceArn string           `json:"containerInstanceArn"`
			AgentConnected       bool             `json:"agentConnected"`
			Status               string           `json:"status"`
			RemainingResources   []map[string]any `json:"remainingResources"`
		} `json:"containerInstances"`
		Failures []map[string]string `json:"failures"`
	}
	cli(t, e.Env, &described, append([]string{"ecs", "describe-container-instances", "--cluster", "cli", "--container-instances"}, instances...)...)
	if len(described.ContainerInstances) != 3 || !described.ContainerInstances[0].AgentConnected || described.ContainerInstances[0].Status != "ACTIVE" {
		t.Fatalf("describe-container-instances: %+v", described)
	}

	cli(t, e.Env, nil, "ecs", "register-task-definition", "--family", "cli-web",
		"--container-definitions", `[{"name":"app","image":"nginx:1.27","cpu":10,"memory":100,"portMappings":[{"containerPort":80}]}]`)
	run := func(args ...string) cliTasks {
		t.Helper()
		var out cliTasks
		cli(t, e.Env, &out, append([]string{"ecs", "run-task", "--cluster", "cli", "--task-definition", "cli-web"}, args...)...)
		return out
	}
	count := func(tasks []cliTask) []int {
		n := make([]int, len(instances))
		for _, tk := range tasks {
			n[slices.Index(instances, tk.ContainerInstanceArn)]++
		}
		return n
	}

	// binpack on memory: ten tasks of 100 MiB fill one 1000 MiB instance.
	packed := run("--count", "10", "--placement-strategy", "type=binpack,field=memory")
	full := slices.Index(count(packed.Tasks), 10)
	if full < 0 {
		t.Fatalf("binpack: %v", count(packed.Tasks))
	}
	// spread on instanceId over what is left: the two other instances.
	spread := run("--count", "4", "--group", "spread", "--placement-strategy", "type=spread,field=instanceId")
	if n := count(spread.Tasks); slices.Max(n) != 2 || n[full] != 0 {
		t.Fatalf("spread: %v", n)
	}
	// distinctInstance: one per instance with room.
	distinct := run("--count", "3", "--group", "distinct", "--placement-constraints", "type=distinctInstance")
	if n := count(distinct.Tasks); slices.Max(n) != 1 || len(distinct.Tasks) != 2 || len(distinct.Failures) == 0 {
		t.Fatalf("distinct: %v %+v", n, distinct.Failures)
	}
	// memberOf with the query language, on an instance with room left.
	target := (full + 1) % 3
	member := run("--count", "2", "--group", "member", "--placement-constraints",
		"type=memberOf,expression=attribute:ecs.instance-type =~ "+strings.ReplaceAll(types[target], ".", "\\."))
	if len(member.Tasks) != 2 {
		t.Fatalf("memberOf: %+v", member)
	}
	for _, tk := range member.Tasks {
		if tk.ContainerInstanceArn != instances[target] {
			t.Fatalf("memberOf placed on %s", tk.ContainerInstanceArn)
		}
	}
	// Nothing fits: exit 0 with a failure.
	cli(t, e.Env, nil, "ecs", "register-task-definition", "--family", "cli-huge", "--container-definitions", `[{"name":"app","image":"nginx","memory":4096}]`)
	var huge cliTasks
	cli(t, e.Env, &huge, "ecs", "run-task", "--cluster", "cli", "--task-definition", "cli-huge")
	if len(huge.Tasks) != 0 || len(huge.Failures) != 1 || huge.Failures[0]["reason"] != "RESOURCE:MEMORY" {
		t.Fatalf("huge: %+v", huge)
	}
	cliFails(t, e.Env, "InvalidParameterException", "", "ecs", "run-task", "--cluster", "cli", "--task-definition", "cli-web",
		"--placement-constraints", "type=memberOf,expression=attribute:ecs.instance-type =~")

	// Wait until running, stop, wait until stopped.
	arns := []string{member.Tasks[0].TaskArn, member.Tasks[1].TaskArn}
	cli(t, e.Env, nil, append([]string{"ecs", "wait", "tasks-running", "--cluster", "cli", "--tasks"}, arns...)...)
	var d cliTasks
	cli(t, e.Env, &d, append([]string{"ecs", "describe-tasks", "--cluster", "cli", "--tasks"}, arns...)...)
	if d.Tasks[0].LastStatus != "RUNNING" || len(d.Tasks[0].Containers[0].NetworkBindings) != 1 {
		t.Fatalf("describe-tasks: %+v", d)
	}
	for _, arn := range arns {
		var stopped struct{ Task cliTask }
		cli(t, e.Env, &stopped, "ecs", "stop-task", "--cluster", "cli", "--task", arn, "--reason", "cli says stop")
		if stopped.Task.DesiredStatus != "STOPPED" || stopped.Task.StopCode != "UserInitiated" || stopped.Task.StoppedReason != "cli says stop" {
			t.Fatalf("stop-task: %+v", stopped.Task)
		}
	}
	cli(t, e.Env, nil, append([]string{"ecs", "wait", "tasks-stopped", "--cluster", "cli", "--tasks"}, arns...)...)
	cli(t, e.Env, &d, append([]string{"ecs", "describe-tasks", "--cluster", "cli", "--tasks"}, arns...)...)
	for _, tk := range d.Tasks {
		if tk.LastStatus != "STOPPED" || tk.StopCode != "UserInitiated" || tk.Containers[0].ExitCode == nil {
			t.Fatalf("stopped: %+v", tk)
		}
	}
	var stoppedList struct{ TaskArns []string }
	cli(t, e.Env, &stoppedList, "ecs", "list-tasks", "--cluster", "cli", "--desired-status", "STOPPED")
	if len(stoppedList.TaskArns) != 2 {
		t.Fatalf("list-tasks STOPPED: %v", stoppedList.TaskArns)
	}
	res := e.AWS(t, "", "ecs", "stop-task", "--cluster", "cli", "--task", "0123456789abcdef0123456789abcdef")
	if res.Exit != 254 || !strings.Contains(res.Stderr, "The referenced task was not found.") {
		t.Fatalf("stop unknown task: %d %s", res.Exit, res.Stderr)
	}
}
