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
)

func registerInput(cluster, host string) *ecs.RegisterContainerInstanceInput {
	return &ecs.RegisterContainerInstanceInput{
		Cluster:                  aws.String(cluster),
		InstanceIdentityDocument: aws.String(`{"instanceId":"` + host + `","availabilityZone":"eu-west-1b","instanceType":"c5.large"}`),
		TotalResources: []types.Resource{
			{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: 2048},
			{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: 3955},
		},
		Attributes:  []types.Attribute{{Name: aws.String("ecs.os-type"), Value: aws.String("linux")}, {Name: aws.String("com.amazonaws.ecs.capability.ecr-auth")}},
		VersionInfo: &types.VersionInfo{AgentVersion: aws.String("1.0.0"), AgentHash: aws.String("4023248"), DockerVersion: aws.String("DockerVersion: 1.5.0")},
		Tags:        []types.Tag{{Key: aws.String("rack"), Value: aws.String("r1")}},
	}
}

// TestInstances_SDK_Register registers, re-registers, describes, lists and
// deregisters container instances with the Go SDK.
func TestInstances_SDK_Register(t *testing.T) {
	e := startSched(t, 1, testConfig())
	ctx := context.Background()
	e.cluster(t, "reg")

	out, err := e.ecs.RegisterContainerInstance(ctx, registerInput("reg", "i-0abc"))
	must(t, err)
	ci := out.ContainerInstance
	arn := aws.ToString(ci.ContainerInstanceArn)
	if !strings.HasPrefix(arn, "arn:aws:ecs:us-east-1:123456789012:container-instance/reg/") || aws.ToString(ci.Status) != "ACTIVE" ||
		!ci.AgentConnected || aws.ToString(ci.Ec2InstanceId) != "i-0abc" || ci.Version != 1 || ci.RegisteredAt == nil ||
		aws.ToString(ci.VersionInfo.AgentHash) != "4023248" || ci.RunningTasksCount != 0 || ci.PendingTasksCount != 0 {
		t.Fatalf("register: %+v", ci)
	}
	if resource(ci.RegisteredResources, "CPU") != 2048 || resource(ci.RegisteredResources, "MEMORY") != 3955 ||
		!slices.Equal(ports(ci.RegisteredResources, "PORTS"), []string{"22", "2375", "2376", "51678", "51679"}) ||
		ports(ci.RegisteredResources, "PORTS_UDP") == nil || resource(ci.RemainingResources, "CPU") != 2048 {
		t.Fatalf("resources: %+v / %+v", ci.RegisteredResources, ci.RemainingResources)
	}
	attrs := map[string]string{}
	for _, a := range ci.Attributes {
		attrs[aws.ToString(a.Name)] = aws.ToString(a.Value)
	}
	if attrs["ecs.availability-zone"] != "eu-west-1b" || attrs["ecs.instance-type"] != "c5.large" || attrs["ecs.os-type"] != "linux" {
		t.Fatalf("attributes: %v", attrs)
	}
	if _, ok := attrs["com.amazonaws.ecs.capability.ecr-auth"]; !ok {
		t.Fatalf("presence attribute lost: %v", attrs)
	}

	// The same host again: the same instance, a new version.
	again, err := e.ecs.RegisterContainerInstance(ctx, registerInput("reg", "i-0abc"))
	must(t, err)
	if aws.ToString(again.ContainerInstance.ContainerInstanceArn) != arn || again.ContainerInstance.Version != 2 {
		t.Fatalf("re-register: %+v", again.ContainerInstance)
	}
	other, err := e.ecs.RegisterContainerInstance(ctx, registerInput("reg", "i-0def"))
	must(t, err)
	otherArn := aws.ToString(other.ContainerInstance.ContainerInstanceArn)
	if otherArn == arn {
		t.Fatal("another host got the same instance")
	}

	// Describe: by id and ARN, MISSING for unknown ones, tags on request.
	id := arn[strings.LastIndexByte(arn, '/')+1:]
	d, err := e.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
		Cluster: aws.String("reg"), ContainerInstances: []string{id, otherArn, "0123456789abcdef0123456789abcdef"},
		Include: []types.ContainerInstanceField{types.ContainerInstanceFieldTags},
	})
	must(t, err)
	if len(d.ContainerInstances) != 2 || len(d.Failures) != 1 || aws.ToString(d.Failures[0].Reason) != "MISSING" ||
		aws.ToString(d.Failures[0].Arn) != "arn:aws:ecs:us-east-1:123456789012:container-instance/reg/0123456789abcdef0123456789abcdef" ||
		len(d.ContainerInstances[0].Tags) != 1 {
		t.Fatalf("describe: %+v", d)
	}
	_, err = e.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("reg"), ContainerInstances: []string{}})
	wantAPIError(t, err, events.CodeClient, "Container Instances cannot be empty.")

	// Cluster counters.
	cl := describeOne(t, e.ecs, "reg")
	if cl.RegisteredContainerInstancesCount != 2 {
		t.Fatalf("cluster counts: %+v", cl)
	}
	_, err = e.ecs.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("reg")})
	wantCode(t, err, events.CodeClusterContainsInstances)

	// Deregister: INACTIVE, still describable, no longer listed; the same
	// host registering again gets it back.
	dereg, err := e.ecs.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("reg"), ContainerInstance: aws.String(arn)})
	must(t, err)
	if aws.ToString(dereg.ContainerInstance.Status) != "INACTIVE" {
		t.Fatalf("deregister: %+v", dereg.ContainerInstance)
	}
	list, err := e.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("reg")})
	must(t, err)
	if !slices.Equal(list.ContainerInstanceArns, []string{otherArn}) {
		t.Fatalf("list after deregister: %v", list.ContainerInstanceArns)
	}
	if got := e.describeInstance(t, "reg", arn); aws.ToString(got.Status) != "INACTIVE" || got.AgentConnected {
		t.Fatalf("describe deregistered: %+v", got)
	}
	_, err = e.ecs.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("reg"), ContainerInstance: aws.String(arn)})
	wantCode(t, err, events.CodeInvalidParameter)
	back, err := e.ecs.RegisterContainerInstance(ctx, registerInput("reg", "i-0abc"))
	must(t, err)
	if aws.ToString(back.ContainerInstance.ContainerInstanceArn) != arn || aws.ToString(back.ContainerInstance.Status) != "ACTIVE" {
		t.Fatalf("re-activate: %+v", back.ContainerInstance)
	}

	// Bad registrations change nothing.
	before := stateOf(t, e, "reg")
	bad := []struct {
		name string
		edit func(in *ecs.RegisterContainerInstanceInput)
		code events.Code
	}{
		{"no memory", func(in *ecs.RegisterContainerInstanceInput) { in.TotalResources = in.TotalResources[:1] }, events.CodeInvalidParameter},
		{"unknown resource", func(in *ecs.RegisterContainerInstanceInput) {
			in.TotalResources = append(in.TotalResources, types.Resource{Name: aws.String("DISK"), Type: aws.String("INTEGER"), IntegerValue: 1})
		}, events.CodeInvalidParameter},
		{"bad port", func(in *ecs.RegisterContainerInstanceInput) {
			in.TotalResources = append(in.TotalResources, types.Resource{Name: aws.String("PORTS"), Type: aws.String("STRINGSET"), StringSetValue: []string{"70000"}})
		}, events.CodeInvalidParameter},
		{"bad identity document", func(in *ecs.RegisterContainerInstanceInput) { in.InstanceIdentityDocument = aws.String("{") }, events.CodeInvalidParameter},
		{"bad attribute", func(in *ecs.RegisterContainerInstanceInput) {
			in.Attributes = []types.Attribute{{Name: aws.String("bad name!")}}
		}, events.CodeInvalidParameter},
		{"unknown cluster", func(in *ecs.RegisterContainerInstanceInput) { in.Cluster = aws.String("ghost") }, events.CodeClusterNotFound},
	}
	for _, tc := range bad {
		in := registerInput("reg", "i-new")
		tc.edit(in)
		_, err := e.ecs.RegisterContainerInstance(ctx, in)
		if !isAPIError(err, tc.code) {
			t.Fatalf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	if after := stateOf(t, e, "reg"); len(after) != len(before) {
		t.Fatalf("bad registrations changed state: %v -> %v", before, after)
	}
}

// TestInstances_SDK_ListAndDrain lists instances by status and filter and
// checks that a DRAINING instance takes no new task.
func TestInstances_SDK_ListAndDrain(t *testing.T) {
	e := startSched(t, 1, testConfig())
	ctx := context.Background()
	arns := e.placeCluster(t, "drain")
	td := e.taskDef(t, "d", 10, 10)

	page, err := e.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("drain"), MaxResults: aws.Int32(2)})
	must(t, err)
	next, err := e.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("drain"), NextToken: page.NextToken})
	must(t, err)
	if all := append(page.ContainerInstanceArns, next.ContainerInstanceArns...); len(all) != 3 || page.NextToken == nil || next.NextToken != nil {
		t.Fatalf("pages: %v %v", page, next)
	}
	filtered, err := e.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("drain"), Filter: aws.String("attribute:ecs.instance-type =~ t2.*")})
	must(t, err)
	if got := slices.Sorted(slices.Values(filtered.ContainerInstanceArns)); !slices.Equal(got, slices.Sorted(slices.Values(arns[:2]))) {
		t.Fatalf("filter: %v", filtered.ContainerInstanceArns)
	}
	_, err = e.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("drain"), Filter: aws.String("attribute:x ==")})
	wantCode(t, err, events.CodeInvalidParameter)

	upd, err := e.ecs.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
		Cluster: aws.String("drain"), ContainerInstances: []string{arns[0], arns[1], "0123456789abcdef0123456789abcdef"}, Status: types.ContainerInstanceStatusDraining,
	})
	must(t, err)
	if len(upd.ContainerInstances) != 2 || aws.ToString(upd.ContainerInstances[0].Status) != "DRAINING" || len(upd.Failures) != 1 || aws.ToString(upd.Failures[0].Reason) != "MISSING" {
		t.Fatalf("drain: %+v", upd)
	}
	_, err = e.ecs.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{Cluster: aws.String("drain"), ContainerInstances: []string{arns[0]}, Status: "INACTIVE"})
	wantAPIError(t, err, events.CodeInvalidParameter, "Container instance status should be one of [ACTIVE, DRAINING]")

	draining, err := e.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("drain"), Status: types.ContainerInstanceStatusDraining})
	must(t, err)
	if len(draining.ContainerInstanceArns) != 2 {
		t.Fatalf("list draining: %v", draining.ContainerInstanceArns)
	}
	out := e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("drain"), TaskDefinition: aws.String(td), Count: aws.Int32(6),
		PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeSpread, Field: aws.String("instanceId")}}})
	if n := perInstance(t, arns, out.Tasks); !slices.Equal(n, []int{0, 0, 6}) {
		t.Fatalf("placement with two instances draining: %v", n)
	}
	// Back to ACTIVE: placements resume.
	_, err = e.ecs.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{Cluster: aws.String("drain"), ContainerInstances: arns[:2], Status: types.ContainerInstanceStatusActive})
	must(t, err)
	out = e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("drain"), TaskDefinition: aws.String(td), Count: aws.Int32(2), Group: aws.String("g2"),
		PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:ecs.instance-type =~ t2.*")}}})
	if len(out.Tasks) != 2 {
		t.Fatalf("after re-activation: %+v", out.Failures)
	}
}

