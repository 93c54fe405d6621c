package control_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/simagent"
)

// placeCluster creates a cluster with three instances of 4096 CPU units
// and 1024 MiB:
//
//	0: t2.small  us-east-1a
//	1: t2.medium us-east-1b
//	2: m5.large  us-east-1c, custom attribute stack=prod
//
// and returns their ARNs by index.
func (e *schedEnv) placeCluster(t testing.TB, name string) []string {
	t.Helper()
	e.cluster(t, name)
	shapes := []simagent.Config{
		{InstanceType: "t2.small", AvailabilityZone: "us-east-1a"},
		{InstanceType: "t2.medium", AvailabilityZone: "us-east-1b"},
		{InstanceType: "m5.large", AvailabilityZone: "us-east-1c", Attributes: map[string]string{"stack": "prod"}},
	}
	arns := make([]string, len(shapes))
	for i, cfg := range shapes {
		cfg.Cluster, cfg.CPU, cfg.Memory, cfg.HostID = name, 4096, 1024, fmt.Sprintf("%s-host-%d", name, i)
		arns[i] = e.agent(t, cfg).InstanceArn()
	}
	return arns
}

// perInstance counts a RunTask answer's tasks by instance index.
func perInstance(t testing.TB, arns []string, tasks []types.Task) []int {
	t.Helper()
	n := make([]int, len(arns))
	for _, tk := range tasks {
		i := slices.Index(arns, aws.ToString(tk.ContainerInstanceArn))
		if i < 0 {
			t.Fatalf("task on unknown instance %s", aws.ToString(tk.ContainerInstanceArn))
		}
		n[i]++
	}
	return n
}

// TestPlacement_SDK_Strategies checks binpack, spread and distinctInstance
// through RunTask.
func TestPlacement_SDK_Strategies(t *testing.T) {
	e := startSched(t, 1, testConfig())
	td := e.taskDef(t, "pack", 10, 100)

	t.Run("binpack memory fills one instance before the next", func(t *testing.T) {
		arns := e.placeCluster(t, "binpack")
		var filled []int
		for round := range 3 {
			out := e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("binpack"), TaskDefinition: aws.String(td), Count: aws.Int32(10),
				PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeBinpack, Field: aws.String("memory")}}})
			n := perInstance(t, arns, out.Tasks)
			i := slices.Index(n, 10)
			if i < 0 || slices.Contains(filled, i) {
				t.Fatalf("round %d: tasks per instance %v (filled before: %v)", round, n, filled)
			}
			filled = append(filled, i)
		}
		// Every instance is full now: the next task fits nowhere.
		out := e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("binpack"), TaskDefinition: aws.String(td)})
		if len(out.Tasks) != 0 || len(out.Failures) == 0 || aws.ToString(out.Failures[0].Reason) != "RESOURCE:MEMORY" {
			t.Fatalf("full cluster: %+v %+v", out.Tasks, out.Failures)
		}
	})

	t.Run("spread instanceId spreads evenly", func(t *testing.T) {
		arns := e.placeCluster(t, "spread")
		out := e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("spread"), TaskDefinition: aws.String(td), Count: aws.Int32(9),
			PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeSpread, Field: aws.String("instanceId")}}})
		if n := perInstance(t, arns, out.Tasks); !slices.Equal(n, []int{3, 3, 3}) {
			t.Fatalf("spread: %v", n)
		}
		// Spread by zone, then binpack: still one task per zone first.
		out = e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("spread"), TaskDefinition: aws.String(td), Count: aws.Int32(3), Group: aws.String("zones"),
			PlacementStrategy: []types.PlacementStrategy{
				{Type: types.PlacementStrategyTypeSpread, Field: aws.String("attribute:ecs.availability-zone")},
				{Type: types.PlacementStrategyTypeBinpack, Field: aws.String("cpu")},
			}})
		if n := perInstance(t, arns, out.Tasks); !slices.Equal(n, []int{1, 1, 1}) {
			t.Fatalf("spread by zone: %v", n)
		}
	})

	t.Run("distinctInstance never doubles up", func(t *testing.T) {
		arns := e.placeCluster(t, "distinct")
		out := e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("distinct"), TaskDefinition: aws.String(td), Count: aws.Int32(5),
			PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeDistinctInstance}}})
		if n := perInstance(t, arns, out.Tasks); !slices.Equal(n, []int{1, 1, 1}) {
			t.Fatalf("distinct: %v", n)
		}
		if len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "DistinctInstance placement constraint unsatisfied." {
			t.Fatalf("distinct failures: %+v", out.Failures)
		}
		// Another group may use the same instances.
		out = e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("distinct"), TaskDefinition: aws.String(td), Count: aws.Int32(3), Group: aws.String("other"),
			PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeDistinctInstance}}})
		if n := perInstance(t, arns, out.Tasks); !slices.Equal(n, []int{1, 1, 1}) {
			t.Fatalf("distinct, other group: %v", n)
		}
	})

	t.Run("nothing fits: failures with HTTP 200", func(t *testing.T) {
		arns := e.placeCluster(t, "nofit")
		for _, tc := range []struct {
			td     string
			count  int32
			placed int
			reason string
		}{
			{e.taskDef(t, "huge-mem", 10, 5000), 1, 0, "RESOURCE:MEMORY"},
			{e.taskDef(t, "huge-cpu", 8192, 10), 1, 0, "RESOURCE:CPU"},
			{e.taskDef(t, "port", 10, 10, [2]int32{80, 8080}), 4, 3, "RESOURCE:PORTS"},
		} {
			out := e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("nofit"), TaskDefinition: aws.String(tc.td), Count: aws.Int32(tc.count)})
			if len(out.Tasks) != tc.placed || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != tc.reason ||
				!slices.Contains(arns, aws.ToString(out.Failures[0].Arn)) {
				t.Fatalf("%s: %d tasks, failures %+v", tc.td, len(out.Tasks), out.Failures)
			}
		}
	})
}

