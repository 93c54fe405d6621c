package control_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/simagent"
)

// assignmentOf reads the agent's assignment of a task from the state
// bucket.
func assignmentOf(t *testing.T, e *schedEnv, task types.Task) events.TaskAssignment {
	t.Helper()
	ctx := context.Background()
	kv, err := e.JS.KeyValue(ctx, events.BucketECSState.Name)
	must(t, err)
	arn := aws.ToString(task.TaskArn)
	id := arn[strings.LastIndex(arn, "/")+1:]
	ci := aws.ToString(task.ContainerInstanceArn)
	entry, err := kv.Get(ctx, events.AssignmentKey(strings.Split(aws.ToString(task.ClusterArn), "/")[1], ci[strings.LastIndex(ci, "/")+1:], id))
	must(t, err)
	var a events.TaskAssignment
	must(t, json.Unmarshal(entry.Value(), &a))
	return a
}

// TestRunTask_OverridesReachTheAgent: task-level cpu and memory overrides
// and container cpu, memory and memoryReservation overrides are in the
// task definition the agent receives (it used to get the registered one,
// so the task-level limits were reserved but never applied), and the task
// and its containers report them.
func TestRunTask_OverridesReachTheAgent(t *testing.T) {
	e := startSched(t, 1, testConfig())
	e.cluster(t, "ovr")
	e.agent(t, simagent.Config{Cluster: "ovr", CPU: 4096, Memory: 8192})
	td := e.taskDef(t, "ovr", 128, 256)
	out := e.runTask(t, &ecs.RunTaskInput{
		Cluster: aws.String("ovr"), TaskDefinition: aws.String(td),
		Overrides: &types.TaskOverride{
			Cpu: aws.String("0.5 vCPU"), Memory: aws.String("1024"),
			ContainerOverrides: []types.ContainerOverride{{
				Name: aws.String("app"), Cpu: aws.Int32(256), Memory: aws.Int32(512), MemoryReservation: aws.Int32(384),
			}},
		},
	})
	if len(out.Tasks) != 1 {
		t.Fatalf("run task: %+v", out.Failures)
	}
	task := out.Tasks[0]
	if aws.ToString(task.Cpu) != "0.5 vCPU" && aws.ToString(task.Cpu) != "512" {
		t.Fatalf("task cpu %s", aws.ToString(task.Cpu))
	}
	a := assignmentOf(t, e, task)
	got := a.TaskDefinition
	if got == nil || got.Cpu != "512" || got.Memory != "1024" {
		t.Fatalf("assignment task size: %+v", got)
	}
	c := got.ContainerDefinitions[0]
	if aws.ToInt32(c.Cpu) != 256 || aws.ToInt32(c.Memory) != 512 || aws.ToInt32(c.MemoryReservation) != 384 {
		t.Fatalf("assignment container: cpu %v memory %v reservation %v", c.Cpu, c.Memory, c.MemoryReservation)
	}
	if a.TaskDefinitionArn != aws.ToString(task.TaskDefinitionArn) {
		t.Fatalf("assignment names %s", a.TaskDefinitionArn)
	}
	ctr := task.Containers[0]
	if aws.ToString(ctr.Cpu) != "256" || aws.ToString(ctr.Memory) != "512" || aws.ToString(ctr.MemoryReservation) != "384" {
		t.Fatalf("task container: cpu %s memory %s reservation %s", aws.ToString(ctr.Cpu), aws.ToString(ctr.Memory), aws.ToString(ctr.MemoryReservation))
	}
	// The instance holds the task-level values.
	ci := e.describeInstance(t, "ovr", aws.ToString(task.ContainerInstanceArn))
	if cpu, mem := resource(ci.RemainingResources, "CPU"), resource(ci.RemainingResources, "MEMORY"); cpu != 4096-512 || mem != 8192-1024 {
		t.Fatalf("remaining %d CPU %d MiB", cpu, mem)
	}
}

