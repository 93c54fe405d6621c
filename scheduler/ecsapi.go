package scheduler

import (
	"math"
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

// ResourcesFromTaskDefinition computes what one task of td holds on its
// instance, with the RunTask overrides ov (may be nil):
//
//   - CPU: the task-level cpu ("1024", "1 vCPU") when set, otherwise the sum
//     of the containers' cpu;
//   - memory: the task-level memory ("2048", "2 GB") when set, otherwise the
//     sum over containers of memoryReservation when set, else memory;
//   - ports: static host ports by protocol. In bridge mode (the default) a
//     hostPort of 0 or none is dynamic and reserves nothing; in host mode
//     the host port is the container port; awsvpc and none reserve no host
//     ports.
func ResourcesFromTaskDefinition(td *ecsapi.TaskDefinition, ov *ecsapi.TaskOverride) (Resources, error) {
	cpuText, memText := td.Cpu, td.Memory
	var overrides []ecsapi.ContainerOverride
	if ov != nil {
		if ov.Cpu != "" {
			cpuText = ov.Cpu
		}
		if ov.Memory != "" {
			memText = ov.Memory
		}
		overrides = ov.ContainerOverrides
	}
	var r Resources
	var err error
	if cpuText != "" {
		if r.CPU, err = ParseTaskCPU(cpuText); err != nil {
			return Resources{}, err
		}
	}
	if memText != "" {
		if r.Memory, err = ParseTaskMemory(memText); err != nil {
			return Resources{}, err
		}
	}
	mode := strings.ToLower(td.NetworkMode)
	for _, c := range td.ContainerDefinitions {
		cpu, mem, memRes := c.Cpu, c.Memory, c.MemoryReservation
		for _, o := range overrides {
			if o.Name != c.Name {
				continue
			}
			if o.Cpu != nil {
				cpu = o.Cpu
			}
			if o.Memory != nil {
				mem = o.Memory
			}
			if o.MemoryReservation != nil {
				memRes = o.MemoryReservation
			}
		}
		if cpuText == "" && cpu != nil {
			r.CPU += int64(*cpu)
		}
		if memText == "" {
			switch {
			case memRes != nil && *memRes > 0:
				r.Memory += int64(*memRes)
			case mem != nil && *mem > 0:
				r.Memory += int64(*mem)
			default:
				return Resources{}, invalidf("Invalid setting for container '%s'. At least one of 'memory' or 'memoryReservation' must be specified.", c.Name)
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
