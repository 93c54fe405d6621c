package scheduler

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-project/berth/events/ecsapi"
)

// ConstraintsFromAPI converts request placement constraints (RunTask,
// CreateService, UpdateService).
func ConstraintsFromAPI(cs []ecsapi.PlacementConstraint) []Constraint {
	out := make([]Constraint, 0, len(cs))
	for _, c := range cs {
		out = append(out, Constraint{Type: ConstraintType(c.Type), Expression: c.Expression})
	}
	return out
}

// TaskDefinitionConstraintsFromAPI converts the placement constraints of a
// task definition.
func TaskDefinitionConstraintsFromAPI(cs []ecsapi.TaskDefinitionPlacementConstraint) []Constraint {
	out := make([]Constraint, 0, len(cs))
	for _, c := range cs {
		out = append(out, Constraint{Type: ConstraintType(c.Type), Expression: c.Expression})
	}
	return out
}

// StrategiesFromAPI converts placement strategies.
func StrategiesFromAPI(ss []ecsapi.PlacementStrategy) []Strategy {
	out := make([]Strategy, 0, len(ss))
	for _, s := range ss {
		out = append(out, Strategy{Type: StrategyType(s.Type), Field: s.Field})
	}
	return out
}

// Limits RegisterTaskDefinition applies to the task-level cpu of a task
// definition that does not require FARGATE, and to ephemeral storage.
const (
	ec2MinTaskCPU, ec2MaxTaskCPU = 128, 10240
	minEphemeralGiB              = 21
	maxEphemeralGiB              = 200
)

// ApplyOverrides returns the task definition as tasks run with the RunTask
// or StartTask overrides ov (may be nil): the task-level cpu and memory
// (as CPU units and MiB), and for each container named in a container
// override its cpu, memory, memoryReservation, environmentFiles and
// resourceRequirements. (Command and environment stay in the overrides the
// agent applies.) td is not modified.
//
// The result is checked with the rules RegisterTaskDefinition applies to
// the same fields, with the same messages, so a value refused in a task
// definition is refused in an override too: container cpu not negative,
// memory and memoryReservation positive and memoryReservation not above
// memory; task cpu (units or vCPU, 128-10240 units unless FARGATE is
// required) and memory (MiB or GB); the containers' cpu and reservations
// within the task's; ephemeral storage of 21-200 GiB. Errors match
// ErrInvalidParameter.
func ApplyOverrides(td *ecsapi.TaskDefinition, ov *ecsapi.TaskOverride) (*ecsapi.TaskDefinition, error) {
	eff := *td
	eff.ContainerDefinitions = slices.Clone(td.ContainerDefinitions)
	if ov != nil {
		if ov.Cpu != "" {
			eff.Cpu = ov.Cpu
		}
		if ov.Memory != "" {
			eff.Memory = ov.Memory
		}
		if ov.EphemeralStorage != nil {
			eff.EphemeralStorage = ov.EphemeralStorage
		}
		for _, o := range ov.ContainerOverrides {
			i := slices.IndexFunc(eff.ContainerDefinitions, func(c ecsapi.ContainerDefinition) bool { return c.Name == o.Name })
			if i < 0 {
				return nil, invalidf("The container %s does not exist in the task definition.", o.Name)
			}
			c := &eff.ContainerDefinitions[i]
			c.Cpu = cmp.Or(o.Cpu, c.Cpu)
			c.Memory = cmp.Or(o.Memory, c.Memory)
			c.MemoryReservation = cmp.Or(o.MemoryReservation, c.MemoryReservation)
			if o.EnvironmentFiles != nil {
				c.EnvironmentFiles = o.EnvironmentFiles
			}
			if o.ResourceRequirements != nil {
				c.ResourceRequirements = o.ResourceRequirements
			}
		}
	}
	if err := checkTaskSize(&eff); err != nil {
		return nil, err
	}
	return &eff, nil
}