// TestRunTask_OverrideRulesMatchRegistration: a value RegisterTaskDefinition
// refuses in a container or task definition is refused by RunTask in an
// override with the same message (InvalidParameterException, as RunTask
// answers bad parameters), and nothing is placed.
func TestRunTask_OverrideRulesMatchRegistration(t *testing.T) {
	e := startSched(t, 1, testConfig())
	ctx := context.Background()
	e.cluster(t, "ovr")
	e.agent(t, simagent.Config{Cluster: "ovr", CPU: 4096, Memory: 8192})
	td := e.taskDef(t, "ovr", 128, 256)
	cd := func(mutate func(*types.ContainerDefinition)) *ecs.RegisterTaskDefinitionInput {
		c := types.ContainerDefinition{Name: aws.String("app"), Image: aws.String("nginx:1.27"), Cpu: 128, Memory: aws.Int32(256)}
		mutate(&c)
		return &ecs.RegisterTaskDefinitionInput{Family: aws.String("ovr-bad"), ContainerDefinitions: []types.ContainerDefinition{c}}
	}
	cases := []struct {
		name string
		reg  *ecs.RegisterTaskDefinitionInput
		ov   *types.TaskOverride
	}{
		{"zero memory", cd(func(c *types.ContainerDefinition) { c.Memory = aws.Int32(0) }),
			&types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("app"), Memory: aws.Int32(0)}}}},
		{"negative cpu", cd(func(c *types.ContainerDefinition) { c.Cpu = -2 }),
			&types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("app"), Cpu: aws.Int32(-2)}}}},
		{"reservation above memory", cd(func(c *types.ContainerDefinition) { c.MemoryReservation = aws.Int32(512) }),
			&types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("app"), MemoryReservation: aws.Int32(512)}}}},
		{"task cpu out of range", func() *ecs.RegisterTaskDefinitionInput {
			in := cd(func(*types.ContainerDefinition) {})
			in.Cpu = aws.String("64")
			return in
		}(),
			&types.TaskOverride{Cpu: aws.String("64")}},
		{"task memory below the container's", func() *ecs.RegisterTaskDefinitionInput {
			in := cd(func(*types.ContainerDefinition) {})
			in.Memory = aws.String("128")
			return in
		}(), &types.TaskOverride{Memory: aws.String("128")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, regErr := e.ecs.RegisterTaskDefinition(ctx, c.reg)
			_, runErr := e.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("ovr"), TaskDefinition: aws.String(td), Overrides: c.ov})
			var reg, run smithy.APIError
			if !errors.As(regErr, &reg) || !errors.As(runErr, &run) {
				t.Fatalf("register: %v; run: %v", regErr, runErr)
			}
			if reg.ErrorMessage() != run.ErrorMessage() {
				t.Fatalf("register says %q, RunTask says %q", reg.ErrorMessage(), run.ErrorMessage())
			}
			if run.ErrorCode() != string(events.CodeInvalidParameter) {
				t.Fatalf("RunTask code %s", run.ErrorCode())
			}
		})
	}
	list, err := e.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("ovr")})
	must(t, err)
	if len(list.TaskArns) != 0 {
		t.Fatalf("refused requests placed tasks: %v", list.TaskArns)
	}
}

// TestRunTask_RequiredAttributes: requiresAttributes (derived at
// registration, here from a health check) and runtimePlatform keep tasks
// off instances that lack them, with the ATTRIBUTE failure on the closest
// instance; an instance that has them takes the task.
func TestRunTask_RequiredAttributes(t *testing.T) {
	e := startSched(t, 1, testConfig())
	ctx := context.Background()
	e.cluster(t, "attr")
	plain := e.agent(t, simagent.Config{Cluster: "attr", CPU: 4096, Memory: 8192, Bare: true})
	register := func(family string, mutate func(*ecs.RegisterTaskDefinitionInput)) string {
		in := &ecs.RegisterTaskDefinitionInput{Family: aws.String(family), ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String("nginx:1.27"), Memory: aws.Int32(64),
		}}}
		mutate(in)
		return e.registerTD(t, in)
	}
	health := register("attr-health", func(in *ecs.RegisterTaskDefinitionInput) {
		in.ContainerDefinitions[0].HealthCheck = &types.HealthCheck{Command: []string{"CMD-SHELL", "true"}}
	})
	armTD := register("attr-arm", func(in *ecs.RegisterTaskDefinitionInput) {
		in.RuntimePlatform = &types.RuntimePlatform{CpuArchitecture: types.CPUArchitectureArm64, OperatingSystemFamily: types.OSFamilyLinux}
	})
	winTD := register("attr-win", func(in *ecs.RegisterTaskDefinitionInput) {
		in.RuntimePlatform = &types.RuntimePlatform{OperatingSystemFamily: types.OSFamilyWindowsServer2022Core}
	})
	for _, td := range []string{health, armTD, winTD} {
		out := e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("attr"), TaskDefinition: aws.String(td)})
		if len(out.Tasks) != 0 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "ATTRIBUTE" ||
			aws.ToString(out.Failures[0].Arn) != plain.InstanceArn() {
			t.Fatalf("%s on an instance without the attributes: tasks %d, failures %+v", td, len(out.Tasks), out.Failures)
		}
	}
	// StartTask on that instance fails the same way.
	st, err := e.ecs.StartTask(ctx, &ecs.StartTaskInput{Cluster: aws.String("attr"), TaskDefinition: aws.String(armTD), ContainerInstances: []string{plain.InstanceArn()}})
	must(t, err)
	if len(st.Tasks) != 0 || len(st.Failures) != 1 || aws.ToString(st.Failures[0].Reason) != "ATTRIBUTE" {
		t.Fatalf("start task: %+v", st.Failures)
	}

	capable := e.agent(t, simagent.Config{Cluster: "attr", CPU: 4096, Memory: 8192, Arch: "arm64", Bare: true, Attributes: map[string]string{
		"com.amazonaws.ecs.capability.docker-remote-api.1.24": "",
		"ecs.capability.container-health-check":               "",
	}})
	for _, td := range []string{health, armTD} {
		out := e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("attr"), TaskDefinition: aws.String(td), Count: aws.Int32(2)})
		if len(out.Tasks) != 2 || len(out.Failures) != 0 {
			t.Fatalf("%s: tasks %d, failures %+v", td, len(out.Tasks), out.Failures)
		}
		for _, task := range out.Tasks {
			if aws.ToString(task.ContainerInstanceArn) != capable.InstanceArn() {
				t.Fatalf("%s placed on %s, not on the instance with the attributes", td, aws.ToString(task.ContainerInstanceArn))
			}
		}
	}
}
