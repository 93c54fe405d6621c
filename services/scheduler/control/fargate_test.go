package control_test

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/simagent"
	"github.com/berth-project/berth/services/scheduler/control"
)

// fargateTD registers the seeds' Fargate sample shape: awsvpc, FARGATE
// required, task cpu/memory, port 80 (host port = container port).
func (e *schedEnv) fargateTD(t testing.TB, family, cpu, memory string) string {
	t.Helper()
	return e.registerTD(t, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family), NetworkMode: types.NetworkModeAwsvpc,
		RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate},
		Cpu:                     aws.String(cpu), Memory: aws.String(memory),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("web"), Image: aws.String("httpd:2.4"), Essential: aws.Bool(true),
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(80)}},
		}},
	})
}

func awsvpcNet(subnets ...string) *types.NetworkConfiguration {
	return &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: subnets, AssignPublicIp: types.AssignPublicIpDisabled}}
}

func detail(a types.Attachment, name string) string {
	for _, d := range a.Details {
		if aws.ToString(d.Name) == name {
			return aws.ToString(d.Value)
		}
	}
	return ""
}

// A Fargate task runs on the agent offering Fargate capacity, shows its ENI
// attachment and network interfaces, and is not shown on that instance.
func TestFargateTask(t *testing.T) {
	t.Parallel()
	e := startSched(t, 1, testConfig())
	ctx := context.Background()
	e.cluster(t, "fg")
	subnet := netip.MustParsePrefix("10.210.7.0/24")
	fg := e.agent(t, simagent.Config{Cluster: "fg", AWSVPCSubnet: subnet.String()})
	plain := e.agent(t, simagent.Config{Cluster: "fg"})
	td := e.fargateTD(t, "sample", "256", "512")

	out := e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("fg"), TaskDefinition: aws.String(td), LaunchType: types.LaunchTypeFargate,
		NetworkConfiguration: awsvpcNet("subnet-12345678", "subnet-0123456789abcdef0")})
	if len(out.Tasks) != 1 || len(out.Failures) != 0 {
		t.Fatalf("run-task: %+v %s", out.Tasks, failureText(out.Failures))
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	task := e.waitTask(t, "fg", arn, "RUNNING")
	if task.LaunchType != types.LaunchTypeFargate || aws.ToString(task.CapacityProviderName) != "FARGATE" ||
		aws.ToString(task.PlatformVersion) != "1.4.0" || aws.ToString(task.PlatformFamily) != "Linux" || task.ContainerInstanceArn != nil ||
		task.EphemeralStorage == nil || task.EphemeralStorage.SizeInGiB != 20 {
		t.Fatalf("fargate task: launch %s provider %v platform %v/%v instance %v storage %+v", task.LaunchType, aws.ToString(task.CapacityProviderName),
			aws.ToString(task.PlatformVersion), aws.ToString(task.PlatformFamily), aws.ToString(task.ContainerInstanceArn), task.EphemeralStorage)
	}
	if len(task.Attachments) != 1 {
		t.Fatalf("attachments: %+v", task.Attachments)
	}
	att := task.Attachments[0]
	ip, err := netip.ParseAddr(detail(att, "privateIPv4Address"))
	if aws.ToString(att.Type) != "ElasticNetworkInterface" || aws.ToString(att.Status) != "ATTACHED" || err != nil || !subnet.Contains(ip) ||
		detail(att, "subnetId") != "subnet-12345678" || detail(att, "networkInterfaceId") != events.ENIID(arn) || detail(att, "macAddress") == "" ||
		detail(att, "privateDnsName") != "ip-"+strings.ReplaceAll(ip.String(), ".", "-")+".ec2.internal" {
		t.Fatalf("attachment: %+v %+v", att, att.Details)
	}
	ni := task.Containers[0].NetworkInterfaces
	if len(ni) != 1 || aws.ToString(ni[0].AttachmentId) != aws.ToString(att.Id) || aws.ToString(ni[0].PrivateIpv4Address) != ip.String() {
		t.Fatalf("network interfaces: %+v", ni)
	}
	// Placed on the Fargate-capable agent, but not shown there.
	if fg.Running() != 1 || plain.Running() != 0 {
		t.Fatalf("placed: fargate agent %d, plain agent %d", fg.Running(), plain.Running())
	}
	if ci := e.describeInstance(t, "fg", fg.InstanceArn()); ci.RunningTasksCount != 0 || ci.PendingTasksCount != 0 {
		t.Fatalf("instance counts: running %d pending %d", ci.RunningTasksCount, ci.PendingTasksCount)
	}
	onInst, err := e.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("fg"), ContainerInstance: aws.String(fg.InstanceArn())})
	must(t, err)
	byType, err := e.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("fg"), LaunchType: types.LaunchTypeFargate})
	must(t, err)
	if len(onInst.TaskArns) != 0 || !slices.Equal(byType.TaskArns, []string{arn}) {
		t.Fatalf("list: on instance %v, FARGATE %v", onInst.TaskArns, byType.TaskArns)
	}

	_, err = e.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("fg"), Task: aws.String(arn)})
	must(t, err)
	stopped := e.waitTask(t, "fg", arn, "STOPPED")
	if len(stopped.Attachments) != 1 || aws.ToString(stopped.Attachments[0].Status) != "DELETED" {
		t.Fatalf("stopped attachment: %+v", stopped.Attachments)
	}
}

