package taskdefs

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/berth-project/berth/events/ecsapi"
)

// Limits of a task definition.
const (
	maxContainers         = 10
	maxDefinitionBytes    = 64 << 10
	maxPlacementConstr    = 10
	maxConstraintExprLen  = 2000
	maxTags               = 50
	maxTagKeyLen          = 128
	maxTagValueLen        = 256
	ec2MinCPU, ec2MaxCPU  = 128, 10240
	minHealthInterval     = 5
	maxHealthInterval     = 300
	minHealthTimeout      = 2
	maxHealthTimeout      = 60
	minHealthRetries      = 1
	maxHealthRetries      = 10
	maxHealthStartPeriod  = 300
	maxPort               = 65535
	maxStopTimeoutFargate = 120
)

func enumValues(enum string) []string { return ecsapi.EnumValues[enum] }

// checkEnum returns an error when v is set and not one of enum's values.
func checkEnum(member, v, enum string) error {
	if v == "" || slices.Contains(enumValues(enum), v) {
		return nil
	}
	return errEnum(member, v, enum)
}

// sized is a parsed task-level cpu/memory (0 = not set).
type sized struct{ cpu, mem int }

// buildTaskDefinition validates a RegisterTaskDefinition request the way
// ECS does and returns the task definition it registers (without ARN,
// revision, status and timestamps), with cpu/memory normalised and the
// defaults ECS fills in. Nothing is stored when it returns an error.
func buildTaskDefinition(req *ecsapi.RegisterTaskDefinitionRequest) (*ecsapi.TaskDefinition, error) {
	switch {
	case req.Family == "":
		return nil, errClient("Family should not be null or empty.")
	case !validName(req.Family):
		return nil, errClient("Family contains invalid characters.")
	case len(req.ContainerDefinitions) == 0:
		return nil, errClient("Container list cannot be empty.")
	case len(req.ContainerDefinitions) > maxContainers:
		return nil, errClient("Too many containers.")
	}
	td := &ecsapi.TaskDefinition{
		Family:                  req.Family,
		ContainerDefinitions:    req.ContainerDefinitions,
		TaskRoleArn:             req.TaskRoleArn,
		ExecutionRoleArn:        req.ExecutionRoleArn,
		NetworkMode:             req.NetworkMode,
		Volumes:                 req.Volumes,
		PlacementConstraints:    req.PlacementConstraints,
		RequiresCompatibilities: req.RequiresCompatibilities,
		PidMode:                 req.PidMode,
		IpcMode:                 req.IpcMode,
		ProxyConfiguration:      req.ProxyConfiguration,
		InferenceAccelerators:   req.InferenceAccelerators,
		EphemeralStorage:        req.EphemeralStorage,
		RuntimePlatform:         req.RuntimePlatform,
		EnableFaultInjection:    req.EnableFaultInjection,
	}
	if err := checkTaskEnums(td); err != nil {
		return nil, err
	}
	sz, err := normaliseSize(td, req.Cpu, req.Memory)
	if err != nil {
		return nil, err
	}
	if err := checkVolumes(td); err != nil {
		return nil, err
	}
	if err := checkContainers(td, sz); err != nil {
		return nil, err
	}
	if err := checkLaunchTypes(td, sz); err != nil {
		return nil, err
	}
	if err := checkTags(req.Tags); err != nil {
		return nil, err
	}
	applyTaskDefaults(td)
	td.Compatibilities = compatibilities(td, sz.cpu, sz.mem)
	td.RequiresAttributes = requiresAttributes(td)
	return td, nil
}

