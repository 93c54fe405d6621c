package docker

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/events/ecsapi"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// TaskInfo is the task-level context a container is created in.
type TaskInfo struct {
	ARN        string
	Cluster    string
	Family     string
	Revision   int32
	Definition *ecsapi.TaskDefinition // network mode, volumes, pid and ipc modes
	// AWSVPCNetwork is the Docker network of awsvpc tasks' pause containers;
	// empty when the agent does not offer awsvpc.
	AWSVPCNetwork string
}

// ContainerSpec is one container of a task, as ECS describes it.
type ContainerSpec struct {
	Name       string // Docker container name
	Owner      string // LabelManaged value; DefaultOwner when empty
	Task       TaskInfo
	Definition ecsapi.ContainerDefinition
	Override   *ecsapi.ContainerOverride
	// DockerNames maps the ECS container names of the task to their Docker
	// names, for links and volumesFrom.
	DockerNames map[string]string
	// Env is environment the agent injects (ECS_CONTAINER_METADATA_URI_V4,
	// ...). A variable the definition or its override sets wins.
	Env map[string]string
	// HostCPUs caps the task-level CPU ceiling at the host's CPU count
	// (Docker refuses more); 0 means no cap.
	HostCPUs int
}

// CreateConfig is the Docker form of a ContainerSpec.
type CreateConfig struct {
	Name       string
	Config     *container.Config
	HostConfig *container.HostConfig
	// Volumes are the Docker named volumes the container mounts; they are
	// created (or checked) before the container.
	Volumes []VolumeSpec
}

// VolumeSpec is a Docker named volume needed by a container.
type VolumeSpec struct {
	Name       string
	Driver     string
	DriverOpts map[string]string
	Labels     map[string]string
	// Create is true for task-scoped volumes and shared volumes with
	// autoprovision; otherwise the volume must already exist.
	Create bool
	// TaskScoped volumes are removed with the task (RemoveTaskVolumes).
	TaskScoped bool
}

// ValidateTaskDefinition refuses what the agent cannot run: awsvpc network
// mode and FARGATE-only definitions unless awsvpc is on (the agent has an
// awsvpc network), pidMode/ipcMode "task", unknown network modes and
// non-Docker volume types.
func ValidateTaskDefinition(def *ecsapi.TaskDefinition, awsvpc bool) error {
	if def == nil {
		return fmt.Errorf("task definition is missing: %w", ErrInvalid)
	}
	if _, err := networkMode(def, awsvpc); err != nil {
		return err
	}
	if fargateOnly(def.RequiresCompatibilities) && !awsvpc {
		return fmt.Errorf("FARGATE-only task definition: %w (add EC2 or EXTERNAL to requiresCompatibilities, or start the agent with an awsvpc subnet)", ErrUnsupported)
	}
	if def.PidMode == namespaceModeTask || def.IpcMode == namespaceModeTask {
		return fmt.Errorf("pidMode/ipcMode %q: %w (use host, or leave it unset)", namespaceModeTask, ErrUnsupported)
	}
	for _, v := range def.Volumes {
		switch {
		case v.EfsVolumeConfiguration != nil, v.FsxWindowsFileServerVolumeConfiguration != nil, v.S3filesVolumeConfiguration != nil:
			return fmt.Errorf("volume %q: EFS, FSx and S3 volumes: %w (use host or dockerVolumeConfiguration)", v.Name, ErrUnsupported)
		case v.Name == "":
			return fmt.Errorf("volume without a name: %w", ErrInvalid)
		}
	}
	return nil
}

func fargateOnly(compat []string) bool {
	if len(compat) == 0 {
		return false
	}
	for _, c := range compat {
		if !strings.EqualFold(c, compatibilityFargate) {
			return false
		}
	}
	return true
}

// IsAWSVPC reports whether the task definition asks for awsvpc networking.
func IsAWSVPC(def *ecsapi.TaskDefinition) bool {
	return def != nil && strings.EqualFold(def.NetworkMode, networkModeAWSVPC)
}

func networkMode(def *ecsapi.TaskDefinition, awsvpc bool) (string, error) {
	switch m := strings.ToLower(def.NetworkMode); m {
	case "", networkModeBridge:
		return networkModeBridge, nil
	case networkModeHost, networkModeNone:
		return m, nil
	case networkModeAWSVPC:
		if awsvpc {
			return m, nil
		}
		return "", fmt.Errorf("network mode awsvpc: %w on this agent (start it with an awsvpc subnet, or use bridge, host or none)", ErrUnsupported)
	default:
		return "", fmt.Errorf("network mode %q: %w", def.NetworkMode, ErrInvalid)
	}
}

