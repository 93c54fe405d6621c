package taskdefs_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// baseInput is a valid EC2 registration: the container under test ("main")
// and a plain sidecar that dependsOn / links / volumesFrom can point at.
func baseInput(family string, main types.ContainerDefinition) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		ContainerDefinitions: []types.ContainerDefinition{
			main,
			{Name: aws.String("side"), Image: aws.String("busybox"), Memory: aws.Int32(32)},
		},
		Volumes: []types.Volume{{Name: aws.String("data"), Host: &types.HostVolumeProperties{SourcePath: aws.String("/srv/data")}}},
	}
}

// withDefaults is what ECS returns for a container definition that leaves
// these members out.
func withDefaults(c types.ContainerDefinition) types.ContainerDefinition {
	if c.Essential == nil {
		c.Essential = aws.Bool(true)
	}
	if c.Environment == nil {
		c.Environment = []types.KeyValuePair{}
	}
	if c.MountPoints == nil {
		c.MountPoints = []types.MountPoint{}
	}
	if c.VolumesFrom == nil {
		c.VolumesFrom = []types.VolumeFrom{}
	}
	if c.PortMappings == nil {
		c.PortMappings = []types.PortMapping{}
	}
	return c
}

func main(mutate func(*types.ContainerDefinition)) types.ContainerDefinition {
	c := types.ContainerDefinition{Name: aws.String("main"), Image: aws.String("nginx:1.27"), Memory: aws.Int32(256)}
	mutate(&c)
	return c
}

