package scheduler

import (
	"errors"
	"reflect"
	"testing"

	"github.com/berth-project/berth/events/ecsapi"
)

// TestApplyOverrides_Effective: what the overrides set is what the
// effective task definition (the one the agent runs) says, normalised as
// RegisterTaskDefinition normalises it.
func TestApplyOverrides_Effective(t *testing.T) {
	td := &ecsapi.TaskDefinition{
		Family: "web",
		ContainerDefinitions: []ecsapi.ContainerDefinition{
			{Name: "app", Cpu: i32(128), Memory: i32(256)},
			{Name: "side", MemoryReservation: i32(32)},
		},
	}
	eff, err := ApplyOverrides(td, &ecsapi.TaskOverride{
		Cpu: "1 vCPU", Memory: "1GB",
		ContainerOverrides: []ecsapi.ContainerOverride{
			{Name: "app", Cpu: i32(256), Memory: i32(512), MemoryReservation: i32(384)},
			{Name: "side", EnvironmentFiles: []ecsapi.EnvironmentFile{{Type: "s3", Value: "arn:aws:s3:::b/f.env"}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if eff.Cpu != "1024" || eff.Memory != "1024" {
		t.Fatalf("task size %q/%q, want 1024/1024", eff.Cpu, eff.Memory)
	}
	app, side := eff.ContainerDefinitions[0], eff.ContainerDefinitions[1]
	if *app.Cpu != 256 || *app.Memory != 512 || *app.MemoryReservation != 384 {
		t.Fatalf("app: cpu %d memory %d reservation %d", *app.Cpu, *app.Memory, *app.MemoryReservation)
	}
	if len(side.EnvironmentFiles) != 1 || *side.MemoryReservation != 32 {
		t.Fatalf("side: %+v", side)
	}
	// The task definition itself is untouched.
	if td.Cpu != "" || *td.ContainerDefinitions[0].Cpu != 128 || td.ContainerDefinitions[1].EnvironmentFiles != nil {
		t.Fatalf("task definition modified: %+v", td)
	}
	r, err := Reserved(eff)
	if err != nil || r.CPU != 1024 || r.Memory != 1024 {
		t.Fatalf("reserved %+v %v, want 1024 CPU, 1024 MiB", r, err)
	}
	same, err := ApplyOverrides(td, nil)
	if err != nil || !reflect.DeepEqual(same, td) {
		t.Fatalf("no overrides: %+v %v", same, err)
	}
}

// TestApplyOverrides_SameRulesAsRegistration: a value refused in a task
// definition is refused in an override, with RegisterTaskDefinition's
// message (services/taskdefs/taskdefs/validate.go); a value accepted in a
// task definition (no memory at all) is accepted in an override.
func TestApplyOverrides_SameRulesAsRegistration(t *testing.T) {
	base := func() *ecsapi.TaskDefinition {
		return &ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{
			{Name: "app", Cpu: i32(128), Memory: i32(256)},
			{Name: "side"},
		}}
	}
	co := func(o ecsapi.ContainerOverride) *ecsapi.TaskOverride {
		return &ecsapi.TaskOverride{ContainerOverrides: []ecsapi.ContainerOverride{o}}
	}
	cases := []struct {
		name string
		ov   *ecsapi.TaskOverride
		err  string // "" = accepted
	}{
		{"negative cpu", co(ecsapi.ContainerOverride{Name: "app", Cpu: i32(-1)}), "Invalid 'cpu' setting for container 'app'."},
		{"zero cpu", co(ecsapi.ContainerOverride{Name: "app", Cpu: i32(0)}), ""},
		{"zero memory", co(ecsapi.ContainerOverride{Name: "app", Memory: i32(0)}), "Invalid 'memory' setting for container 'app'."},
		{"negative memoryReservation", co(ecsapi.ContainerOverride{Name: "app", MemoryReservation: i32(-5)}), "Invalid 'memoryReservation' setting for container 'app'."},
		{"reservation above memory", co(ecsapi.ContainerOverride{Name: "app", MemoryReservation: i32(512)}), "Invalid setting for container 'app'. 'memory' must be greater than or equal to 'memoryReservation'."},
		{"reservation above overridden memory", co(ecsapi.ContainerOverride{Name: "app", Memory: i32(64), MemoryReservation: i32(128)}), "Invalid setting for container 'app'. 'memory' must be greater than or equal to 'memoryReservation'."},
		{"reservation alone on a container without memory", co(ecsapi.ContainerOverride{Name: "side", MemoryReservation: i32(64)}), ""},
		{"unknown container", co(ecsapi.ContainerOverride{Name: "ghost", Cpu: i32(1)}), "The container ghost does not exist in the task definition."},
		{"task cpu below EC2 minimum", &ecsapi.TaskOverride{Cpu: "64"}, "Invalid 'cpu' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."},
		{"task cpu above EC2 maximum", &ecsapi.TaskOverride{Cpu: "11 vCPU"}, "Invalid 'cpu' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."},
		{"task cpu not a number", &ecsapi.TaskOverride{Cpu: "lots"}, "Invalid 'cpu' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."},
		{"task cpu in vCPU", &ecsapi.TaskOverride{Cpu: "0.5 vCPU"}, ""},
		{"task memory not a number", &ecsapi.TaskOverride{Memory: "big"}, "Invalid 'memory' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."},
		{"task memory zero", &ecsapi.TaskOverride{Memory: "0"}, "Invalid 'memory' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."},
		{"task memory below the containers'", &ecsapi.TaskOverride{Memory: "128"}, "The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'."},
		{"task cpu below the containers'", &ecsapi.TaskOverride{Cpu: "128", ContainerOverrides: []ecsapi.ContainerOverride{{Name: "side", Cpu: i32(64)}}}, "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'."},
		{"ephemeral storage too small", &ecsapi.TaskOverride{EphemeralStorage: &ecsapi.EphemeralStorage{SizeInGiB: i32(20)}}, "Invalid 'ephemeralStorage.sizeInGiB' setting for task. The value must be between 21 and 200."},
		{"ephemeral storage in range", &ecsapi.TaskOverride{EphemeralStorage: &ecsapi.EphemeralStorage{SizeInGiB: i32(30)}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ApplyOverrides(base(), c.ov)
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.err != "" && (err == nil || err.Error() != c.err):
				t.Fatalf("error %v, want %q", err, c.err)
			case err != nil && !errors.Is(err, ErrInvalidParameter):
				t.Fatalf("error %v is not ErrInvalidParameter", err)
			}
		})
	}
}

// TestRequiredAttributes maps requiresAttributes and runtimePlatform onto
// the instance attributes the agent registers.
func TestRequiredAttributes(t *testing.T) {
	cases := []struct {
		name string
		td   ecsapi.TaskDefinition
		want []Attribute
	}{
		{"none", ecsapi.TaskDefinition{}, []Attribute{}},
		{
			"requiresAttributes",
			ecsapi.TaskDefinition{RequiresAttributes: []ecsapi.Attribute{
				{Name: "com.amazonaws.ecs.capability.docker-remote-api.1.24"},
				{Name: "stack", Value: "prod", TargetType: "container-instance"},
			}},
			[]Attribute{{Name: "com.amazonaws.ecs.capability.docker-remote-api.1.24"}, {Name: "stack", Value: "prod"}},
		},
		{
			"runtimePlatform ARM64 LINUX",
			ecsapi.TaskDefinition{RuntimePlatform: &ecsapi.RuntimePlatform{CpuArchitecture: "ARM64", OperatingSystemFamily: "LINUX"}},
			[]Attribute{{Name: "ecs.cpu-architecture", Value: "arm64"}, {Name: "ecs.os-family", Value: "LINUX"}},
		},
		{
			"runtimePlatform X86_64 only",
			ecsapi.TaskDefinition{RuntimePlatform: &ecsapi.RuntimePlatform{CpuArchitecture: "X86_64"}},
			[]Attribute{{Name: "ecs.cpu-architecture", Value: "x86_64"}},
		},
	}
	for _, c := range cases {
		if got := RequiredAttributes(&c.td); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

// TestPlace_RequiredAttributes: instances without a required attribute (or
// with another value) are never chosen; when none has it, the failure is
// ATTRIBUTE on the closest instance, and Check says the same.
func TestPlace_RequiredAttributes(t *testing.T) {
	arm := withAttr("ecs.cpu-architecture", "arm64")
	x86 := withAttr("ecs.cpu-architecture", "x86_64")
	health := withAttr("ecs.capability.container-health-check", "")
	cases := []struct {
		name     string
		insts    []Instance
		attrs    []Attribute
		want     []string
		failures []string // reasons
	}{
		{
			name:  "presence only",
			insts: []Instance{testInstance("a"), testInstance("b", health), testInstance("c")},
			attrs: []Attribute{{Name: "ecs.capability.container-health-check"}},
			want:  []string{"b", "b"},
		},
		{
			name:  "value must match",
			insts: []Instance{testInstance("a", x86), testInstance("b", arm)},
			attrs: []Attribute{{Name: "ecs.cpu-architecture", Value: "arm64"}},
			want:  []string{"b", "b"},
		},
		{
			name:     "nobody has it",
			insts:    []Instance{testInstance("a", x86), testInstance("b", x86)},
			attrs:    []Attribute{{Name: "ecs.cpu-architecture", Value: "arm64"}},
			want:     []string{},
			failures: []string{ReasonAttribute},
		},
		{
			name:     "the one with the attribute is full",
			insts:    []Instance{testInstance("a", x86), testInstance("b", arm, withRemaining(512, 8192))},
			attrs:    []Attribute{{Name: "ecs.cpu-architecture", Value: "arm64"}},
			want:     []string{},
			failures: []string{ReasonCPU, ReasonAttribute},
		},
		{
			name:  "every attribute is needed",
			insts: []Instance{testInstance("a", arm), testInstance("b", arm, health)},
			attrs: []Attribute{{Name: "ecs.cpu-architecture", Value: "arm64"}, {Name: "ecs.capability.container-health-check"}},
			want:  []string{"b", "b"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := smallTask()
			req.Attributes = c.attrs
			got, res := placeIDs(t, c.insts, req, 2, seeded(1))
			if !equalStrings(got, c.want) {
				t.Fatalf("placed on %v, want %v", got, c.want)
			}
			var reasons []string
			for _, f := range res.Failures {
				reasons = append(reasons, f.Reason)
			}
			if !equalStrings(reasons, c.failures) {
				t.Fatalf("failures %v, want %v", reasons, c.failures)
			}
			plan, err := Compile(req)
			if err != nil {
				t.Fatal(err)
			}
			for i := range c.insts {
				want := ""
				if !hasAttributes(&c.insts[i], c.attrs) {
					want = ReasonAttribute
				}
				if got := plan.Check(&c.insts[i]); got != want && (want != "" || got == ReasonAttribute) {
					t.Fatalf("Check(%s) = %q, want %q", c.insts[i].ID, got, want)
				}
			}
		})
	}
	msg := Failure{Reason: ReasonAttribute, InstanceID: "abc"}.Message()
	if msg != "The closest matching container-instance abc is missing an attribute required by your task." {
		t.Fatalf("message %q", msg)
	}
	if _, err := Compile(TaskRequest{Attributes: []Attribute{{Name: ""}}}); !errors.Is(err, ErrInvalidParameter) {
		t.Fatalf("empty attribute name: %v", err)
	}
}