// ApplyOverride returns def with a RunTask container override applied:
// command, environment (merged by name), cpu, memory and memoryReservation.
func ApplyOverride(def ecsapi.ContainerDefinition, o *ecsapi.ContainerOverride) ecsapi.ContainerDefinition {
	if o == nil {
		return def
	}
	if o.Command != nil {
		def.Command = slices.Clone(o.Command)
	}
	if len(o.Environment) > 0 {
		env := slices.Clone(def.Environment)
		for _, kv := range o.Environment {
			i := slices.IndexFunc(env, func(e ecsapi.KeyValuePair) bool { return e.Name == kv.Name })
			if i >= 0 {
				env[i] = kv
			} else {
				env = append(env, kv)
			}
		}
		def.Environment = env
	}
	if o.Cpu != nil {
		def.Cpu = o.Cpu
	}
	if o.Memory != nil {
		def.Memory = o.Memory
	}
	if o.MemoryReservation != nil {
		def.MemoryReservation = o.MemoryReservation
	}
	return def
}

// ApplyTaskOverride returns def with a RunTask override's task-level cpu
// and memory applied (overrides.cpu, overrides.memory). Container
// overrides are applied per container by ApplyOverride.
func ApplyTaskOverride(def ecsapi.TaskDefinition, o *ecsapi.TaskOverride) ecsapi.TaskDefinition {
	if o == nil {
		return def
	}
	if o.Cpu != "" {
		def.Cpu = o.Cpu
	}
	if o.Memory != "" {
		def.Memory = o.Memory
	}
	return def
}

// CPUShares is the Docker CpuShares for an ECS cpu value: ECS maps 0 (and
// an absent value) and 1 to Linux's minimum of 2, since Docker would turn 0
// into 1024.
func CPUShares(cpu *int32) int64 {
	if cpu == nil || *cpu < minimumCPUShares {
		return minimumCPUShares
	}
	return int64(*cpu)
}

// Labels returns the labels that identify the container's task. They are
// applied after dockerLabels, so users cannot override them.
func Labels(spec ContainerSpec) map[string]string {
	owner := spec.Owner
	if owner == "" {
		owner = DefaultOwner
	}
	return map[string]string{
		LabelTaskARN:        spec.Task.ARN,
		LabelContainerName:  spec.Definition.Name,
		LabelCluster:        spec.Task.Cluster,
		LabelTaskDefFamily:  spec.Task.Family,
		LabelTaskDefVersion: strconv.Itoa(int(spec.Task.Revision)),
		LabelManaged:        owner,
	}
}

// Translate turns an ECS container definition (with its override) into the
// Docker create configuration. It does no I/O.
func Translate(spec ContainerSpec) (*CreateConfig, error) {
	td := spec.Task.Definition
	if td == nil {
		td = &ecsapi.TaskDefinition{}
	}
	awsvpc := spec.Task.AWSVPCNetwork != ""
	if err := ValidateTaskDefinition(td, awsvpc); err != nil {
		return nil, err
	}
	mode, _ := networkMode(td, awsvpc)
	def := ApplyOverride(spec.Definition, spec.Override)
	if def.Name == "" {
		return nil, fmt.Errorf("container without a name: %w", ErrInvalid)
	}
	if def.Image == "" {
		return nil, fmt.Errorf("container %q: image is required: %w", def.Name, ErrInvalid)
	}
	if err := refuseUnsupported(def); err != nil {
		return nil, fmt.Errorf("container %q: %w", def.Name, err)
	}
	cfg := containerConfig(spec, def)
	hc, err := hostConfig(spec, td, def, mode)
	if err != nil {
		return nil, fmt.Errorf("container %q: %w", def.Name, err)
	}
	if lc := def.LogConfiguration; lc != nil && lc.LogDriver != "" {
		if hc.LogConfig, err = logConfig(lc, cfg.Labels); err != nil {
			return nil, fmt.Errorf("container %q: %w", def.Name, err)
		}
	}
	if err := ports(def, mode, cfg, hc); err != nil {
		return nil, fmt.Errorf("container %q: %w", def.Name, err)
	}
	if mode == networkModeAWSVPC {
		// Docker refuses exposed ports in a shared namespace; the task's
		// address is reached directly, on the container ports.
		cfg.ExposedPorts = nil
	}
	if err := links(def, mode, spec.DockerNames, hc); err != nil {
		return nil, fmt.Errorf("container %q: %w", def.Name, err)
	}
	vols, err := mounts(spec, def, td, hc)
	if err != nil {
		return nil, fmt.Errorf("container %q: %w", def.Name, err)
	}
	return &CreateConfig{Name: spec.Name, Config: cfg, HostConfig: hc, Volumes: vols}, nil
}