// TestInstances_SDK_Attributes puts, lists and deletes attributes, up to
// the limit, and places on a custom attribute.
func TestInstances_SDK_Attributes(t *testing.T) {
	e := startSched(t, 1, testConfig())
	ctx := context.Background()
	arns := e.placeCluster(t, "attrs")
	td := e.taskDef(t, "a", 10, 10)

	put, err := e.ecs.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("attrs"), Attributes: []types.Attribute{
		{Name: aws.String("stack"), Value: aws.String("staging"), TargetId: aws.String(arns[0])},
		{Name: aws.String("gpu"), Value: aws.String("none"), TargetId: aws.String(arns[1][strings.LastIndexByte(arns[1], '/')+1:]), TargetType: types.TargetTypeContainerInstance},
	}})
	must(t, err)
	if len(put.Attributes) != 2 || aws.ToString(put.Attributes[0].TargetId) != arns[0] {
		t.Fatalf("put: %+v", put.Attributes)
	}
	list, err := e.ecs.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("attrs"), TargetType: types.TargetTypeContainerInstance, AttributeName: aws.String("stack")})
	must(t, err)
	if len(list.Attributes) != 2 {
		t.Fatalf("list stack: %+v", list.Attributes)
	}
	list, err = e.ecs.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("attrs"), TargetType: types.TargetTypeContainerInstance, AttributeName: aws.String("stack"), AttributeValue: aws.String("staging")})
	must(t, err)
	if len(list.Attributes) != 1 || aws.ToString(list.Attributes[0].TargetId) != arns[0] || aws.ToString(list.Attributes[0].Value) != "staging" {
		t.Fatalf("list stack=staging: %+v", list.Attributes)
	}
	out := e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("attrs"), TaskDefinition: aws.String(td), Count: aws.Int32(3),
		PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:stack == staging")}}})
	if n := perInstance(t, arns, out.Tasks); !slices.Equal(n, []int{3, 0, 0}) {
		t.Fatalf("placement on a custom attribute: %v", n)
	}

	del, err := e.ecs.DeleteAttributes(ctx, &ecs.DeleteAttributesInput{Cluster: aws.String("attrs"), Attributes: []types.Attribute{{Name: aws.String("stack"), TargetId: aws.String(arns[0])}}})
	must(t, err)
	if len(del.Attributes) != 1 || aws.ToString(del.Attributes[0].Value) != "staging" {
		t.Fatalf("delete: %+v", del.Attributes)
	}

	// Errors: unknown target, bad target type, the custom attribute limit.
	_, err = e.ecs.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("attrs"), Attributes: []types.Attribute{
		{Name: aws.String("x"), Value: aws.String("y"), TargetId: aws.String("arn:aws:ecs:us-east-1:123456789012:container-instance/attrs/0123456789abcdef0123456789abcdef")}}})
	wantCode(t, err, events.CodeTargetNotFound)
	_, err = e.ecs.DeleteAttributes(ctx, &ecs.DeleteAttributesInput{Cluster: aws.String("attrs"), Attributes: []types.Attribute{
		{Name: aws.String("x"), TargetId: aws.String("0123456789abcdef0123456789abcdef"), TargetType: types.TargetTypeContainerInstance}}})
	wantCode(t, err, events.CodeTargetNotFound)
	_, err = e.ecs.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("attrs"), TargetType: "task"})
	wantCode(t, err, events.CodeInvalidParameter)
	var ten []types.Attribute
	for i := range 9 {
		ten = append(ten, types.Attribute{Name: aws.String("c" + string(rune('a'+i))), Value: aws.String("v"), TargetId: aws.String(arns[2])})
	}
	// arns[2] already has stack=prod: 9 more make 10, the limit.
	_, err = e.ecs.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("attrs"), Attributes: ten})
	must(t, err)
	before := e.describeInstance(t, "attrs", arns[2])
	_, err = e.ecs.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("attrs"), Attributes: []types.Attribute{{Name: aws.String("one-too-many"), Value: aws.String("v"), TargetId: aws.String(arns[2])}}})
	wantCode(t, err, events.CodeAttributeLimitExceeded)
	if after := e.describeInstance(t, "attrs", arns[2]); after.Version != before.Version {
		t.Fatal("a refused PutAttributes changed the instance")
	}
	// Built-in attributes do not count.
	_, err = e.ecs.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("attrs"), Attributes: []types.Attribute{{Name: aws.String("ecs.vpc-id"), Value: aws.String("vpc-1"), TargetId: aws.String(arns[2])}}})
	must(t, err)
}