// checkTaskSize normalises eff's task-level cpu and memory to CPU units and
// MiB and checks the sizes as RegisterTaskDefinition does.
func checkTaskSize(eff *ecsapi.TaskDefinition) error {
	taskCPU, taskMem := int64(0), int64(0)
	if eff.Cpu != "" {
		n, err := ParseTaskCPU(eff.Cpu)
		if err != nil || (!slices.Contains(eff.RequiresCompatibilities, "FARGATE") && (n < ec2MinTaskCPU || n > ec2MaxTaskCPU)) {
			return errTaskSetting("cpu")
		}
		taskCPU, eff.Cpu = n, strconv.FormatInt(n, 10)
	}
	if eff.Memory != "" {
		n, err := ParseTaskMemory(eff.Memory)
		if err != nil {
			return errTaskSetting("memory")
		}
		taskMem, eff.Memory = n, strconv.FormatInt(n, 10)
	}
	if es := eff.EphemeralStorage; es != nil && es.SizeInGiB != nil && (*es.SizeInGiB < minEphemeralGiB || *es.SizeInGiB > maxEphemeralGiB) {
		return invalidf("Invalid 'ephemeralStorage.sizeInGiB' setting for task. The value must be between %d and %d.", minEphemeralGiB, maxEphemeralGiB)
	}
	var sumCPU, sumReserved int64
	for i := range eff.ContainerDefinitions {
		c := &eff.ContainerDefinitions[i]
		switch {
		case c.Cpu != nil && *c.Cpu < 0:
			return errContainerSetting("cpu", c.Name)
		case c.Memory != nil && *c.Memory <= 0:
			return errContainerSetting("memory", c.Name)
		case c.MemoryReservation != nil && *c.MemoryReservation <= 0:
			return errContainerSetting("memoryReservation", c.Name)
		case c.Memory != nil && c.MemoryReservation != nil && *c.MemoryReservation > *c.Memory:
			return invalidf("Invalid setting for container '%s'. 'memory' must be greater than or equal to 'memoryReservation'.", c.Name)
		}
		if c.Cpu != nil {
			sumCPU += int64(*c.Cpu)
		}
		if m := cmp.Or(c.MemoryReservation, c.Memory); m != nil {
			sumReserved += int64(*m)
		}
	}
	if taskCPU > 0 && sumCPU > taskCPU {
		return invalidf("The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'.")
	}
	if taskMem > 0 && sumReserved > taskMem {
		return invalidf("The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'.")
	}
	return nil
}

func errTaskSetting(field string) error {
	return invalidf("Invalid '%s' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.", field)
}

func errContainerSetting(field, container string) error {
	return invalidf("Invalid '%s' setting for container '%s'.", field, container)
}

// RequiredAttributes lists the container instance attributes a task of td
// needs: its requiresAttributes (name, and value when one is given), and
// for its runtimePlatform ecs.cpu-architecture (X86_64 -> x86_64,
// ARM64 -> arm64) and ecs.os-family (LINUX, WINDOWS_SERVER_2022_CORE, ...),
// as the agent registers them.
func RequiredAttributes(td *ecsapi.TaskDefinition) []Attribute {
	out := make([]Attribute, 0, len(td.RequiresAttributes)+2)
	for _, a := range td.RequiresAttributes {
		out = append(out, Attribute{Name: a.Name, Value: a.Value})
	}
	if rp := td.RuntimePlatform; rp != nil {
		if rp.CpuArchitecture != "" {
			out = append(out, Attribute{Name: "ecs.cpu-architecture", Value: strings.ToLower(rp.CpuArchitecture)})
		}
		if rp.OperatingSystemFamily != "" {
			out = append(out, Attribute{Name: "ecs.os-family", Value: rp.OperatingSystemFamily})
		}
	}
	return out
}