// An awsvpc task on EC2 runs only on an instance with task-eni, shows its
// instance and its attachment; assignPublicIp ENABLED is Fargate's only.
func TestAWSVPCOnEC2(t *testing.T) {
	t.Parallel()
	e := startSched(t, 1, testConfig())
	ctx := context.Background()
	e.cluster(t, "vpc")
	plain := e.agent(t, simagent.Config{Cluster: "vpc"})
	td := e.fargateTD(t, "sample", "512", "1024")

	// No instance offers awsvpc yet: a failure, no task.
	out := e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("vpc"), TaskDefinition: aws.String(td), LaunchType: types.LaunchTypeEc2, NetworkConfiguration: awsvpcNet("subnet-12345678")})
	if len(out.Tasks) != 0 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "ATTRIBUTE" {
		t.Fatalf("without task-eni: %+v %+v", out.Tasks, out.Failures)
	}
	fg := e.agent(t, simagent.Config{Cluster: "vpc", AWSVPCSubnet: "10.210.8.0/24"})
	out = e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("vpc"), TaskDefinition: aws.String(td), LaunchType: types.LaunchTypeEc2, NetworkConfiguration: awsvpcNet("subnet-87654321")})
	if len(out.Tasks) != 1 {
		t.Fatalf("run-task: %+v", out.Failures)
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	task := e.waitTask(t, "vpc", arn, "RUNNING")
	if task.LaunchType != types.LaunchTypeEc2 || aws.ToString(task.ContainerInstanceArn) != fg.InstanceArn() || task.CapacityProviderName != nil ||
		len(task.Attachments) != 1 || detail(task.Attachments[0], "subnetId") != "subnet-87654321" || aws.ToString(task.Attachments[0].Status) != "ATTACHED" {
		t.Fatalf("awsvpc EC2 task: %+v", task)
	}
	if plain.Running() != 0 {
		t.Fatal("awsvpc task on an instance without task-eni")
	}
	// awsvpc reserves no host port: a second task with port 80 fits.
	out = e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("vpc"), TaskDefinition: aws.String(td), NetworkConfiguration: awsvpcNet("subnet-87654321")})
	if len(out.Tasks) != 1 {
		t.Fatalf("second awsvpc task on port 80: %+v", out.Failures)
	}
	if ci := e.describeInstance(t, "vpc", fg.InstanceArn()); len(ports(ci.RemainingResources, "PORTS")) != len(ports(ci.RegisteredResources, "PORTS")) {
		t.Fatalf("awsvpc tasks reserved host ports: %v", ports(ci.RemainingResources, "PORTS"))
	}
	_ = ctx
}