// TestPlacement_SDK_QueryLanguage runs memberOf constraints with every
// kind of cluster query language operator and checks where tasks land.
func TestPlacement_SDK_QueryLanguage(t *testing.T) {
	e := startSched(t, 1, testConfig())
	td := e.taskDef(t, "q", 1, 4)
	arns := e.placeCluster(t, "query")
	cases := []struct {
		expr string
		want []int // instance indexes that may take tasks
	}{
		{"attribute:ecs.instance-type =~ t2.*", []int{0, 1}},
		{"attribute:ecs.instance-type matches m5.*", []int{2}},
		{"attribute:ecs.instance-type !~ t2.*", []int{2}},
		{"attribute:ecs.availability-zone == us-east-1b", []int{1}},
		{"attribute:ecs.availability-zone equals us-east-1b", []int{1}},
		{"attribute:ecs.availability-zone != us-east-1b", []int{0, 2}},
		{"attribute:ecs.availability-zone in [us-east-1a, us-east-1c]", []int{0, 2}},
		{"attribute:ecs.availability-zone not_in [us-east-1a]", []int{1, 2}},
		{"attribute:stack exists", []int{2}},
		{"attribute:stack !exists", []int{0, 1}},
		{"attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone != us-east-1a", []int{1}},
		{"attribute:ecs.availability-zone == us-east-1a || attribute:stack == prod", []int{0, 2}},
		{"not(attribute:ecs.instance-type == m5.large)", []int{0, 1}},
		{"!(attribute:ecs.instance-type =~ t2.* && attribute:ecs.availability-zone == us-east-1a)", []int{1, 2}},
		{"agentConnected == true", []int{0, 1, 2}},
		{"agentVersion >= 1.80.0", []int{0, 1, 2}},
		{"agentVersion < 1.0.0", nil},
		{"ec2InstanceId == query-host-1", []int{1}},
		{"ec2InstanceId in [query-host-0, query-host-2]", []int{0, 2}},
		{"registeredAt >= 2000-01-01", []int{0, 1, 2}},
		{"registeredAt < 2000-01-01T00:00:00Z", nil},
		{"runningTasksCount >= 0", []int{0, 1, 2}},
		{"task:group == family:nothing-here", nil},
		{"attribute:ecs.os-type == windows", nil},
	}
	for i, tc := range cases {
		t.Run(tc.expr, func(t *testing.T) {
			out := e.runTask(t, &ecs.RunTaskInput{
				Cluster: aws.String("query"), TaskDefinition: aws.String(td), Count: aws.Int32(6), Group: aws.String(fmt.Sprintf("case-%d", i)),
				PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String(tc.expr)}},
				PlacementStrategy:    []types.PlacementStrategy{{Type: types.PlacementStrategyTypeSpread, Field: aws.String("instanceId")}},
			})
			if tc.want == nil {
				if len(out.Tasks) != 0 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "MemberOf placement constraint unsatisfied." {
					t.Fatalf("want no placement: %d tasks, %+v", len(out.Tasks), out.Failures)
				}
				return
			}
			n := perInstance(t, arns, out.Tasks)
			var used []int
			for i, k := range n {
				if k > 0 {
					used = append(used, i)
				}
			}
			if len(out.Tasks) != 6 || !slices.Equal(used, tc.want) {
				t.Fatalf("tasks per instance %v, want on %v (failures %+v)", n, tc.want, out.Failures)
			}
		})
	}
}