func checkTaskEnums(td *ecsapi.TaskDefinition) error {
	if err := checkEnum("networkMode", td.NetworkMode, "NetworkMode"); err != nil {
		return err
	}
	if err := checkEnum("pidMode", td.PidMode, "PidMode"); err != nil {
		return err
	}
	if err := checkEnum("ipcMode", td.IpcMode, "IpcMode"); err != nil {
		return err
	}
	for _, c := range td.RequiresCompatibilities {
		if c == "" {
			return errEnum("requiresCompatibilities", c, "Compatibility")
		}
		if err := checkEnum("requiresCompatibilities", c, "Compatibility"); err != nil {
			return err
		}
	}
	if rp := td.RuntimePlatform; rp != nil {
		if err := checkEnum("runtimePlatform.operatingSystemFamily", rp.OperatingSystemFamily, "OSFamily"); err != nil {
			return err
		}
		if err := checkEnum("runtimePlatform.cpuArchitecture", rp.CpuArchitecture, "CPUArchitecture"); err != nil {
			return err
		}
	}
	if len(td.PlacementConstraints) > maxPlacementConstr {
		return errClient("Too many placement constraints. The maximum is %d.", maxPlacementConstr)
	}
	for _, pc := range td.PlacementConstraints {
		if pc.Type == "" {
			return errEnum("placementConstraints.type", pc.Type, "TaskDefinitionPlacementConstraintType")
		}
		if err := checkEnum("placementConstraints.type", pc.Type, "TaskDefinitionPlacementConstraintType"); err != nil {
			return err
		}
		if len(pc.Expression) > maxConstraintExprLen {
			return errClient("Placement constraint expression is longer than %d characters.", maxConstraintExprLen)
		}
	}
	if es := td.EphemeralStorage; es != nil && es.SizeInGiB != nil && (*es.SizeInGiB < 21 || *es.SizeInGiB > 200) {
		return errClient("Invalid 'ephemeralStorage.sizeInGiB' setting for task. The value must be between 21 and 200.")
	}
	return nil
}

// normaliseSize parses task-level cpu and memory and rewrites them as AWS
// returns them: CPU units and MiB, as integer strings.
func normaliseSize(td *ecsapi.TaskDefinition, cpu, mem string) (sized, error) {
	var sz sized
	invalid := func(field string) error {
		return errClient("Invalid '%s' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.", field)
	}
	if cpu != "" {
		n, ok := parseTaskCPU(cpu)
		if !ok {
			return sz, invalid("cpu")
		}
		if !slices.Contains(td.RequiresCompatibilities, "FARGATE") && (n < ec2MinCPU || n > ec2MaxCPU) {
			return sz, invalid("cpu")
		}
		sz.cpu = n
		td.Cpu = strconv.Itoa(n)
	}
	if mem != "" {
		n, ok := parseTaskMemory(mem)
		if !ok {
			return sz, invalid("memory")
		}
		sz.mem = n
		td.Memory = strconv.Itoa(n)
	}
	return sz, nil
}