// containerConfig is the Docker container configuration of def (override
// applied): command, labels, environment, stop timeout, health check.
func containerConfig(spec ContainerSpec, def ecsapi.ContainerDefinition) *container.Config {
	cfg := &container.Config{
		Image:           def.Image,
		Cmd:             def.Command,
		Entrypoint:      def.EntryPoint,
		Hostname:        def.Hostname,
		User:            def.User,
		WorkingDir:      def.WorkingDirectory,
		NetworkDisabled: deref(def.DisableNetworking),
		OpenStdin:       deref(def.Interactive),
		Tty:             deref(def.PseudoTerminal),
		Labels:          maps.Clone(def.DockerLabels),
	}
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	maps.Copy(cfg.Labels, Labels(ContainerSpec{Owner: spec.Owner, Task: spec.Task, Definition: def}))
	for _, kv := range def.Environment {
		cfg.Env = append(cfg.Env, kv.Name+"="+kv.Value)
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		if !slices.ContainsFunc(def.Environment, func(e ecsapi.KeyValuePair) bool { return e.Name == k }) {
			cfg.Env = append(cfg.Env, k+"="+spec.Env[k])
		}
	}
	if def.StopTimeout != nil {
		secs := int(*def.StopTimeout)
		cfg.StopTimeout = &secs
	}
	if hc := def.HealthCheck; hc != nil {
		cfg.Healthcheck = healthConfig(hc)
	}
	return cfg
}

// hostConfig is the Docker host configuration of def (override applied)
// in task definition td with network mode mode, before ports, links and
// mounts.
func hostConfig(spec ContainerSpec, td *ecsapi.TaskDefinition, def ecsapi.ContainerDefinition, mode string) (*container.HostConfig, error) {
	hc := &container.HostConfig{
		NetworkMode:    container.NetworkMode(mode),
		Privileged:     deref(def.Privileged),
		ReadonlyRootfs: deref(def.ReadonlyRootFilesystem),
		DNSSearch:      def.DnsSearchDomains,
		SecurityOpt:    def.DockerSecurityOptions,
		RestartPolicy:  container.RestartPolicy{Name: container.RestartPolicyDisabled},
		PidMode:        container.PidMode(td.PidMode),
		IpcMode:        container.IpcMode(td.IpcMode),
	}
	hc.CPUShares = CPUShares(def.Cpu)
	if def.Memory != nil && *def.Memory > 0 {
		hc.Memory = max(int64(*def.Memory)*mib, minimumMemoryBytes)
	}
	if def.MemoryReservation != nil && *def.MemoryReservation > 0 {
		hc.MemoryReservation = max(int64(*def.MemoryReservation)*mib, minimumMemoryBytes)
	}
	taskLimits(td, spec.HostCPUs, hc)
	for _, s := range def.DnsServers {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("dnsServers %q: %w", s, ErrInvalid)
		}
		hc.DNS = append(hc.DNS, a)
	}
	for _, h := range def.ExtraHosts {
		if h.Hostname == "" || h.IpAddress == "" {
			return nil, fmt.Errorf("extraHosts needs hostname and ipAddress: %w", ErrInvalid)
		}
		hc.ExtraHosts = append(hc.ExtraHosts, h.Hostname+":"+h.IpAddress)
	}
	for _, u := range def.Ulimits {
		hc.Ulimits = append(hc.Ulimits, &container.Ulimit{Name: u.Name, Soft: int64(deref(u.SoftLimit)), Hard: int64(deref(u.HardLimit))})
	}
	if len(def.SystemControls) > 0 {
		hc.Sysctls = map[string]string{}
		for _, sc := range def.SystemControls {
			hc.Sysctls[sc.Namespace] = sc.Value
		}
	}
	if mode == networkModeAWSVPC {
		if err := awsvpcNetwork(spec, def, hc); err != nil {
			return nil, err
		}
	}
	if err := linuxParameters(def, hc); err != nil {
		return nil, err
	}
	return hc, nil
}