// TestPlacement_SDK_BadInput checks that invalid RunTask requests answer
// AWS's error and change nothing.
func TestPlacement_SDK_BadInput(t *testing.T) {
	e := startSched(t, 1, testConfig())
	ctx := context.Background()
	e.placeCluster(t, "bad")
	e.cluster(t, "empty")
	td := e.taskDef(t, "ok", 10, 10)
	old := e.taskDef(t, "old", 10, 10)
	if _, err := e.ecs.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(old)}); err != nil {
		t.Fatal(err)
	}
	memberOf := func(expr string) []types.PlacementConstraint {
		return []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String(expr)}}
	}
	tooMany := make([]types.PlacementConstraint, 11)
	for i := range tooMany {
		tooMany[i] = types.PlacementConstraint{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("agentConnected == true")}
	}
	strategies := make([]types.PlacementStrategy, 6)
	for i := range strategies {
		strategies[i] = types.PlacementStrategy{Type: types.PlacementStrategyTypeRandom}
	}
	cases := []struct {
		name string
		in   ecs.RunTaskInput
		code events.Code
		msg  string // substring of the message ("" = any)
	}{
		{"empty cluster", ecs.RunTaskInput{Cluster: aws.String("empty"), TaskDefinition: aws.String(td)}, events.CodeInvalidParameter, "No Container Instances were found in your cluster."},
		{"unknown cluster", ecs.RunTaskInput{Cluster: aws.String("nope"), TaskDefinition: aws.String(td)}, events.CodeClusterNotFound, "Cluster not found."},
		{"unknown task definition", ecs.RunTaskInput{TaskDefinition: aws.String("ghost:1")}, events.CodeClient, "TaskDefinition not found."},
		{"inactive task definition", ecs.RunTaskInput{TaskDefinition: aws.String(old)}, events.CodeInvalidParameter, "TaskDefinition is inactive"},
		{"count 0", ecs.RunTaskInput{TaskDefinition: aws.String(td), Count: aws.Int32(0)}, events.CodeInvalidParameter, ""},
		{"count 11", ecs.RunTaskInput{TaskDefinition: aws.String(td), Count: aws.Int32(11)}, events.CodeInvalidParameter, ""},
		{"fargate", ecs.RunTaskInput{TaskDefinition: aws.String(td), LaunchType: types.LaunchTypeFargate}, events.CodeInvalidParameter, "FARGATE"},
		{"external", ecs.RunTaskInput{TaskDefinition: aws.String(td), LaunchType: types.LaunchTypeExternal}, events.CodeInvalidParameter, "EXTERNAL"},
		{"capacity provider", ecs.RunTaskInput{TaskDefinition: aws.String(td), CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE")}}}, events.CodeInvalidParameter, ""},
		{"bad regex", ecs.RunTaskInput{TaskDefinition: aws.String(td), PlacementConstraints: memberOf("attribute:ecs.instance-type =~ (")}, events.CodeInvalidParameter, ""},
		{"no argument", ecs.RunTaskInput{TaskDefinition: aws.String(td), PlacementConstraints: memberOf("attribute:ecs.instance-type ==")}, events.CodeInvalidParameter, ""},
		{"unknown subject", ecs.RunTaskInput{TaskDefinition: aws.String(td), PlacementConstraints: memberOf("instanceColor == red")}, events.CodeInvalidParameter, ""},
		{"unbalanced parentheses", ecs.RunTaskInput{TaskDefinition: aws.String(td), PlacementConstraints: memberOf("(agentConnected == true")}, events.CodeInvalidParameter, ""},
		{"dangling and", ecs.RunTaskInput{TaskDefinition: aws.String(td), PlacementConstraints: memberOf("agentConnected == true and")}, events.CodeInvalidParameter, ""},
		{"memberOf without expression", ecs.RunTaskInput{TaskDefinition: aws.String(td), PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf}}}, events.CodeInvalidParameter, ""},
		{"distinctInstance with expression", ecs.RunTaskInput{TaskDefinition: aws.String(td), PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeDistinctInstance, Expression: aws.String("agentConnected == true")}}}, events.CodeInvalidParameter, "distinctInstance expression should not be specified."},
		{"unknown constraint", ecs.RunTaskInput{TaskDefinition: aws.String(td), PlacementConstraints: []types.PlacementConstraint{{Type: "sameZone"}}}, events.CodeInvalidParameter, ""},
		{"11 constraints", ecs.RunTaskInput{TaskDefinition: aws.String(td), PlacementConstraints: tooMany}, events.CodeInvalidParameter, ""},
		{"6 strategies", ecs.RunTaskInput{TaskDefinition: aws.String(td), PlacementStrategy: strategies}, events.CodeInvalidParameter, ""},
		{"binpack on disk", ecs.RunTaskInput{TaskDefinition: aws.String(td), PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeBinpack, Field: aws.String("disk")}}}, events.CodeInvalidParameter, ""},
		{"spread without field", ecs.RunTaskInput{TaskDefinition: aws.String(td), PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeSpread}}}, events.CodeInvalidParameter, ""},
		{"random with field", ecs.RunTaskInput{TaskDefinition: aws.String(td), PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeRandom, Field: aws.String("cpu")}}}, events.CodeInvalidParameter, ""},
		{"unknown strategy", ecs.RunTaskInput{TaskDefinition: aws.String(td), PlacementStrategy: []types.PlacementStrategy{{Type: "roundrobin"}}}, events.CodeInvalidParameter, ""},
		{"unknown override container", ecs.RunTaskInput{TaskDefinition: aws.String(td), Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("ghost")}}}}, events.CodeInvalidParameter, "Override for container named ghost is not a container in the TaskDefinition."},
		{"group too long", ecs.RunTaskInput{TaskDefinition: aws.String(td), Group: aws.String(strings.Repeat("g", 256))}, events.CodeInvalidParameter, ""},
		{"client token too long", ecs.RunTaskInput{TaskDefinition: aws.String(td), ClientToken: aws.String(strings.Repeat("t", 65))}, events.CodeInvalidParameter, ""},
		{"bad tag", ecs.RunTaskInput{TaskDefinition: aws.String(td), Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("y")}}}, events.CodeInvalidParameter, ""},
	}
	before := stateOf(t, e, "bad")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if in.Cluster == nil {
				in.Cluster = aws.String("bad")
			}
			_, err := e.ecs.RunTask(ctx, &in)
			wantCode(t, err, tc.code)
			if tc.msg != "" && !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("message: %v, want %q", err, tc.msg)
			}
		})
	}
	if after := stateOf(t, e, "bad"); !maps.Equal(before, after) {
		t.Fatalf("bad input changed state:\n%v\n%v", before, after)
	}
}

// stateOf is a cluster's instance versions and task count.
func stateOf(t testing.TB, e *schedEnv, cluster string) map[string]int64 {
	insts, tasks := records(t, e.JS, cluster)
	out := map[string]int64{"tasks": int64(len(tasks))}
	for id, r := range insts {
		out[id] = r.Version
	}
	return out
}
