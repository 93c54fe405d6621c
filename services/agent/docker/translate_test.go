package docker

import (
	"bytes"
	"debug/elf"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/events/ecsapi"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

func ptr[T any](v T) *T { return &v }

const testARN = "arn:aws:ecs:us-east-1:123456789012:task/default/0123456789abcdef0123456789abcdef"

// fixture returns a valid spec: one bridge-mode container "app".
func fixture() ContainerSpec {
	return ContainerSpec{
		Name:  "berth-web-3-app-0123456789abcdef0123456789abcdef",
		Owner: "agent-1",
		Task: TaskInfo{ARN: testARN, Cluster: "default", Family: "web", Revision: 3,
			Definition: &ecsapi.TaskDefinition{Family: "web"}},
		Definition: ecsapi.ContainerDefinition{Name: "app", Image: "nginx:1.27"},
		DockerNames: map[string]string{
			"app": "berth-web-3-app-x", "db": "berth-web-3-db-x", "data": "berth-web-3-data-x",
		},
	}
}

func TestTranslate_Defaults(t *testing.T) {
	cc, err := Translate(fixture())
	if err != nil {
		t.Fatal(err)
	}
	if cc.Config.Image != "nginx:1.27" || cc.Name != fixture().Name {
		t.Fatalf("image/name = %q/%q", cc.Config.Image, cc.Name)
	}
	if cc.HostConfig.CPUShares != 2 {
		t.Errorf("CpuShares = %d, want 2 for an absent cpu", cc.HostConfig.CPUShares)
	}
	if cc.HostConfig.NetworkMode != "bridge" {
		t.Errorf("NetworkMode = %q", cc.HostConfig.NetworkMode)
	}
	if cc.HostConfig.Memory != 0 || cc.Config.Healthcheck != nil || cc.Config.StopTimeout != nil {
		t.Errorf("unexpected limits: %+v", cc.HostConfig.Resources)
	}
	want := map[string]string{
		LabelTaskARN: testARN, LabelContainerName: "app", LabelCluster: "default",
		LabelTaskDefFamily: "web", LabelTaskDefVersion: "3", LabelManaged: "agent-1",
	}
	if !reflect.DeepEqual(cc.Config.Labels, want) {
		t.Errorf("labels = %v, want %v", cc.Config.Labels, want)
	}
}

func TestTranslate_Cases(t *testing.T) {
	tcp80 := network.MustParsePort("80/tcp")
	udp53 := network.MustParsePort("53/udp")
	cases := []struct {
		name    string
		mutate  func(*ContainerSpec)
		check   func(*testing.T, *CreateConfig)
		wantErr error
	}{
		{
			name: "cpu and memory",
			mutate: func(s *ContainerSpec) {
				s.Definition.Cpu, s.Definition.Memory, s.Definition.MemoryReservation = ptr[int32](256), ptr[int32](64), ptr[int32](32)
			},
			check: func(t *testing.T, cc *CreateConfig) {
				r := cc.HostConfig.Resources
				if r.CPUShares != 256 || r.Memory != 64<<20 || r.MemoryReservation != 32<<20 {
					t.Errorf("resources = %d/%d/%d", r.CPUShares, r.Memory, r.MemoryReservation)
				}
			},
		},
		{
			name:   "cpu 1 becomes 2, tiny memory floors at 6 MiB",
			mutate: func(s *ContainerSpec) { s.Definition.Cpu, s.Definition.Memory = ptr[int32](1), ptr[int32](2) },
			check: func(t *testing.T, cc *CreateConfig) {
				if cc.HostConfig.CPUShares != 2 || cc.HostConfig.Memory != 6<<20 {
					t.Errorf("cpu/memory = %d/%d", cc.HostConfig.CPUShares, cc.HostConfig.Memory)
				}
			},
		},
		{
			name: "overrides",
			mutate: func(s *ContainerSpec) {
				s.Definition.Command = []string{"a"}
				s.Definition.Environment = []ecsapi.KeyValuePair{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}}
				s.Definition.Memory = ptr[int32](128)
				s.Override = &ecsapi.ContainerOverride{Name: "app", Command: []string{"b", "c"},
					Environment: []ecsapi.KeyValuePair{{Name: "B", Value: "x"}, {Name: "C", Value: "3"}},
					Cpu:         ptr[int32](512), Memory: ptr[int32](256), MemoryReservation: ptr[int32](100)}
			},
			check: func(t *testing.T, cc *CreateConfig) {
				if !slices.Equal(cc.Config.Cmd, []string{"b", "c"}) {
					t.Errorf("cmd = %v", cc.Config.Cmd)
				}
				if !slices.Equal(cc.Config.Env, []string{"A=1", "B=x", "C=3"}) {
					t.Errorf("env = %v", cc.Config.Env)
				}
				r := cc.HostConfig.Resources
				if r.CPUShares != 512 || r.Memory != 256<<20 || r.MemoryReservation != 100<<20 {
					t.Errorf("resources = %+v", r)
				}
			},
		},
		{
			name: "injected env: the definition wins",
			mutate: func(s *ContainerSpec) {
				s.Definition.Environment = []ecsapi.KeyValuePair{{Name: "A", Value: "1"}}
				s.Env = map[string]string{"ECS_CONTAINER_METADATA_URI_V4": "http://x/v4/id", "A": "agent"}
			},
			check: func(t *testing.T, cc *CreateConfig) {
				if !slices.Equal(cc.Config.Env, []string{"A=1", "ECS_CONTAINER_METADATA_URI_V4=http://x/v4/id"}) {
					t.Errorf("env = %v", cc.Config.Env)
				}
			},
		},
		{
			name: "task-level cpu and memory",
			mutate: func(s *ContainerSpec) {
				s.Task.Definition = &ecsapi.TaskDefinition{Family: "web", Cpu: "512", Memory: "0.5GB"}
			},
			check: func(t *testing.T, cc *CreateConfig) {
				r := cc.HostConfig.Resources
				if r.Memory != 512<<20 || r.NanoCPUs != 500_000_000 {
					t.Errorf("memory/nanocpus = %d/%d", r.Memory, r.NanoCPUs)
				}
			},
		},
		{
			name: "task-level limits: container memory wins, cpu capped at the host",
			mutate: func(s *ContainerSpec) {
				s.Task.Definition = &ecsapi.TaskDefinition{Family: "web", Cpu: "4 vCPU", Memory: "1024"}
				s.Definition.Memory = ptr[int32](64)
				s.HostCPUs = 2
			},
			check: func(t *testing.T, cc *CreateConfig) {
				r := cc.HostConfig.Resources
				if r.Memory != 64<<20 || r.NanoCPUs != 2e9 {
					t.Errorf("memory/nanocpus = %d/%d", r.Memory, r.NanoCPUs)
				}
			},
		},
		{
			name: "ports in bridge mode",
			mutate: func(s *ContainerSpec) {
				s.Definition.PortMappings = []ecsapi.PortMapping{
					{ContainerPort: ptr[int32](80)},
					{ContainerPort: ptr[int32](53), HostPort: ptr[int32](5353), Protocol: "udp"},
				}
			},
			check: func(t *testing.T, cc *CreateConfig) {
				if _, ok := cc.Config.ExposedPorts[tcp80]; !ok {
					t.Errorf("80/tcp not exposed: %v", cc.Config.ExposedPorts)
				}
				if b := cc.HostConfig.PortBindings[tcp80]; len(b) != 1 || b[0].HostPort != "" {
					t.Errorf("80/tcp binding = %+v, want ephemeral", b)
				}
				if b := cc.HostConfig.PortBindings[udp53]; len(b) != 1 || b[0].HostPort != "5353" {
					t.Errorf("53/udp binding = %+v", b)
				}
			},
		},
		{
			name: "port range",
			mutate: func(s *ContainerSpec) {
				s.Definition.PortMappings = []ecsapi.PortMapping{{ContainerPortRange: "8000-8002"}}
			},
			check: func(t *testing.T, cc *CreateConfig) {
				if len(cc.HostConfig.PortBindings) != 3 {
					t.Errorf("bindings = %v", cc.HostConfig.PortBindings)
				}
			},
		},
		{
			name: "host mode exposes without bindings",
			mutate: func(s *ContainerSpec) {
				s.Task.Definition.NetworkMode = "host"
				s.Definition.PortMappings = []ecsapi.PortMapping{{ContainerPort: ptr[int32](80)}}
			},
			check: func(t *testing.T, cc *CreateConfig) {
				if cc.HostConfig.NetworkMode != "host" || cc.HostConfig.PortBindings != nil || len(cc.Config.ExposedPorts) != 1 {
					t.Errorf("host mode: %q %v %v", cc.HostConfig.NetworkMode, cc.HostConfig.PortBindings, cc.Config.ExposedPorts)
				}
			},
		},
		{
			name:   "none mode",
			mutate: func(s *ContainerSpec) { s.Task.Definition.NetworkMode = "none" },
			check: func(t *testing.T, cc *CreateConfig) {
				if cc.HostConfig.NetworkMode != "none" {
					t.Errorf("mode = %q", cc.HostConfig.NetworkMode)
				}
			},
		},
		{
			name:    "awsvpc refused",
			mutate:  func(s *ContainerSpec) { s.Task.Definition.NetworkMode = "awsvpc" },
			wantErr: ErrUnsupported,
		},
		{
			name:    "fargate only refused",
			mutate:  func(s *ContainerSpec) { s.Task.Definition.RequiresCompatibilities = []string{"FARGATE"} },
			wantErr: ErrUnsupported,
		},
		{
			name: "fargate and ec2 accepted",
			mutate: func(s *ContainerSpec) {
				s.Task.Definition.RequiresCompatibilities = []string{"FARGATE", "EC2"}
			},
		},
		{
			name:    "secrets refused",
			mutate:  func(s *ContainerSpec) { s.Definition.Secrets = []ecsapi.Secret{{Name: "X", ValueFrom: "arn"}} },
			wantErr: ErrUnsupported,
		},
		{
			name:    "bad dns",
			mutate:  func(s *ContainerSpec) { s.Definition.DnsServers = []string{"not-an-ip"} },
			wantErr: ErrInvalid,
		},
		{
			name: "links and volumesFrom",
			mutate: func(s *ContainerSpec) {
				s.Definition.Links = []string{"db:database", "data"}
				s.Definition.VolumesFrom = []ecsapi.VolumeFrom{{SourceContainer: "data", ReadOnly: ptr(true)}}
			},
			check: func(t *testing.T, cc *CreateConfig) {
				if !slices.Equal(cc.HostConfig.Links, []string{"berth-web-3-db-x:database", "berth-web-3-data-x:data"}) {
					t.Errorf("links = %v", cc.HostConfig.Links)
				}
				if !slices.Equal(cc.HostConfig.VolumesFrom, []string{"berth-web-3-data-x:ro"}) {
					t.Errorf("volumesFrom = %v", cc.HostConfig.VolumesFrom)
				}
			},
		},
		{
			name: "links outside bridge",
			mutate: func(s *ContainerSpec) {
				s.Task.Definition.NetworkMode = "host"
				s.Definition.Links = []string{"db"}
			},
			wantErr: ErrInvalid,
		},
		{
			name: "volumes",
			mutate: func(s *ContainerSpec) {
				s.Task.Definition.Volumes = []ecsapi.Volume{
					{Name: "hostdir", Host: &ecsapi.HostVolumeProperties{SourcePath: "/srv/data"}},
					{Name: "shared", DockerVolumeConfiguration: &ecsapi.DockerVolumeConfiguration{Scope: "shared", Autoprovision: ptr(true), Driver: "local", Labels: map[string]string{"a": "b"}}},
					{Name: "scratch", DockerVolumeConfiguration: &ecsapi.DockerVolumeConfiguration{Scope: "task", DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs"}}},
					{Name: "empty"},
				}
				s.Definition.MountPoints = []ecsapi.MountPoint{
					{SourceVolume: "hostdir", ContainerPath: "/data", ReadOnly: ptr(true)},
					{SourceVolume: "shared", ContainerPath: "/shared"},
					{SourceVolume: "scratch", ContainerPath: "/scratch"},
					{SourceVolume: "empty", ContainerPath: "/empty"},
				}
			},
			check: func(t *testing.T, cc *CreateConfig) {
				scratch := TaskVolumeName(testARN, "scratch")
				empty := TaskVolumeName(testARN, "empty")
				want := []string{"/srv/data:/data:ro", "shared:/shared", scratch + ":/scratch", empty + ":/empty"}
				if !slices.Equal(cc.HostConfig.Binds, want) {
					t.Errorf("binds = %v, want %v", cc.HostConfig.Binds, want)
				}
				if len(cc.Volumes) != 3 || cc.Volumes[0].Name != "shared" || !cc.Volumes[0].Create || cc.Volumes[0].TaskScoped {
					t.Fatalf("volumes = %+v", cc.Volumes)
				}
				v := cc.Volumes[1]
				if v.Name != scratch || !v.TaskScoped || v.DriverOpts["type"] != "tmpfs" || v.Labels[LabelTaskARN] != testARN || v.Labels[LabelManaged] != "agent-1" {
					t.Errorf("task volume = %+v", v)
				}
			},
		},
		{
			name: "unknown volume",
			mutate: func(s *ContainerSpec) {
				s.Definition.MountPoints = []ecsapi.MountPoint{{SourceVolume: "nope", ContainerPath: "/x"}}
			},
			wantErr: ErrInvalid,
		},
		{
			name: "efs refused",
			mutate: func(s *ContainerSpec) {
				s.Task.Definition.Volumes = []ecsapi.Volume{{Name: "efs", EfsVolumeConfiguration: &ecsapi.EFSVolumeConfiguration{}}}
			},
			wantErr: ErrUnsupported,
		},
		{
			name: "health check defaults and CMD form",
			mutate: func(s *ContainerSpec) {
				s.Definition.HealthCheck = &ecsapi.HealthCheck{Command: []string{"/bin/check", "-q"}}
			},
			check: func(t *testing.T, cc *CreateConfig) {
				want := &container.HealthConfig{Test: []string{"CMD", "/bin/check", "-q"},
					Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3}
				if !reflect.DeepEqual(cc.Config.Healthcheck, want) {
					t.Errorf("health = %+v", cc.Config.Healthcheck)
				}
			},
		},
		{
			name: "health check given values",
			mutate: func(s *ContainerSpec) {
				s.Definition.HealthCheck = &ecsapi.HealthCheck{Command: []string{"CMD-SHELL", "true"},
					Interval: ptr[int32](1), Timeout: ptr[int32](2), Retries: ptr[int32](1), StartPeriod: ptr[int32](4)}
			},
			check: func(t *testing.T, cc *CreateConfig) {
				want := &container.HealthConfig{Test: []string{"CMD-SHELL", "true"},
					Interval: time.Second, Timeout: 2 * time.Second, Retries: 1, StartPeriod: 4 * time.Second}
				if !reflect.DeepEqual(cc.Config.Healthcheck, want) {
					t.Errorf("health = %+v", cc.Config.Healthcheck)
				}
			},
		},
		{
			name: "misc fields",
			mutate: func(s *ContainerSpec) {
				d := &s.Definition
				d.EntryPoint, d.Hostname, d.User, d.WorkingDirectory = []string{"/bin/sh", "-c"}, "h1", "nobody", "/tmp"
				d.DisableNetworking, d.Privileged, d.ReadonlyRootFilesystem = ptr(true), ptr(true), ptr(true)
				d.DnsServers, d.DnsSearchDomains = []string{"10.0.0.2"}, []string{"corp.local"}
				d.ExtraHosts = []ecsapi.HostEntry{{Hostname: "db", IpAddress: "10.0.0.9"}}
				d.DockerSecurityOptions = []string{"no-new-privileges"}
				d.DockerLabels = map[string]string{"team": "a", LabelTaskARN: "spoofed"}
				d.Ulimits = []ecsapi.Ulimit{{Name: "nofile", SoftLimit: ptr[int32](1024), HardLimit: ptr[int32](2048)}}
				d.StopTimeout = ptr[int32](7)
				d.LogConfiguration = &ecsapi.LogConfiguration{LogDriver: "json-file", Options: map[string]string{"max-size": "1m"}}
				d.LinuxParameters = &ecsapi.LinuxParameters{
					Capabilities:       &ecsapi.KernelCapabilities{Add: []string{"NET_ADMIN"}, Drop: []string{"MKNOD"}},
					InitProcessEnabled: ptr(true),
					Devices:            []ecsapi.Device{{HostPath: "/dev/fuse", Permissions: []string{"read", "write"}}},
					SharedMemorySize:   ptr[int32](128),
					Tmpfs:              []ecsapi.Tmpfs{{ContainerPath: "/run", Size: ptr[int32](64), MountOptions: []string{"noexec"}}},
				}
			},
			check: func(t *testing.T, cc *CreateConfig) {
				c, h := cc.Config, cc.HostConfig
				if !slices.Equal(c.Entrypoint, []string{"/bin/sh", "-c"}) || c.Hostname != "h1" || c.User != "nobody" || c.WorkingDir != "/tmp" {
					t.Errorf("config = %+v", c)
				}
				if !c.NetworkDisabled || !h.Privileged || !h.ReadonlyRootfs {
					t.Errorf("flags: %v %v %v", c.NetworkDisabled, h.Privileged, h.ReadonlyRootfs)
				}
				if !slices.Equal(h.DNS, []netip.Addr{netip.MustParseAddr("10.0.0.2")}) || !slices.Equal(h.DNSSearch, []string{"corp.local"}) {
					t.Errorf("dns = %v %v", h.DNS, h.DNSSearch)
				}
				if !slices.Equal(h.ExtraHosts, []string{"db:10.0.0.9"}) || !slices.Equal(h.SecurityOpt, []string{"no-new-privileges"}) {
					t.Errorf("hosts/secopt = %v %v", h.ExtraHosts, h.SecurityOpt)
				}
				if c.Labels["team"] != "a" || c.Labels[LabelTaskARN] != testARN {
					t.Errorf("labels = %v", c.Labels)
				}
				if len(h.Ulimits) != 1 || *h.Ulimits[0] != (container.Ulimit{Name: "nofile", Soft: 1024, Hard: 2048}) {
					t.Errorf("ulimits = %v", h.Ulimits)
				}
				if c.StopTimeout == nil || *c.StopTimeout != 7 {
					t.Errorf("stop timeout = %v", c.StopTimeout)
				}
				if h.LogConfig.Type != "json-file" || h.LogConfig.Config["max-size"] != "1m" {
					t.Errorf("log = %+v", h.LogConfig)
				}
				if !slices.Equal(h.CapAdd, []string{"NET_ADMIN"}) || !slices.Equal(h.CapDrop, []string{"MKNOD"}) || h.Init == nil || !*h.Init {
					t.Errorf("caps/init = %v %v %v", h.CapAdd, h.CapDrop, h.Init)
				}
				if len(h.Devices) != 1 || h.Devices[0] != (container.DeviceMapping{PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rw"}) {
					t.Errorf("devices = %v", h.Devices)
				}
				if h.ShmSize != 128<<20 || h.Tmpfs["/run"] != "size=64m,noexec" {
					t.Errorf("shm/tmpfs = %d %v", h.ShmSize, h.Tmpfs)
				}
			},
		},
		{
			name: "awsvpc joins the pause container's namespace",
			mutate: func(s *ContainerSpec) {
				awsvpc(s)
				s.Definition.PortMappings = []ecsapi.PortMapping{{ContainerPort: ptr[int32](80), HostPort: ptr[int32](80)}}
			},
			check: func(t *testing.T, cc *CreateConfig) {
				if cc.HostConfig.NetworkMode != "container:berth-web-3-pause-x" || len(cc.Config.ExposedPorts) != 0 || len(cc.HostConfig.PortBindings) != 0 {
					t.Errorf("network mode %q, exposed %v, bindings %v", cc.HostConfig.NetworkMode, cc.Config.ExposedPorts, cc.HostConfig.PortBindings)
				}
			},
		},
		{
			name: "awsvpc pause container on the agent's network",
			mutate: func(s *ContainerSpec) {
				awsvpc(s)
				s.Definition = ecsapi.ContainerDefinition{Name: PauseContainerName, Image: DefaultPauseImage}
			},
			check: func(t *testing.T, cc *CreateConfig) {
				if cc.HostConfig.NetworkMode != "berth-awsvpc-agent-1" || cc.Config.Labels[LabelContainerName] != PauseContainerName {
					t.Errorf("network mode %q, labels %v", cc.HostConfig.NetworkMode, cc.Config.Labels)
				}
			},
		},
		{
			name: "awsvpc FARGATE-only definition runs",
			mutate: func(s *ContainerSpec) {
				awsvpc(s)
				s.Task.Definition.RequiresCompatibilities = []string{"FARGATE"}
			},
		},
		{
			name: "awsvpc hostPort differs from containerPort",
			mutate: func(s *ContainerSpec) {
				awsvpc(s)
				s.Definition.PortMappings = []ecsapi.PortMapping{{ContainerPort: ptr[int32](80), HostPort: ptr[int32](8080)}}
			},
			wantErr: ErrInvalid,
		},
		{
			name:    "awsvpc hostname",
			mutate:  func(s *ContainerSpec) { awsvpc(s); s.Definition.Hostname = "web" },
			wantErr: ErrInvalid,
		},
		{
			name:    "awsvpc dnsServers",
			mutate:  func(s *ContainerSpec) { awsvpc(s); s.Definition.DnsServers = []string{"10.0.0.2"} },
			wantErr: ErrInvalid,
		},
		{
			name: "awsvpc extraHosts",
			mutate: func(s *ContainerSpec) {
				awsvpc(s)
				s.Definition.ExtraHosts = []ecsapi.HostEntry{{Hostname: "a", IpAddress: "10.0.0.1"}}
			},
			wantErr: ErrInvalid,
		},
		{
			name:    "awsvpc without the pause container",
			mutate:  func(s *ContainerSpec) { awsvpc(s); delete(s.DockerNames, PauseContainerName) },
			wantErr: ErrInvalid,
		},
		{
			name:    "FARGATE-only refused without awsvpc",
			mutate:  func(s *ContainerSpec) { s.Task.Definition.RequiresCompatibilities = []string{"FARGATE"} },
			wantErr: ErrUnsupported,
		},
		{
			name: "maxSwap 0 disables swap",
			mutate: func(s *ContainerSpec) {
				s.Definition.Memory = ptr[int32](16)
				s.Definition.LinuxParameters = &ecsapi.LinuxParameters{MaxSwap: ptr[int32](0)}
			},
			check: func(t *testing.T, cc *CreateConfig) {
				if cc.HostConfig.MemorySwap != 16<<20 {
					t.Errorf("MemorySwap = %d", cc.HostConfig.MemorySwap)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := fixture()
			td := *spec.Task.Definition
			spec.Task.Definition = &td
			tc.mutate(&spec)
			cc, err := Translate(spec)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, cc)
			}
		})
	}
}

func TestECRAuth(t *testing.T) {
	a, err := ECRAuth("QVdTOnNlY3JldA==", "https://123.dkr.ecr.us-east-1.amazonaws.com")
	if err != nil {
		t.Fatal(err)
	}
	if a.Username != "AWS" || a.Password != "secret" {
		t.Fatalf("auth = %+v", a)
	}
	if s := a.String(); strings.Contains(s, "secret") {
		t.Fatalf("String leaks: %s", s)
	}
	if _, err := ECRAuth("!!", ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad token: %v", err)
	}
}

func TestTaskID(t *testing.T) {
	if got := TaskID(testARN); got != "0123456789abcdef0123456789abcdef" {
		t.Errorf("TaskID = %q", got)
	}
	if got := TaskID("no-slash"); len(got) != 16 {
		t.Errorf("TaskID(no-slash) = %q", got)
	}
}

func TestRepoDigest(t *testing.T) {
	d := "sha256:" + "ab12"
	if got := RepoDigestFor("nginx:1.27", []string{"nginx@" + d}); got != d {
		t.Errorf("got %q", got)
	}
	if got := RepoDigestFor("docker.io/library/nginx", []string{"nginx@" + d}); got != d {
		t.Errorf("normalised: got %q", got)
	}
	if got := RepoDigestFor("other:1", []string{"nginx@" + d}); got != "" {
		t.Errorf("other repo: got %q", got)
	}
}

func TestHasRepoDigest(t *testing.T) {
	d1, d2 := "sha256:"+strings.Repeat("1", 64), "sha256:"+strings.Repeat("2", 64)
	local := []string{"127.0.0.1:5000/app@" + d2, "127.0.0.1:5000/app@" + d1, "nginx@" + d2}
	for _, tc := range []struct {
		ref, digest string
		want        bool
	}{
		{"127.0.0.1:5000/app:v1", d1, true},
		{"127.0.0.1:5000/app", d2, true},       // any of the repository's digests
		{"127.0.0.1:5000/other:v1", d1, false}, // another repository
		{"localhost:5000/app:v1", d1, false},   // another registry host
		{"nginx:1.27", d2, true},               // normalised docker.io/library/nginx
		{"nginx:1.27", d1, false},
		{"127.0.0.1:5000/app:v1", "", false},
	} {
		if got := HasRepoDigest(tc.ref, local, tc.digest); got != tc.want {
			t.Errorf("HasRepoDigest(%s, %s) = %v, want %v", tc.ref, tc.digest, got, tc.want)
		}
	}
}

func TestParsePullBehavior(t *testing.T) {
	for in, want := range map[string]PullBehavior{"": PullDefault, "ALWAYS": PullAlways, "once": PullOnce, "prefer-cached": PullPreferCached} {
		if got, err := ParsePullBehavior(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParsePullBehavior("sometimes"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad: %v", err)
	}
}

func TestTaskLimitParsing(t *testing.T) {
	for in, want := range map[string]int64{"256": 256, "1 vCPU": 1024, "0.5vcpu": 512, "2 VCPU": 2048, "": -1, "x": -1, "-1": -1} {
		got, ok := TaskCPUUnits(in)
		if (want < 0 && ok) || (want >= 0 && (!ok || got != want)) {
			t.Errorf("TaskCPUUnits(%q) = %d, %v", in, got, ok)
		}
	}
	for in, want := range map[string]int64{"512": 512, "1GB": 1024, "0.5 gb": 512, "2 GB": 2048, "": -1, "lots": -1} {
		got, ok := TaskMemoryMiB(in)
		if (want < 0 && ok) || (want >= 0 && (!ok || got != want)) {
			t.Errorf("TaskMemoryMiB(%q) = %d, %v", in, got, ok)
		}
	}
}

func TestApplyTaskOverride(t *testing.T) {
	def := ecsapi.TaskDefinition{Family: "web", Cpu: "512", Memory: "1GB"}
	if got := ApplyTaskOverride(def, nil); !reflect.DeepEqual(got, def) {
		t.Errorf("nil override changed %+v", got)
	}
	if got := ApplyTaskOverride(def, &ecsapi.TaskOverride{TaskRoleArn: "x"}); got.Cpu != "512" || got.Memory != "1GB" {
		t.Errorf("empty cpu/memory override: %+v", got)
	}
	got := ApplyTaskOverride(def, &ecsapi.TaskOverride{Cpu: "1 vCPU", Memory: "256"})
	if got.Cpu != "1 vCPU" || got.Memory != "256" || def.Cpu != "512" {
		t.Errorf("override: %+v (input now %+v)", got, def)
	}
	// The task's memory becomes the hard limit of a container without one;
	// its cpu a NanoCpus ceiling.
	spec := fixture()
	spec.HostCPUs = 4
	spec.Task.Definition = &got
	cc, err := Translate(spec)
	if err != nil {
		t.Fatal(err)
	}
	if hc := cc.HostConfig; hc.Memory != 256*mib || hc.NanoCPUs != 1e9 {
		t.Errorf("Memory %d NanoCpus %d", hc.Memory, hc.NanoCPUs)
	}
}

// The ECS tutorial's sleep360 (no cpu or memory at either level) runs with
// no memory limit and no CPU ceiling.
func TestTranslate_NoMemoryAnywhere(t *testing.T) {
	spec := fixture()
	spec.Definition = ecsapi.ContainerDefinition{Name: "sleep", Image: "busybox", Command: []string{"sleep", "360"}, Essential: ptr(true)}
	cc, err := Translate(spec)
	if err != nil {
		t.Fatal(err)
	}
	if r := cc.HostConfig.Resources; r.Memory != 0 || r.MemoryReservation != 0 || r.NanoCPUs != 0 || r.CPUShares != 2 {
		t.Errorf("resources %+v", r)
	}
}

// awsvpc makes the spec an awsvpc task's on an agent that offers it.
func awsvpc(s *ContainerSpec) {
	s.Task.Definition.NetworkMode = "awsvpc"
	s.Task.AWSVPCNetwork = AWSVPCNetworkName(s.Owner)
	s.DockerNames[PauseContainerName] = "berth-web-3-pause-x"
}

func TestPauseExecutable(t *testing.T) {
	for _, arch := range []string{"x86_64", "aarch64"} {
		exe, err := pauseExecutable(arch)
		if err != nil {
			t.Fatal(err)
		}
		f, err := elf.NewFile(bytes.NewReader(exe))
		if err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		if f.Type != elf.ET_EXEC || len(f.Progs) != 1 || f.Progs[0].Type != elf.PT_LOAD || f.Entry != f.Progs[0].Vaddr+120 {
			t.Errorf("%s: type %v progs %d entry %#x", arch, f.Type, len(f.Progs), f.Entry)
		}
	}
	if _, err := pauseExecutable("mips"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("mips: %v", err)
	}
}