// TestInstances_AgentDisconnect stops an agent's heartbeats: the instance
// shows agentConnected false, gets no new task (failure AGENT), and the
// disconnect and the reconnect are announced.
func TestInstances_AgentDisconnect(t *testing.T) {
	e := startSched(t, 2, testConfig())
	log := collectEvents(t, e.Env, events.SubjECSEventFilter("hb", events.KindContainerInstance))
	e.cluster(t, "hb")
	a := e.agent(t, simagent.Config{Cluster: "hb"})
	td := e.taskDef(t, "hb", 10, 10)

	a.SetHeartbeats(false)
	natstest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		if ci := e.describeInstance(t, "hb", a.InstanceArn()); ci.AgentConnected {
			return errorf("still connected")
		}
		return nil
	})
	natstest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		out := e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("hb"), TaskDefinition: aws.String(td)})
		if len(out.Tasks) != 0 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "AGENT" || aws.ToString(out.Failures[0].Arn) != a.InstanceArn() {
			return errorf("run on a disconnected agent: %d tasks %+v", len(out.Tasks), out.Failures)
		}
		return nil
	})
	a.SetHeartbeats(true)
	natstest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		out := e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("hb"), TaskDefinition: aws.String(td)})
		if len(out.Tasks) != 1 {
			return errorf("run after reconnect: %+v", out.Failures)
		}
		return nil
	})
	// Events: registered (connected), disconnected, connected again; each
	// transition once although two replicas watch.
	natstest.Eventually(t, 5*time.Second, 50*time.Millisecond, func() error {
		var seq []bool
		versions := map[int64]int{}
		for _, ev := range log.all() {
			var d events.ContainerInstanceDetail
			must(t, json.Unmarshal(ev.Detail, &d))
			versions[d.Version]++
			if len(seq) == 0 || seq[len(seq)-1] != d.AgentConnected {
				seq = append(seq, d.AgentConnected)
			}
		}
		for v, n := range versions {
			if n > 1 {
				t.Fatalf("version %d announced %d times", v, n)
			}
		}
		if !slices.Equal(seq[:min(3, len(seq))], []bool{true, false, true}) {
			return errorf("connectivity events %v", seq)
		}
		return nil
	})
}