// ResourcesFromTaskDefinition computes what one task of td holds on its
// instance, with the RunTask overrides ov (may be nil) applied and checked
// by ApplyOverrides:
//
//   - CPU: the task-level cpu ("1024", "1 vCPU") when set, otherwise the sum
//     of the containers' cpu;
//   - memory: the task-level memory ("2048", "2 GB") when set, otherwise the
//     sum over containers of memoryReservation when set, else memory; a
//     container with neither reserves none (AWS refuses it; Berth runs it
//     without a memory limit);
//   - ports: static host ports by protocol. In bridge mode (the default) a
//     hostPort of 0 or none is dynamic and reserves nothing; in host mode
//     the host port is the container port; awsvpc and none reserve no host
//     ports.
func ResourcesFromTaskDefinition(td *ecsapi.TaskDefinition, ov *ecsapi.TaskOverride) (Resources, error) {
	eff, err := ApplyOverrides(td, ov)
	if err != nil {
		return Resources{}, err
	}
	return Reserved(eff)
}

// Reserved computes what one task of an effective task definition (see
// ApplyOverrides) holds on its instance; see ResourcesFromTaskDefinition.
func Reserved(td *ecsapi.TaskDefinition) (Resources, error) {
	var r Resources
	var err error
	if td.Cpu != "" {
		if r.CPU, err = ParseTaskCPU(td.Cpu); err != nil {
			return Resources{}, err
		}
	}
	if td.Memory != "" {
		if r.Memory, err = ParseTaskMemory(td.Memory); err != nil {
			return Resources{}, err
		}
	}
	mode := strings.ToLower(td.NetworkMode)
	for _, c := range td.ContainerDefinitions {
		if td.Cpu == "" && c.Cpu != nil {
			r.CPU += int64(*c.Cpu)
		}
		if td.Memory == "" {
			switch {
			case c.MemoryReservation != nil && *c.MemoryReservation > 0:
				r.Memory += int64(*c.MemoryReservation)
			case c.Memory != nil && *c.Memory > 0:
				r.Memory += int64(*c.Memory)
			}
		}
		if mode == "awsvpc" || mode == "none" {
			continue
		}
		for _, pm := range c.PortMappings {
			port := 0
			if pm.HostPort != nil {
				port = int(*pm.HostPort)
			}
			if mode == "host" && port == 0 && pm.ContainerPort != nil {
				port = int(*pm.ContainerPort)
			}
			if port == 0 {
				continue // dynamic
			}
			if strings.EqualFold(pm.Protocol, "udp") {
				r.UDPPorts = append(r.UDPPorts, port)
			} else {
				r.TCPPorts = append(r.TCPPorts, port)
			}
		}
	}
	if err := ValidateResources(r); err != nil {
		return Resources{}, err
	}
	return r, nil
}

// ParseTaskCPU parses a task-level cpu value: CPU units ("1024") or vCPUs
// ("1 vCPU", "0.25 vcpu").
func ParseTaskCPU(s string) (int64, error) {
	v, unit := splitUnit(s)
	switch {
	case unit == "":
		return parseWhole(v, 1, s, "cpu")
	case strings.EqualFold(unit, "vcpu"):
		return parseWhole(v, 1024, s, "cpu")
	}
	return 0, invalidf("Invalid 'cpu' setting for task: '%s'. Use CPU units (1024) or vCPU (1 vCPU).", s)
}

// ParseTaskMemory parses a task-level memory value: MiB ("2048") or GB
// ("2 GB", "0.5GB").
func ParseTaskMemory(s string) (int64, error) {
	v, unit := splitUnit(s)
	switch {
	case unit == "":
		return parseWhole(v, 1, s, "memory")
	case strings.EqualFold(unit, "gb"):
		return parseWhole(v, 1024, s, "memory")
	}
	return 0, invalidf("Invalid 'memory' setting for task: '%s'. Use MiB (2048) or GB (2 GB).", s)
}

func splitUnit(s string) (number, unit string) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] == '.' || (s[i] >= '0' && s[i] <= '9')) {
		i++
	}
	return s[:i], strings.TrimSpace(s[i:])
}

func parseWhole(v string, scale float64, orig, what string) (int64, error) {
	f, err := strconv.ParseFloat(v, 64)
	n := f * scale
	if err != nil || f <= 0 || n != math.Trunc(n) || n > math.MaxInt32 {
		return 0, invalidf("Invalid '%s' setting for task: '%s'.", what, orig)
	}
	return int64(n), nil
}