// Capacity provider strategies: base first, then by weight; the cluster's
// default strategy when RunTask names neither.
func TestFargateCapacityProviders(t *testing.T) {
	t.Parallel()
	e := startSched(t, 1, testConfig())
	ctx := context.Background()
	_, err := e.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("cp"), CapacityProviders: []string{"FARGATE", "FARGATE_SPOT"},
		DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 1}}})
	must(t, err)
	e.agent(t, simagent.Config{Cluster: "cp", AWSVPCSubnet: "10.210.9.0/24", CPU: 4096, Memory: 8192})
	td := e.fargateTD(t, "sample", "256", "512")

	out := e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("cp"), TaskDefinition: aws.String(td), Count: aws.Int32(4), NetworkConfiguration: awsvpcNet("subnet-12345678"),
		CapacityProviderStrategy: []types.CapacityProviderStrategyItem{
			{CapacityProvider: aws.String("FARGATE"), Base: 2, Weight: 1},
			{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 1},
		}})
	got := map[string]int{}
	for _, tk := range out.Tasks {
		got[aws.ToString(tk.CapacityProviderName)]++
		if tk.LaunchType != types.LaunchTypeFargate {
			t.Fatalf("launch type %s", tk.LaunchType)
		}
	}
	if len(out.Tasks) != 4 || got["FARGATE"] != 3 || got["FARGATE_SPOT"] != 1 {
		t.Fatalf("strategy base 2 + 1:1 over 4 tasks: %v (%+v)", got, out.Failures)
	}
	def := e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("cp"), TaskDefinition: aws.String(td), NetworkConfiguration: awsvpcNet("subnet-12345678")})
	if len(def.Tasks) != 1 || aws.ToString(def.Tasks[0].CapacityProviderName) != "FARGATE_SPOT" || def.Tasks[0].LaunchType != types.LaunchTypeFargate {
		t.Fatalf("default strategy: %+v %+v", def.Tasks, def.Failures)
	}
}