// taskLimits applies the task-level cpu and memory of an EC2-style task
// definition. amazon-ecs-agent puts the task in a cgroup with those limits;
// Berth approximates it per container: a container without its own hard
// memory limit gets the task's memory as its limit, and every container gets
// the task's cpu as a CPU ceiling (NanoCpus, capped at the host's CPUs). So
// no container exceeds the task's limits, though together they may.
func taskLimits(td *ecsapi.TaskDefinition, hostCPUs int, hc *container.HostConfig) {
	if mem, ok := TaskMemoryMiB(td.Memory); ok && hc.Memory == 0 {
		if b := max(mem*mib, minimumMemoryBytes); b > hc.MemoryReservation {
			hc.Memory = b
		}
	}
	if units, ok := TaskCPUUnits(td.Cpu); ok {
		nano := units * 1e9 / 1024
		if hostCPUs > 0 {
			nano = min(nano, int64(hostCPUs)*1e9)
		}
		hc.NanoCPUs = max(nano, 1e7) // Docker's minimum: 0.01 CPU
	}
}

// TaskCPUUnits parses a task-level cpu: CPU units ("256") or vCPUs
// ("1 vCPU", "0.5vcpu").
func TaskCPUUnits(s string) (int64, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return 0, false
	}
	if v, ok := strings.CutSuffix(s, "vcpu"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f <= 0 {
			return 0, false
		}
		return int64(f * 1024), true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

// TaskMemoryMiB parses a task-level memory: MiB ("512") or GB ("1GB",
// "0.5 gb").
func TaskMemoryMiB(s string) (int64, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return 0, false
	}
	if v, ok := strings.CutSuffix(s, "gb"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f <= 0 {
			return 0, false
		}
		return int64(f * 1024), true
	}
	n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(s, "mib")), 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

// awsvpcNetwork puts the pause container on the agent's awsvpc network and
// every other container of the task in the pause container's network
// namespace. What ECS refuses in awsvpc mode (and Docker refuses in a
// shared namespace) is refused: hostname, DNS settings, extra hosts, a
// hostPort other than the containerPort.
func awsvpcNetwork(spec ContainerSpec, def ecsapi.ContainerDefinition, hc *container.HostConfig) error {
	if def.Name == PauseContainerName {
		hc.NetworkMode = container.NetworkMode(spec.Task.AWSVPCNetwork)
		return nil
	}
	switch {
	case def.Hostname != "":
		return fmt.Errorf("hostname is not supported in network mode awsvpc: %w", ErrInvalid)
	case len(def.DnsServers) > 0, len(def.DnsSearchDomains) > 0:
		return fmt.Errorf("dnsServers and dnsSearchDomains are not supported in network mode awsvpc: %w", ErrInvalid)
	case len(def.ExtraHosts) > 0:
		return fmt.Errorf("extraHosts is not supported in network mode awsvpc: %w", ErrInvalid)
	}
	for _, pm := range def.PortMappings {
		if pm.HostPort != nil && *pm.HostPort != 0 && (pm.ContainerPort == nil || *pm.HostPort != *pm.ContainerPort) {
			return fmt.Errorf("in network mode awsvpc a hostPort must equal its containerPort: %w", ErrInvalid)
		}
	}
	pause := spec.DockerNames[PauseContainerName]
	if pause == "" {
		return fmt.Errorf("awsvpc task without its pause container: %w", ErrInvalid)
	}
	hc.NetworkMode = container.NetworkMode("container:" + pause)
	return nil
}

func refuseUnsupported(def ecsapi.ContainerDefinition) error {
	switch {
	case len(def.Secrets) > 0:
		return fmt.Errorf("secrets: %w", ErrUnsupported)
	case len(def.EnvironmentFiles) > 0:
		return fmt.Errorf("environmentFiles: %w", ErrUnsupported)
	case def.FirelensConfiguration != nil:
		return fmt.Errorf("firelensConfiguration: %w", ErrUnsupported)
	case def.LogConfiguration != nil && len(def.LogConfiguration.SecretOptions) > 0:
		return fmt.Errorf("logConfiguration.secretOptions: %w", ErrUnsupported)
	}
	for _, r := range def.ResourceRequirements {
		return fmt.Errorf("resourceRequirements (%s): %w", r.Type, ErrUnsupported)
	}
	return nil
}