// TestInstances_ForceDeregister deregisters an instance with tasks: refused
// without force; with force its tasks are asked to stop and do, and the
// cluster can then be deleted.
func TestInstances_ForceDeregister(t *testing.T) {
	e := startSched(t, 1, testConfig())
	ctx := context.Background()
	e.cluster(t, "force")
	a := e.agent(t, simagent.Config{Cluster: "force"})
	td := e.taskDef(t, "f", 10, 10)
	out := e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("force"), TaskDefinition: aws.String(td), Count: aws.Int32(2)})
	for _, tk := range out.Tasks {
		e.waitTask(t, "force", aws.ToString(tk.TaskArn), "RUNNING")
	}
	cl := describeOne(t, e.ecs, "force", types.ClusterFieldStatistics)
	if cl.RunningTasksCount != 2 || cl.PendingTasksCount != 0 || cl.RegisteredContainerInstancesCount != 1 {
		t.Fatalf("cluster counts: %+v", cl)
	}
	_, err := e.ecs.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("force"), ContainerInstance: aws.String(a.InstanceArn())})
	wantAPIError(t, err, events.CodeInvalidParameter, "Found running tasks on the instance.")
	_, err = e.ecs.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("force")})
	wantCode(t, err, events.CodeClusterContainsInstances)

	_, err = e.ecs.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("force"), ContainerInstance: aws.String(a.InstanceArn()), Force: aws.Bool(true)})
	must(t, err)
	for _, tk := range out.Tasks {
		got := e.waitTask(t, "force", aws.ToString(tk.TaskArn), "STOPPED")
		if aws.ToString(got.DesiredStatus) != "STOPPED" || got.StopCode != types.TaskStopCodeUserInitiated {
			t.Fatalf("task of a deregistered instance: %+v", got)
		}
	}
	natstest.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error {
		_, err := e.ecs.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("force")})
		return err
	})
}