// Bad Fargate and awsvpc input: AWS's errors, nothing started.
func TestFargateBadInput(t *testing.T) {
	t.Parallel()
	e := startSched(t, 1, testConfig())
	ctx := context.Background()
	e.cluster(t, "bad")
	e.agent(t, simagent.Config{Cluster: "bad", AWSVPCSubnet: "10.210.10.0/24"})
	fargate := e.fargateTD(t, "sample", "256", "512")
	bridge := e.taskDef(t, "bridge", 128, 128, [2]int32{80, 0})
	// awsvpc, 256 CPU with 4096 MiB: not a Fargate size, so EC2 only.
	big := e.registerTD(t, &ecs.RegisterTaskDefinitionInput{Family: aws.String("big"), NetworkMode: types.NetworkModeAwsvpc, Cpu: aws.String("256"), Memory: aws.String("4096"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("httpd:2.4")}}})
	net := awsvpcNet("subnet-12345678")
	sixSGs := &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-12345678"},
		SecurityGroups: []string{"sg-12345678", "sg-12345679", "sg-1234567a", "sg-1234567b", "sg-1234567c", "sg-1234567d"}}}
	var seventeen []string
	for i := range 17 {
		seventeen = append(seventeen, "subnet-1234567"+string(rune('0'+i%10)))
	}
	fgRun := func(in ecs.RunTaskInput) ecs.RunTaskInput {
		in.Cluster, in.LaunchType = aws.String("bad"), types.LaunchTypeFargate
		if in.TaskDefinition == nil {
			in.TaskDefinition = aws.String(fargate)
		}
		return in
	}
	cases := []struct {
		name string
		in   ecs.RunTaskInput
		code events.Code
		msg  string
	}{
		{"fargate with bridge mode", fgRun(ecs.RunTaskInput{TaskDefinition: aws.String(bridge)}), events.CodeInvalidParameter, "Task definition does not support launch_type FARGATE."},
		{"fargate 256 CPU 4096 MiB", fgRun(ecs.RunTaskInput{TaskDefinition: aws.String(big), NetworkConfiguration: net}), events.CodeInvalidParameter, "Task definition does not support launch_type FARGATE."},
		{"fargate override 256 CPU 4096 MiB", fgRun(ecs.RunTaskInput{NetworkConfiguration: net, Overrides: &types.TaskOverride{Cpu: aws.String("256"), Memory: aws.String("4096")}}),
			events.CodeInvalidParameter, "No Fargate configuration exists for given values: 256 CPU, 4096 memory. See the Amazon ECS documentation for the valid values."},
		{"missing network configuration", fgRun(ecs.RunTaskInput{}), events.CodeInvalidParameter, "Network Configuration must be provided when networkMode 'awsvpc' is specified."},
		{"missing network configuration on EC2", ecs.RunTaskInput{Cluster: aws.String("bad"), TaskDefinition: aws.String(fargate)}, events.CodeInvalidParameter, "Network Configuration must be provided when networkMode 'awsvpc' is specified."},
		{"network configuration with bridge", ecs.RunTaskInput{Cluster: aws.String("bad"), TaskDefinition: aws.String(bridge), NetworkConfiguration: net}, events.CodeInvalidParameter, "Network Configuration is not valid for the given networkMode of this task definition."},
		{"no awsvpcConfiguration", fgRun(ecs.RunTaskInput{NetworkConfiguration: &types.NetworkConfiguration{}}), events.CodeInvalidParameter, "Network Configuration must be provided when networkMode 'awsvpc' is specified."},
		{"bad subnet id", fgRun(ecs.RunTaskInput{NetworkConfiguration: awsvpcNet("subnet-xyz")}), events.CodeInvalidParameter, `Error retrieving subnet information for [subnet-xyz]: Invalid id: "subnet-xyz" (expecting "subnet-...")`},
		{"not a subnet id", fgRun(ecs.RunTaskInput{NetworkConfiguration: awsvpcNet("vpc-12345678")}), events.CodeInvalidParameter, ""},
		{"17 subnets", fgRun(ecs.RunTaskInput{NetworkConfiguration: awsvpcNet(seventeen...)}), events.CodeInvalidParameter, "subnets can have at most 16 items."},
		{"6 security groups", fgRun(ecs.RunTaskInput{NetworkConfiguration: sixSGs}), events.CodeInvalidParameter, "securityGroups can have at most 5 items."},
		{"bad security group", fgRun(ecs.RunTaskInput{NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-12345678"}, SecurityGroups: []string{"group1"}}}}), events.CodeInvalidParameter, ""},
		{"public IP on EC2", ecs.RunTaskInput{Cluster: aws.String("bad"), TaskDefinition: aws.String(fargate), LaunchType: types.LaunchTypeEc2,
			NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-12345678"}, AssignPublicIp: types.AssignPublicIpEnabled}}},
			events.CodeInvalidParameter, "Assign public IP is not supported for this launch type."},
		{"platform version", fgRun(ecs.RunTaskInput{NetworkConfiguration: net, PlatformVersion: aws.String("1.3.0")}), events.CodePlatformUnknown, ""},
		{"launch type and strategy", fgRun(ecs.RunTaskInput{NetworkConfiguration: net, CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE"), Weight: 1}}}),
			events.CodeInvalidParameter, "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again."},
		{"strategy not attached", ecs.RunTaskInput{Cluster: aws.String("bad"), TaskDefinition: aws.String(fargate), NetworkConfiguration: net,
			CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE"), Weight: 1}}}, events.CodeInvalidParameter,
			"The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again."},
		{"ephemeral storage 10 GiB", fgRun(ecs.RunTaskInput{NetworkConfiguration: net, Overrides: &types.TaskOverride{EphemeralStorage: &types.EphemeralStorage{SizeInGiB: 10}}}), events.CodeInvalidParameter, ""},
		{"external", ecs.RunTaskInput{Cluster: aws.String("bad"), TaskDefinition: aws.String(fargate), LaunchType: types.LaunchTypeExternal, NetworkConfiguration: net}, events.CodeInvalidParameter, "EXTERNAL"},
	}
	before := stateOf(t, e, "bad")
	for _, tc := range cases {
		_, err := e.ecs.RunTask(ctx, &tc.in)
		if err == nil {
			t.Fatalf("%s: accepted", tc.name)
		}
		if tc.msg != "" && !strings.HasPrefix(tc.msg, "Error") && len(tc.msg) < 12 {
			wantCode(t, err, tc.code)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("%s: %v", tc.name, err)
			}
			continue
		}
		wantAPIError(t, err, tc.code, tc.msg)
	}
	if after := stateOf(t, e, "bad"); !mapsEqual(before, after) {
		t.Fatalf("bad input changed state: %v -> %v", before, after)
	}

	// Registration refuses what Fargate cannot run when FARGATE is required.
	for _, in := range []*ecs.RegisterTaskDefinitionInput{
		{Family: aws.String("x"), NetworkMode: types.NetworkModeBridge, RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate}, Cpu: aws.String("256"), Memory: aws.String("512"),
			ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("c"), Image: aws.String("i")}}},
		{Family: aws.String("x"), NetworkMode: types.NetworkModeAwsvpc, RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate}, Cpu: aws.String("256"), Memory: aws.String("4096"),
			ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("c"), Image: aws.String("i")}}},
		{Family: aws.String("x"), NetworkMode: types.NetworkModeAwsvpc, RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate}, Cpu: aws.String("256"), Memory: aws.String("512"),
			ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("c"), Image: aws.String("i"), Privileged: aws.Bool(true)}}},
		{Family: aws.String("x"), NetworkMode: types.NetworkModeAwsvpc, Cpu: aws.String("256"), Memory: aws.String("512"),
			ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("c"), Image: aws.String("i"), PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(8080)}}}}},
	} {
		if _, err := e.ecs.RegisterTaskDefinition(ctx, in); err == nil {
			t.Fatalf("registered %s %s/%s", in.NetworkMode, aws.ToString(in.Cpu), aws.ToString(in.Memory))
		}
	}
	_ = control.AttrFargate
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func failureText(fs []types.Failure) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(aws.ToString(f.Arn) + ": " + aws.ToString(f.Reason) + "; ")
	}
	return b.String()
}