// healthConfig applies the AWS defaults: interval 30 s, timeout 5 s, 3
// retries, no start period. A command that does not start with CMD,
// CMD-SHELL or NONE is taken as the CMD form.
func healthConfig(h *ecsapi.HealthCheck) *container.HealthConfig {
	test := slices.Clone(h.Command)
	if len(test) > 0 {
		switch test[0] {
		case "CMD", "CMD-SHELL", "NONE":
		default:
			test = append([]string{"CMD"}, test...)
		}
	}
	secs := func(p *int32, def int32) time.Duration {
		if p == nil || *p <= 0 {
			return time.Duration(def) * time.Second
		}
		return time.Duration(*p) * time.Second
	}
	retries := defaultHealthRetries
	if h.Retries != nil && *h.Retries > 0 {
		retries = int(*h.Retries)
	}
	return &container.HealthConfig{
		Test:        test,
		Interval:    secs(h.Interval, defaultHealthInterval),
		Timeout:     secs(h.Timeout, defaultHealthTimeout),
		StartPeriod: secs(h.StartPeriod, 0),
		Retries:     retries,
	}
}

func linuxParameters(def ecsapi.ContainerDefinition, hc *container.HostConfig) error {
	lp := def.LinuxParameters
	if lp == nil {
		return nil
	}
	if c := lp.Capabilities; c != nil {
		hc.CapAdd = c.Add
		hc.CapDrop = c.Drop
	}
	if lp.InitProcessEnabled != nil && *lp.InitProcessEnabled {
		hc.Init = lp.InitProcessEnabled
	}
	for _, d := range lp.Devices {
		if d.HostPath == "" {
			return fmt.Errorf("device without hostPath: %w", ErrInvalid)
		}
		perms := ""
		for _, p := range d.Permissions {
			switch strings.ToLower(p) {
			case "read":
				perms += "r"
			case "write":
				perms += "w"
			case "mknod":
				perms += "m"
			default:
				return fmt.Errorf("device %s: permission %q: %w", d.HostPath, p, ErrInvalid)
			}
		}
		if perms == "" {
			perms = "rwm"
		}
		inside := d.ContainerPath
		if inside == "" {
			inside = d.HostPath
		}
		hc.Devices = append(hc.Devices, container.DeviceMapping{PathOnHost: d.HostPath, PathInContainer: inside, CgroupPermissions: perms})
	}
	if lp.SharedMemorySize != nil && *lp.SharedMemorySize > 0 {
		hc.ShmSize = int64(*lp.SharedMemorySize) * mib
	}
	for _, t := range lp.Tmpfs {
		if t.ContainerPath == "" {
			return fmt.Errorf("tmpfs without containerPath: %w", ErrInvalid)
		}
		if hc.Tmpfs == nil {
			hc.Tmpfs = map[string]string{}
		}
		opts := slices.Clone(t.MountOptions)
		if t.Size != nil && *t.Size > 0 {
			opts = append([]string{"size=" + strconv.Itoa(int(*t.Size)) + "m"}, opts...)
		}
		hc.Tmpfs[t.ContainerPath] = strings.Join(opts, ",")
	}
	// maxSwap: total memory+swap; 0 disables swap. Needs a hard memory limit.
	if lp.MaxSwap != nil && hc.Memory > 0 {
		hc.MemorySwap = hc.Memory + int64(*lp.MaxSwap)*mib
	}
	if lp.Swappiness != nil {
		s := int64(*lp.Swappiness)
		hc.MemorySwappiness = &s
	}
	return nil
}

func ports(def ecsapi.ContainerDefinition, mode string, cfg *container.Config, hc *container.HostConfig) error {
	if len(def.PortMappings) == 0 || mode == networkModeNone {
		return nil
	}
	cfg.ExposedPorts = network.PortSet{}
	if mode == networkModeBridge {
		hc.PortBindings = network.PortMap{}
	}
	for _, pm := range def.PortMappings {
		proto := strings.ToLower(pm.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" && proto != "udp" {
			return fmt.Errorf("port mapping protocol %q: %w", pm.Protocol, ErrInvalid)
		}
		var first, last int
		switch {
		case pm.ContainerPortRange != "":
			lo, hi, ok := strings.Cut(pm.ContainerPortRange, "-")
			a, err1 := strconv.Atoi(strings.TrimSpace(lo))
			b, err2 := strconv.Atoi(strings.TrimSpace(hi))
			if !ok || err1 != nil || err2 != nil || a < 1 || b > 65535 || b < a {
				return fmt.Errorf("containerPortRange %q: %w", pm.ContainerPortRange, ErrInvalid)
			}
			first, last = a, b
		case pm.ContainerPort != nil && *pm.ContainerPort > 0 && *pm.ContainerPort <= 65535:
			first, last = int(*pm.ContainerPort), int(*pm.ContainerPort)
		default:
			return fmt.Errorf("port mapping needs containerPort (1-65535) or containerPortRange: %w", ErrInvalid)
		}
		hostPort := ""
		if pm.HostPort != nil && *pm.HostPort > 0 && first == last {
			hostPort = strconv.Itoa(int(*pm.HostPort)) // "" asks Docker for an ephemeral port
		}
		for p := first; p <= last; p++ {
			port, ok := network.PortFrom(uint16(p), network.IPProtocol(proto))
			if !ok {
				return fmt.Errorf("port %d/%s: %w", p, proto, ErrInvalid)
			}
			cfg.ExposedPorts[port] = struct{}{}
			if hc.PortBindings != nil {
				hc.PortBindings[port] = append(hc.PortBindings[port], network.PortBinding{HostPort: hostPort})
			}
		}
	}
	return nil
}