// everyField sets every container-definition member Berth round-trips.
func everyField(c *types.ContainerDefinition) {
	c.Cpu = 128
	c.Memory = aws.Int32(512)
	c.MemoryReservation = aws.Int32(256)
	c.Links = []string{"side:sidekick"}
	c.PortMappings = []types.PortMapping{
		{ContainerPort: aws.Int32(80), HostPort: aws.Int32(8080), Protocol: types.TransportProtocolTcp, Name: aws.String("web"), AppProtocol: types.ApplicationProtocolHttp},
		{ContainerPort: aws.Int32(53), HostPort: aws.Int32(0), Protocol: types.TransportProtocolUdp},
	}
	c.Essential = aws.Bool(true)
	c.EntryPoint = []string{"/docker-entrypoint.sh"}
	c.Command = []string{"nginx", "-g", "daemon off;"}
	c.Environment = []types.KeyValuePair{{Name: aws.String("A"), Value: aws.String("1")}, {Name: aws.String("B"), Value: aws.String("two words")}}
	c.EnvironmentFiles = []types.EnvironmentFile{{Type: types.EnvironmentFileTypeS3, Value: aws.String("arn:aws:s3:::bucket/app.env")}}
	c.MountPoints = []types.MountPoint{{SourceVolume: aws.String("data"), ContainerPath: aws.String("/data"), ReadOnly: aws.Bool(true)}}
	c.VolumesFrom = []types.VolumeFrom{{SourceContainer: aws.String("side"), ReadOnly: aws.Bool(false)}}
	c.LinuxParameters = &types.LinuxParameters{
		Capabilities:       &types.KernelCapabilities{Add: []string{"NET_ADMIN"}, Drop: []string{"MKNOD"}},
		Devices:            []types.Device{{HostPath: aws.String("/dev/fuse"), ContainerPath: aws.String("/dev/fuse"), Permissions: []types.DeviceCgroupPermission{types.DeviceCgroupPermissionRead, types.DeviceCgroupPermissionWrite}}},
		InitProcessEnabled: aws.Bool(true),
		SharedMemorySize:   aws.Int32(64),
		Tmpfs:              []types.Tmpfs{{ContainerPath: aws.String("/tmp"), Size: 32, MountOptions: []string{"rw", "noexec"}}},
		MaxSwap:            aws.Int32(128),
		Swappiness:         aws.Int32(10),
	}
	c.Secrets = []types.Secret{{Name: aws.String("DB_PASSWORD"), ValueFrom: aws.String("arn:aws:ssm:us-east-1:123456789012:parameter/db")}}
	c.DependsOn = []types.ContainerDependency{{ContainerName: aws.String("side"), Condition: types.ContainerConditionStart}}
	c.StartTimeout = aws.Int32(60)
	c.StopTimeout = aws.Int32(45)
	c.Hostname = aws.String("web-1")
	c.User = aws.String("nginx:nginx")
	c.WorkingDirectory = aws.String("/usr/share/nginx")
	c.DisableNetworking = aws.Bool(false)
	c.Privileged = aws.Bool(true)
	c.ReadonlyRootFilesystem = aws.Bool(true)
	c.DnsServers = []string{"10.0.0.2", "1.1.1.1"}
	c.DnsSearchDomains = []string{"svc.local"}
	c.ExtraHosts = []types.HostEntry{{Hostname: aws.String("db"), IpAddress: aws.String("10.0.0.5")}}
	c.DockerSecurityOptions = []string{"no-new-privileges"}
	c.Interactive = aws.Bool(true)
	c.PseudoTerminal = aws.Bool(true)
	c.DockerLabels = map[string]string{"com.example.team": "web", "tier": "front"}
	c.Ulimits = []types.Ulimit{{Name: types.UlimitNameNofile, SoftLimit: 1024, HardLimit: 4096}}
	c.LogConfiguration = &types.LogConfiguration{
		LogDriver:     types.LogDriverAwslogs,
		Options:       map[string]string{"awslogs-group": "/ecs/web", "awslogs-region": "us-east-1"},
		SecretOptions: []types.Secret{{Name: aws.String("token"), ValueFrom: aws.String("arn:aws:ssm:us-east-1:123456789012:parameter/tok")}},
	}
	c.HealthCheck = &types.HealthCheck{Command: []string{"CMD-SHELL", "curl -f http://localhost/ || exit 1"}, Interval: aws.Int32(10), Timeout: aws.Int32(3), Retries: aws.Int32(4), StartPeriod: aws.Int32(20)}
	c.SystemControls = []types.SystemControl{{Namespace: aws.String("net.core.somaxconn"), Value: aws.String("1024")}}
	c.ResourceRequirements = []types.ResourceRequirement{{Type: types.ResourceTypeGpu, Value: aws.String("1")}}
	c.RepositoryCredentials = &types.RepositoryCredentials{CredentialsParameter: aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:reg")}
	c.CredentialSpecs = []string{"credentialspec:file://gmsa.json"}
	c.RestartPolicy = &types.ContainerRestartPolicy{Enabled: aws.Bool(true), IgnoredExitCodes: []int32{0, 2}, RestartAttemptPeriod: aws.Int32(120)}
	c.VersionConsistency = types.VersionConsistencyDisabled
}

func TestSDK_ContainerFieldsRoundTrip(t *testing.T) {
	env := startEnv(t, 1)
	c := env.ECS()
	ctx := context.Background()
	cases := []struct {
		name   string
		mutate func(*types.ContainerDefinition)
	}{
		{"all", everyField},
		{"cpu", func(c *types.ContainerDefinition) { c.Cpu = 512 }},
		{"memoryReservation", func(c *types.ContainerDefinition) { c.Memory = nil; c.MemoryReservation = aws.Int32(128) }},
		{"links", func(c *types.ContainerDefinition) { c.Links = []string{"side"} }},
		{"portMappings", func(c *types.ContainerDefinition) {
			c.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(443), HostPort: aws.Int32(8443), Protocol: types.TransportProtocolTcp}}
		}},
		{"essential false", func(c *types.ContainerDefinition) { c.Essential = aws.Bool(false) }},
		{"entryPoint and command", func(c *types.ContainerDefinition) {
			c.EntryPoint = []string{"sh", "-c"}
			c.Command = []string{"echo hi"}
		}},
		{"environment", func(c *types.ContainerDefinition) {
			c.Environment = []types.KeyValuePair{{Name: aws.String("K"), Value: aws.String("v")}}
		}},
		{"mountPoints", func(c *types.ContainerDefinition) {
			c.MountPoints = []types.MountPoint{{SourceVolume: aws.String("data"), ContainerPath: aws.String("/d"), ReadOnly: aws.Bool(false)}}
		}},
		{"volumesFrom", func(c *types.ContainerDefinition) {
			c.VolumesFrom = []types.VolumeFrom{{SourceContainer: aws.String("side"), ReadOnly: aws.Bool(true)}}
		}},
		{"linuxParameters", func(c *types.ContainerDefinition) {
			c.LinuxParameters = &types.LinuxParameters{InitProcessEnabled: aws.Bool(true), Capabilities: &types.KernelCapabilities{Add: []string{"SYS_PTRACE"}}}
		}},
		{"hostname user workingDirectory", func(c *types.ContainerDefinition) {
			c.Hostname, c.User, c.WorkingDirectory = aws.String("h"), aws.String("1000:1000"), aws.String("/app")
		}},
		{"booleans", func(c *types.ContainerDefinition) {
			c.DisableNetworking, c.Privileged, c.ReadonlyRootFilesystem = aws.Bool(true), aws.Bool(false), aws.Bool(false)
		}},
		{"dns and hosts", func(c *types.ContainerDefinition) {
			c.DnsServers, c.DnsSearchDomains = []string{"8.8.8.8"}, []string{"example.org"}
			c.ExtraHosts = []types.HostEntry{{Hostname: aws.String("x"), IpAddress: aws.String("10.1.1.1")}}
		}},
		{"dockerSecurityOptions", func(c *types.ContainerDefinition) { c.DockerSecurityOptions = []string{"label:type:svirt_apache_t"} }},
		{"dockerLabels", func(c *types.ContainerDefinition) { c.DockerLabels = map[string]string{"a": "b"} }},
		{"ulimits", func(c *types.ContainerDefinition) {
			c.Ulimits = []types.Ulimit{{Name: types.UlimitNameCore, SoftLimit: 0, HardLimit: 0}}
		}},
		{"logConfiguration", func(c *types.ContainerDefinition) {
			c.LogConfiguration = &types.LogConfiguration{LogDriver: types.LogDriverJsonFile, Options: map[string]string{"max-size": "10m"}}
		}},
		{"healthCheck", func(c *types.ContainerDefinition) {
			c.HealthCheck = &types.HealthCheck{Command: []string{"CMD", "true"}, Interval: aws.Int32(5), Timeout: aws.Int32(2), Retries: aws.Int32(1), StartPeriod: aws.Int32(0)}
		}},
		{"dependsOn", func(c *types.ContainerDefinition) {
			c.DependsOn = []types.ContainerDependency{{ContainerName: aws.String("side"), Condition: types.ContainerConditionComplete}}
		}},
		{"stopTimeout", func(c *types.ContainerDefinition) { c.StopTimeout = aws.Int32(120) }},
		{"secrets", func(c *types.ContainerDefinition) {
			c.Secrets = []types.Secret{{Name: aws.String("S"), ValueFrom: aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:s")}}
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			family := "roundtrip-" + itoa(i)
			in := baseInput(family, main(tc.mutate))
			reg, err := c.RegisterTaskDefinition(ctx, in)
			if err != nil {
				t.Fatalf("register: %v", err)
			}
			got, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(family + ":1")})
			if err != nil {
				t.Fatalf("describe: %v", err)
			}
			want := withDefaults(in.ContainerDefinitions[0])
			if tc.mutate == nil {
				t.Fatal("no mutation")
			}
			if hc := want.HealthCheck; hc != nil && hc.Interval == nil {
				t.Fatal("health check cases set every member")
			}
			for name, td := range map[string]*types.TaskDefinition{"register": reg.TaskDefinition, "describe": got.TaskDefinition} {
				if !reflect.DeepEqual(td.ContainerDefinitions[0], want) {
					t.Errorf("%s: container definition differs\n got %+v\nwant %+v", name, td.ContainerDefinitions[0], want)
				}
			}
		})
	}
}