// PutClusterCapacityProviders sets what DescribeClusters shows and what
// RunTask uses by default; DescribeCapacityProviders knows FARGATE and
// FARGATE_SPOT only.
func TestPutClusterCapacityProviders(t *testing.T) {
	t.Parallel()
	e := startSched(t, 1, testConfig())
	ctx := context.Background()
	e.cluster(t, "put")
	e.agent(t, simagent.Config{Cluster: "put", AWSVPCSubnet: "10.210.11.0/24"})
	td := e.fargateTD(t, "sample", "256", "512")

	before := bucketState(t, e.Env)
	_, err := e.ecs.PutClusterCapacityProviders(ctx, &ecs.PutClusterCapacityProvidersInput{Cluster: aws.String("put"), CapacityProviders: []string{"FARGATE", "my-asg"},
		DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{}})
	wantCode(t, err, events.CodeInvalidParameter)
	_, err = e.ecs.PutClusterCapacityProviders(ctx, &ecs.PutClusterCapacityProvidersInput{Cluster: aws.String("put"), CapacityProviders: []string{"FARGATE"},
		DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 1}}})
	wantCode(t, err, events.CodeInvalidParameter)
	_, err = e.ecs.PutClusterCapacityProviders(ctx, &ecs.PutClusterCapacityProvidersInput{Cluster: aws.String("ghost"), CapacityProviders: []string{"FARGATE"},
		DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{}})
	wantCode(t, err, events.CodeClusterNotFound)
	unchanged(t, e.Env, before, "bad PutClusterCapacityProviders")

	put, err := e.ecs.PutClusterCapacityProviders(ctx, &ecs.PutClusterCapacityProvidersInput{Cluster: aws.String("put"), CapacityProviders: []string{"FARGATE", "FARGATE_SPOT"},
		DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 2, Base: 1}}})
	must(t, err)
	if !slices.Equal(put.Cluster.CapacityProviders, []string{"FARGATE", "FARGATE_SPOT"}) {
		t.Fatalf("put: %+v", put.Cluster)
	}
	desc, err := e.ecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"put"}})
	must(t, err)
	if s := desc.Clusters[0].DefaultCapacityProviderStrategy; len(s) != 1 || aws.ToString(s[0].CapacityProvider) != "FARGATE_SPOT" || s[0].Weight != 2 || s[0].Base != 1 {
		t.Fatalf("describe-clusters strategy: %+v", s)
	}
	out := e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("put"), TaskDefinition: aws.String(td), NetworkConfiguration: awsvpcNet("subnet-12345678")})
	if len(out.Tasks) != 1 || aws.ToString(out.Tasks[0].CapacityProviderName) != "FARGATE_SPOT" {
		t.Fatalf("run-task with the default strategy: %+v %s", out.Tasks, failureText(out.Failures))
	}

	cps, err := e.ecs.DescribeCapacityProviders(ctx, &ecs.DescribeCapacityProvidersInput{CapacityProviders: []string{"FARGATE_SPOT", "my-asg"}})
	must(t, err)
	if len(cps.CapacityProviders) != 1 || aws.ToString(cps.CapacityProviders[0].Name) != "FARGATE_SPOT" || cps.CapacityProviders[0].Status != types.CapacityProviderStatusActive ||
		aws.ToString(cps.CapacityProviders[0].CapacityProviderArn) != "arn:aws:ecs:us-east-1:123456789012:capacity-provider/FARGATE_SPOT" ||
		len(cps.Failures) != 1 || aws.ToString(cps.Failures[0].Reason) != "MISSING" {
		t.Fatalf("describe-capacity-providers: %+v %+v", cps.CapacityProviders, cps.Failures)
	}
}