func links(def ecsapi.ContainerDefinition, mode string, names map[string]string, hc *container.HostConfig) error {
	if len(def.Links) > 0 && mode != networkModeBridge {
		return fmt.Errorf("links need network mode bridge: %w", ErrInvalid)
	}
	for _, l := range def.Links {
		target, alias, _ := strings.Cut(l, ":")
		if alias == "" {
			alias = target
		}
		dn, ok := names[target]
		if !ok {
			return fmt.Errorf("link to unknown container %q: %w", target, ErrInvalid)
		}
		hc.Links = append(hc.Links, dn+":"+alias)
	}
	for _, vf := range def.VolumesFrom {
		dn, ok := names[vf.SourceContainer]
		if !ok {
			return fmt.Errorf("volumesFrom unknown container %q: %w", vf.SourceContainer, ErrInvalid)
		}
		mode := ":rw"
		if deref(vf.ReadOnly) {
			mode = ":ro"
		}
		hc.VolumesFrom = append(hc.VolumesFrom, dn+mode)
	}
	return nil
}

// mounts turns mountPoints into Binds: host.sourcePath volumes are bind
// mounts; dockerVolumeConfiguration volumes (and host volumes without a
// sourcePath, which ECS backs with a task-scoped local volume) are Docker
// named volumes, returned so the caller creates them first.
func mounts(spec ContainerSpec, def ecsapi.ContainerDefinition, td *ecsapi.TaskDefinition, hc *container.HostConfig) ([]VolumeSpec, error) {
	var vols []VolumeSpec
	for _, mp := range def.MountPoints {
		if mp.ContainerPath == "" {
			return nil, fmt.Errorf("mountPoint %q without containerPath: %w", mp.SourceVolume, ErrInvalid)
		}
		i := slices.IndexFunc(td.Volumes, func(v ecsapi.Volume) bool { return v.Name == mp.SourceVolume })
		if i < 0 {
			return nil, fmt.Errorf("mountPoint refers to unknown volume %q: %w", mp.SourceVolume, ErrInvalid)
		}
		v := td.Volumes[i]
		var source string
		switch {
		case v.Host != nil && v.Host.SourcePath != "":
			source = v.Host.SourcePath
		case v.DockerVolumeConfiguration != nil && strings.EqualFold(v.DockerVolumeConfiguration.Scope, volumeScopeShared):
			dv := v.DockerVolumeConfiguration
			source = v.Name
			vols = append(vols, VolumeSpec{
				Name: source, Driver: dv.Driver, DriverOpts: dv.DriverOpts, Labels: dv.Labels,
				Create: deref(dv.Autoprovision),
			})
		default: // task scope (the default), or a host volume without sourcePath
			source = TaskVolumeName(spec.Task.ARN, v.Name)
			vs := VolumeSpec{Name: source, Create: true, TaskScoped: true, Labels: map[string]string{}}
			if dv := v.DockerVolumeConfiguration; dv != nil {
				vs.Driver, vs.DriverOpts = dv.Driver, dv.DriverOpts
				maps.Copy(vs.Labels, dv.Labels)
			}
			owner := spec.Owner
			if owner == "" {
				owner = DefaultOwner
			}
			vs.Labels[LabelTaskARN] = spec.Task.ARN
			vs.Labels[LabelVolumeName] = v.Name
			vs.Labels[LabelManaged] = owner
			vols = append(vols, vs)
		}
		bind := source + ":" + mp.ContainerPath
		if deref(mp.ReadOnly) {
			bind += ":ro"
		}
		hc.Binds = append(hc.Binds, bind)
	}
	return vols, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