func TestSDK_TaskLevelFields(t *testing.T) {
	env := startEnv(t, 1)
	c := env.ECS()
	ctx := context.Background()
	in := &ecs.RegisterTaskDefinitionInput{
		Family:           aws.String("tasklevel"),
		TaskRoleArn:      aws.String("arn:aws:iam::123456789012:role/app"),
		ExecutionRoleArn: aws.String("arn:aws:iam::123456789012:role/exec"),
		NetworkMode:      types.NetworkModeAwsvpc,
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1"),
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(8080)}},
		}},
		Volumes: []types.Volume{
			{Name: aws.String("scratch")},
			{Name: aws.String("efs"), EfsVolumeConfiguration: &types.EFSVolumeConfiguration{FileSystemId: aws.String("fs-1234"), TransitEncryption: types.EFSTransitEncryptionEnabled}},
		},
		RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate},
		Cpu:                     aws.String("1 vCPU"),
		Memory:                  aws.String("2 GB"),
		RuntimePlatform:         &types.RuntimePlatform{OperatingSystemFamily: types.OSFamilyLinux, CpuArchitecture: types.CPUArchitectureArm64},
		PidMode:                 types.PidModeTask,
		Tags:                    []types.Tag{{Key: aws.String("team"), Value: aws.String("web")}},
	}
	reg, err := c.RegisterTaskDefinition(ctx, in)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	td := reg.TaskDefinition
	if aws.ToString(td.Cpu) != "1024" || aws.ToString(td.Memory) != "2048" {
		t.Errorf("cpu/memory %q/%q, want 1024/2048", aws.ToString(td.Cpu), aws.ToString(td.Memory))
	}
	if aws.ToString(td.TaskRoleArn) != *in.TaskRoleArn || aws.ToString(td.ExecutionRoleArn) != *in.ExecutionRoleArn ||
		td.NetworkMode != types.NetworkModeAwsvpc || td.PidMode != types.PidModeTask ||
		!reflect.DeepEqual(td.RuntimePlatform, in.RuntimePlatform) ||
		!reflect.DeepEqual(td.RequiresCompatibilities, in.RequiresCompatibilities) {
		t.Errorf("task-level fields: %+v", td)
	}
	if got := td.Volumes[1].EfsVolumeConfiguration; aws.ToString(got.RootDirectory) != "/" {
		t.Errorf("efs rootDirectory default: %+v", got)
	}
	if pm := td.ContainerDefinitions[0].PortMappings[0]; aws.ToInt32(pm.HostPort) != 8080 || pm.Protocol != types.TransportProtocolTcp {
		t.Errorf("awsvpc host port default: %+v", pm)
	}
	if !reflect.DeepEqual(td.Compatibilities, []types.Compatibility{"EC2", "FARGATE"}) {
		t.Errorf("compatibilities %v", td.Compatibilities)
	}
	var names []string
	for _, a := range td.RequiresAttributes {
		names = append(names, aws.ToString(a.Name))
	}
	want := []string{
		"ecs.capability.efsAuth",
		"com.amazonaws.ecs.capability.ecr-auth",
		"ecs.capability.efs",
		"com.amazonaws.ecs.capability.docker-remote-api.1.25",
		"com.amazonaws.ecs.capability.task-iam-role",
		"ecs.capability.execution-role-ecr-pull",
		"com.amazonaws.ecs.capability.docker-remote-api.1.18",
		"ecs.capability.task-eni",
		"ecs.capability.pid-ipc-namespace-sharing",
	}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("requiresAttributes\n got %v\nwant %v", names, want)
	}
	if len(reg.Tags) != 1 || aws.ToString(reg.Tags[0].Key) != "team" {
		t.Errorf("register tags: %+v", reg.Tags)
	}
	// include TAGS, and no tags without it.
	d, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("tasklevel"), Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Tags) != 1 || aws.ToString(d.Tags[0].Value) != "web" {
		t.Errorf("describe tags: %+v", d.Tags)
	}
	d, err = c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("tasklevel")})
	if err != nil {
		t.Fatal(err)
	}
	if d.Tags != nil {
		t.Errorf("tags without include: %+v", d.Tags)
	}
	if !reflect.DeepEqual(d.TaskDefinition, reg.TaskDefinition) {
		t.Errorf("describe differs from register\n got %+v\nwant %+v", d.TaskDefinition, reg.TaskDefinition)
	}
}