func checkVolumes(td *ecsapi.TaskDefinition) error {
	seen := map[string]bool{}
	for _, v := range td.Volumes {
		if v.Name == "" {
			return errClient("Volume.name should not be null or empty.")
		}
		if !validName(v.Name) {
			return errClient("Volume.name contains invalid characters.")
		}
		if seen[v.Name] {
			return errClient("Duplicate volume name '%s'.", v.Name)
		}
		seen[v.Name] = true
		if dv := v.DockerVolumeConfiguration; dv != nil {
			if err := checkEnum("dockerVolumeConfiguration.scope", dv.Scope, "Scope"); err != nil {
				return err
			}
		}
		if efs := v.EfsVolumeConfiguration; efs != nil {
			if efs.FileSystemId == "" {
				return errClient("EFSVolumeConfiguration.fileSystemId should not be null or empty.")
			}
			if err := checkEnum("efsVolumeConfiguration.transitEncryption", efs.TransitEncryption, "EFSTransitEncryption"); err != nil {
				return err
			}
			if ac := efs.AuthorizationConfig; ac != nil {
				if err := checkEnum("efsVolumeConfiguration.authorizationConfig.iam", ac.Iam, "EFSAuthorizationConfigIAM"); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func checkContainers(td *ecsapi.TaskDefinition, sz sized) error {
	names := map[string]bool{}
	for _, c := range td.ContainerDefinitions {
		switch {
		case c.Name == "":
			return errClient("Container.name should not be null or empty.")
		case !validName(c.Name):
			return errClient("Container.name contains invalid characters.")
		case names[c.Name]:
			return errClient("Duplicate container name '%s'. Container names must be unique within a task definition.", c.Name)
		}
		names[c.Name] = true
	}
	volumes := map[string]bool{}
	for _, v := range td.Volumes {
		volumes[v.Name] = true
	}
	essential := false
	var sumCPU, sumReserved int
	for i := range td.ContainerDefinitions {
		c := &td.ContainerDefinitions[i]
		if strings.TrimSpace(c.Image) == "" {
			return errClient("Container.image should not be null or empty.")
		}
		if len(c.Image) > 255 {
			return errContainerSetting("image", c.Name)
		}
		if c.Essential == nil || *c.Essential {
			essential = true
		}
		if err := checkResources(c, td); err != nil {
			return err
		}
		if c.Cpu != nil {
			sumCPU += int(*c.Cpu)
		}
		switch {
		case c.MemoryReservation != nil:
			sumReserved += int(*c.MemoryReservation)
		case c.Memory != nil:
			sumReserved += int(*c.Memory)
		}
		if err := checkPorts(c, td.NetworkMode); err != nil {
			return err
		}
		if err := checkHealthCheck(c); err != nil {
			return err
		}
		if err := checkContainerEnums(c, td); err != nil {
			return err
		}
		if err := checkReferences(c, names, volumes); err != nil {
			return err
		}
	}
	if !essential {
		return errClient("At least one essential container is required.")
	}
	if sz.cpu > 0 && sumCPU > sz.cpu {
		return errClient("The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'.")
	}
	if sz.mem > 0 && sumReserved > sz.mem {
		return errClient("The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'.")
	}
	return nil
}

// checkResources checks a container's cpu, memory and timeouts. Unlike AWS,
// which refuses an EC2 container with neither memory nor memoryReservation
// (and no task-level memory), Berth accepts it: such a container reserves
// no memory and runs without a memory limit, so the ECS tutorial's
// definitions that name no memory run as they are.
func checkResources(c *ecsapi.ContainerDefinition, td *ecsapi.TaskDefinition) error {
	if c.Cpu != nil && *c.Cpu < 0 {
		return errContainerSetting("cpu", c.Name)
	}
	if c.Memory != nil && *c.Memory <= 0 {
		return errContainerSetting("memory", c.Name)
	}
	if c.MemoryReservation != nil && *c.MemoryReservation <= 0 {
		return errContainerSetting("memoryReservation", c.Name)
	}
	if c.Memory != nil && c.MemoryReservation != nil && *c.MemoryReservation > *c.Memory {
		return errClient("Invalid setting for container '%s'. 'memory' must be greater than or equal to 'memoryReservation'.", c.Name)
	}
	if c.StopTimeout != nil && (*c.StopTimeout < 0 || (slices.Contains(td.RequiresCompatibilities, "FARGATE") && *c.StopTimeout > maxStopTimeoutFargate)) {
		return errContainerSetting("stopTimeout", c.Name)
	}
	if c.StartTimeout != nil && *c.StartTimeout < 0 {
		return errContainerSetting("startTimeout", c.Name)
	}
	return nil
}

var portRange = regexp.MustCompile(`^([0-9]{1,5})-([0-9]{1,5})$`)

func checkPorts(c *ecsapi.ContainerDefinition, networkMode string) error {
	if networkMode == "none" && len(c.PortMappings) > 0 {
		return errClient("Port mappings are not supported when networkMode=none.")
	}
	for _, pm := range c.PortMappings {
		if err := checkEnum("portMappings.protocol", pm.Protocol, "TransportProtocol"); err != nil {
			return err
		}
		if err := checkEnum("portMappings.appProtocol", pm.AppProtocol, "ApplicationProtocol"); err != nil {
			return err
		}
		if pm.ContainerPortRange != "" {
			m := portRange.FindStringSubmatch(pm.ContainerPortRange)
			if m == nil || pm.ContainerPort != nil || pm.HostPort != nil {
				return errContainerSetting("containerPortRange", c.Name)
			}
			lo, _ := strconv.Atoi(m[1])
			hi, _ := strconv.Atoi(m[2])
			if lo < 1 || hi > maxPort || lo >= hi {
				return errContainerSetting("containerPortRange", c.Name)
			}
			continue
		}
		if pm.ContainerPort == nil || *pm.ContainerPort < 1 || *pm.ContainerPort > maxPort {
			return errContainerSetting("containerPort", c.Name)
		}
		if pm.HostPort != nil && (*pm.HostPort < 0 || *pm.HostPort > maxPort) {
			return errContainerSetting("hostPort", c.Name)
		}
		if (networkMode == "awsvpc" || networkMode == "host") && pm.HostPort != nil && *pm.HostPort != 0 && *pm.HostPort != *pm.ContainerPort {
			return errClient("When networkMode=%s, the host ports and container ports in port mappings must match.", networkMode)
		}
	}
	return nil
}

func checkHealthCheck(c *ecsapi.ContainerDefinition) error {
	hc := c.HealthCheck
	if hc == nil {
		return nil
	}
	out := func(p *int32, lo, hi int32) bool { return p != nil && (*p < lo || *p > hi) }
	switch {
	case len(hc.Command) == 0:
		return errContainerSetting("healthCheck.command", c.Name)
	case out(hc.Interval, minHealthInterval, maxHealthInterval):
		return errContainerSetting("healthCheck.interval", c.Name)
	case out(hc.Timeout, minHealthTimeout, maxHealthTimeout):
		return errContainerSetting("healthCheck.timeout", c.Name)
	case out(hc.Retries, minHealthRetries, maxHealthRetries):
		return errContainerSetting("healthCheck.retries", c.Name)
	case out(hc.StartPeriod, 0, maxHealthStartPeriod):
		return errContainerSetting("healthCheck.startPeriod", c.Name)
	}
	return nil
}

func checkContainerEnums(c *ecsapi.ContainerDefinition, td *ecsapi.TaskDefinition) error {
	if lc := c.LogConfiguration; lc != nil {
		if lc.LogDriver == "" {
			return errContainerSetting("logConfiguration.logDriver", c.Name)
		}
		if err := checkEnum("logConfiguration.logDriver", lc.LogDriver, "LogDriver"); err != nil {
			return err
		}
	}
	for _, u := range c.Ulimits {
		if u.Name == "" || u.HardLimit == nil || u.SoftLimit == nil {
			return errContainerSetting("ulimits", c.Name)
		}
		if err := checkEnum("ulimits.name", u.Name, "UlimitName"); err != nil {
			return err
		}
	}
	for _, d := range c.DependsOn {
		if d.Condition == "" {
			return errContainerSetting("dependsOn", c.Name)
		}
		if err := checkEnum("dependsOn.condition", d.Condition, "ContainerCondition"); err != nil {
			return err
		}
	}
	for _, f := range c.EnvironmentFiles {
		if err := checkEnum("environmentFiles.type", f.Type, "EnvironmentFileType"); err != nil {
			return err
		}
	}
	for _, r := range c.ResourceRequirements {
		if err := checkEnum("resourceRequirements.type", r.Type, "ResourceType"); err != nil {
			return err
		}
	}
	if fl := c.FirelensConfiguration; fl != nil {
		if err := checkEnum("firelensConfiguration.type", fl.Type, "FirelensConfigurationType"); err != nil {
			return err
		}
	}
	if lp := c.LinuxParameters; lp != nil {
		for _, d := range lp.Devices {
			for _, p := range d.Permissions {
				if err := checkEnum("linuxParameters.devices.permissions", p, "DeviceCgroupPermission"); err != nil {
					return err
				}
			}
		}
	}
	if err := checkEnum("versionConsistency", c.VersionConsistency, "VersionConsistency"); err != nil {
		return err
	}
	if len(c.Links) > 0 && td.NetworkMode != "" && td.NetworkMode != "bridge" {
		return errClient("Links are not supported when networkMode=%s.", td.NetworkMode)
	}
	return nil
}

// checkReferences checks that the containers and volumes c names exist.
func checkReferences(c *ecsapi.ContainerDefinition, containers, volumes map[string]bool) error {
	for _, d := range c.DependsOn {
		if !containers[d.ContainerName] || d.ContainerName == c.Name {
			return errContainerSetting("dependsOn", c.Name)
		}
	}
	for _, vf := range c.VolumesFrom {
		if !containers[vf.SourceContainer] || vf.SourceContainer == c.Name {
			return errContainerSetting("volumesFrom", c.Name)
		}
	}
	for _, l := range c.Links {
		target, _, _ := strings.Cut(l, ":")
		if !containers[target] || target == c.Name {
			return errContainerSetting("links", c.Name)
		}
	}
	for _, mp := range c.MountPoints {
		if mp.SourceVolume == "" || !volumes[mp.SourceVolume] {
			return errClient("Invalid 'mountPoints' setting for container '%s'. Unknown volume '%s'.", c.Name, mp.SourceVolume)
		}
		if mp.ContainerPath == "" {
			return errContainerSetting("mountPoints.containerPath", c.Name)
		}
	}
	return nil
}

// checkLaunchTypes rejects a definition that does not validate against a
// launch type it requires.
func checkLaunchTypes(td *ecsapi.TaskDefinition, sz sized) error {
	for _, lt := range td.RequiresCompatibilities {
		switch lt {
		case "FARGATE":
			if msg := fargateIssue(td, sz.cpu, sz.mem); msg != "" {
				return errClient("%s", msg)
			}
			for _, c := range td.ContainerDefinitions {
				if len(c.Links) > 0 {
					return errClient("Links are not supported when networkMode=awsvpc.")
				}
			}
		case "EXTERNAL":
			if msg := externalIssue(td); msg != "" {
				return errClient("%s", msg)
			}
		}
	}
	return nil
}

var tagChars = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

// checkTags applies AWS's tag rules: at most 50, unique keys of 1-128
// characters, values of 0-256, letters/digits/spaces and + - = . _ : / @,
// and no aws: prefix (reserved).
func checkTags(tags []ecsapi.Tag) error {
	if len(tags) > maxTags {
		return errInvalid("Too many tags. A resource can have at most %d tags.", maxTags)
	}
	seen := map[string]bool{}
	for i, t := range tags {
		if err := checkTagKey(t.Key, i); err != nil {
			return err
		}
		if n := utf8.RuneCountInString(t.Value); n > maxTagValueLen {
			return errInvalid("1 validation error detected: Value at 'tags.%d.member.value' failed to satisfy constraint: Member must have length less than or equal to %d", i+1, maxTagValueLen)
		}
		if !tagChars.MatchString(t.Value) {
			return errInvalid("1 validation error detected: Value '%s' at 'tags.%d.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$", t.Value, i+1)
		}
		if seen[t.Key] {
			return errInvalid("Duplicate tag key '%s'. Each tag key must be unique.", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

func checkTagKey(key string, i int) error {
	n := utf8.RuneCountInString(key)
	switch {
	case n < 1:
		return errInvalid("1 validation error detected: Value at 'tags.%d.member.key' failed to satisfy constraint: Member must have length greater than or equal to 1", i+1)
	case n > maxTagKeyLen:
		return errInvalid("1 validation error detected: Value at 'tags.%d.member.key' failed to satisfy constraint: Member must have length less than or equal to %d", i+1, maxTagKeyLen)
	case !tagChars.MatchString(key):
		return errInvalid("1 validation error detected: Value '%s' at 'tags.%d.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$", key, i+1)
	case strings.HasPrefix(strings.ToLower(key), "aws:"):
		return errInvalid("Tag keys beginning with 'aws:' are reserved for AWS use.")
	}
	return nil
}