func TestSDK_LifecycleFlows(t *testing.T) {
	env := startEnv(t, 1)
	c := env.ECS()
	ctx := context.Background()
	reg := func(family string) *types.TaskDefinition {
		t.Helper()
		out, err := c.RegisterTaskDefinition(ctx, baseInput(family, main(func(*types.ContainerDefinition) {})))
		if err != nil {
			t.Fatalf("register %s: %v", family, err)
		}
		return out.TaskDefinition
	}
	if td := reg("web"); td.Revision != 1 || aws.ToString(td.TaskDefinitionArn) != arn("web", 1) || td.Status != types.TaskDefinitionStatusActive {
		t.Fatalf("first: %+v", td)
	}
	for want := int32(2); want <= 4; want++ {
		if td := reg("web"); td.Revision != want {
			t.Fatalf("revision %d, want %d", td.Revision, want)
		}
	}
	reg("api")

	// deregister 4 (the latest) and 2; bare family is refused.
	for _, ref := range []string{"web:4", arn("web", 2)} {
		out, err := c.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(ref)})
		if err != nil || out.TaskDefinition.Status != types.TaskDefinitionStatusInactive || out.TaskDefinition.DeregisteredAt == nil {
			t.Fatalf("deregister %s: %v %+v", ref, err, out)
		}
	}
	again, err := c.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web:4")})
	if err != nil || again.TaskDefinition.Status != types.TaskDefinitionStatusInactive {
		t.Fatalf("deregister twice: %v", err)
	}
	_, err = c.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web")})
	var ce *types.ClientException
	if !errors.As(err, &ce) || ce.ErrorMessage() != "Revision is missing." {
		t.Fatalf("bare deregister: %v", err)
	}
	d, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web")})
	if err != nil || d.TaskDefinition.Revision != 3 {
		t.Fatalf("latest ACTIVE: %v %+v", err, d)
	}

	// lists: status filter, sort, pagination, exact family.
	if got := listAll(t, c, "ACTIVE"); !reflect.DeepEqual(got, []string{arn("api", 1), arn("web", 1), arn("web", 3)}) {
		t.Errorf("ACTIVE: %v", got)
	}
	if got := listAll(t, c, "INACTIVE"); !reflect.DeepEqual(got, []string{arn("web", 2), arn("web", 4)}) {
		t.Errorf("INACTIVE: %v", got)
	}
	desc, err := c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{Sort: types.SortOrderDesc, MaxResults: aws.Int32(2)})
	if err != nil || !reflect.DeepEqual(desc.TaskDefinitionArns, []string{arn("web", 3), arn("web", 1)}) || desc.NextToken == nil {
		t.Fatalf("DESC page 1: %v %+v", err, desc)
	}
	desc, err = c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{Sort: types.SortOrderDesc, MaxResults: aws.Int32(2), NextToken: desc.NextToken})
	if err != nil || !reflect.DeepEqual(desc.TaskDefinitionArns, []string{arn("api", 1)}) || desc.NextToken != nil {
		t.Fatalf("DESC page 2: %v %+v", err, desc)
	}
	fam, err := c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("we")})
	if err != nil || len(fam.TaskDefinitionArns) != 0 || fam.TaskDefinitionArns == nil {
		t.Fatalf("familyPrefix is the full family name: %v %+v", err, fam)
	}

	// delete: only INACTIVE revisions; the others are failures.
	del, err := c.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: []string{"web:2", "web:3", "web:99", "web", arn("web", 4)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(del.TaskDefinitions) != 2 || del.TaskDefinitions[0].Status != types.TaskDefinitionStatusDeleteInProgress || del.TaskDefinitions[0].DeleteRequestedAt == nil {
		t.Errorf("deleted: %+v", del.TaskDefinitions)
	}
	wantFail := []types.Failure{
		{Arn: aws.String(arn("web", 3)), Reason: aws.String("The specified task definition is still in ACTIVE status. Please deregister the target and try again.")},
		{Arn: aws.String(arn("web", 99)), Reason: aws.String("The specified task definition does not exist. Specify a valid account, family, revision and try again.")},
		{Arn: aws.String("web"), Reason: aws.String("The specified task definition identifier is invalid. Specify a valid name or ARN and try again.")},
	}
	if !reflect.DeepEqual(del.Failures, wantFail) {
		t.Errorf("failures:\n got %+v\nwant %+v", del.Failures, wantFail)
	}
	if d, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web:2")}); err != nil || d.TaskDefinition.Status != types.TaskDefinitionStatusDeleteInProgress {
		t.Errorf("describe deleted: %v", err)
	}
	if got := listAll(t, c, "DELETE_IN_PROGRESS"); !reflect.DeepEqual(got, []string{arn("web", 2), arn("web", 4)}) {
		t.Errorf("DELETE_IN_PROGRESS: %v", got)
	}
	// revisions are never reused.
	if td := reg("web"); td.Revision != 5 {
		t.Errorf("after delete: revision %d, want 5", td.Revision)
	}

	// families: ACTIVE / INACTIVE / ALL.
	_, err = c.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("api:1")})
	if err != nil {
		t.Fatal(err)
	}
	// A family with no ACTIVE revision cannot be described by name.
	_, err = c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("api")})
	if !errors.As(err, &ce) || ce.ErrorMessage() != "Unable to describe task definition." {
		t.Fatalf("describe all-inactive family: %v", err)
	}
	for status, want := range map[types.TaskDefinitionFamilyStatus][]string{
		"":                                       {"api", "web"},
		types.TaskDefinitionFamilyStatusAll:      {"api", "web"},
		types.TaskDefinitionFamilyStatusActive:   {"web"},
		types.TaskDefinitionFamilyStatusInactive: {"api"},
	} {
		out, err := c.ListTaskDefinitionFamilies(ctx, &ecs.ListTaskDefinitionFamiliesInput{Status: status})
		if err != nil || !reflect.DeepEqual(out.Families, want) {
			t.Errorf("families %q: %v %v", status, err, out.Families)
		}
	}
	p := ecs.NewListTaskDefinitionFamiliesPaginator(c, &ecs.ListTaskDefinitionFamiliesInput{MaxResults: aws.Int32(1), FamilyPrefix: aws.String("")})
	var all []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Families...)
	}
	if !reflect.DeepEqual(all, []string{"api", "web"}) {
		t.Errorf("paginated families: %v", all)
	}
	if out, err := c.ListTaskDefinitionFamilies(ctx, &ecs.ListTaskDefinitionFamiliesInput{FamilyPrefix: aws.String("zz")}); err != nil || out.Families == nil || len(out.Families) != 0 {
		t.Errorf("no match: %v %+v", err, out)
	}
}
