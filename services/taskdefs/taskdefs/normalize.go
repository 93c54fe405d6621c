package taskdefs

import (
	"math"
	"strconv"
	"strings"

	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
)

// parseTaskCPU converts a task-level cpu value to CPU units, as ECS does at
// registration: "256" stays 256, "1 vCPU" / "0.25 vcpu" / "2vCPU" become
// 1024 / 256 / 2048. ok is false for anything else.
func parseTaskCPU(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		return n, n > 0
	}
	lower := strings.ToLower(s)
	num, found := strings.CutSuffix(lower, "vcpu")
	if !found {
		return 0, false
	}
	return scaled(num, 1024)
}

// parseTaskMemory converts a task-level memory value to MiB: "512" stays
// 512, "1GB" / "1 GB" / "0.5 gb" become 1024 / 1024 / 512.
func parseTaskMemory(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		return n, n > 0
	}
	lower := strings.ToLower(s)
	num, found := strings.CutSuffix(lower, "gb")
	if !found {
		return 0, false
	}
	return scaled(num, 1024)
}

// scaled parses a decimal number and multiplies it by unit; the product
// must be a positive whole number.
func scaled(num string, unit float64) (int, bool) {
	num = strings.TrimSpace(num)
	if num == "" || strings.ContainsAny(num, "eE+-") {
		return 0, false
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	v := f * unit
	if v <= 0 || v > math.MaxInt32 || v != math.Trunc(v) {
		return 0, false
	}
	return int(v), true
}

// fargateMemory lists, per Fargate task cpu value, the valid memory sizes
// (MiB): min, max and step. 256 CPU is the irregular case (512, 1024, 2048).
var fargateMemory = map[int][3]int{
	256:   {512, 2048, 0},
	512:   {1024, 4096, 1024},
	1024:  {2048, 8192, 1024},
	2048:  {4096, 16384, 1024},
	4096:  {8192, 30720, 1024},
	8192:  {16384, 61440, 4096},
	16384: {32768, 122880, 8192},
}

// fargatePair reports whether cpu/memory is a Fargate task size.
func fargatePair(cpu, mem int) bool {
	r, ok := fargateMemory[cpu]
	if !ok {
		return false
	}
	if r[2] == 0 {
		return mem == 512 || mem == 1024 || mem == 2048
	}
	return mem >= r[0] && mem <= r[1] && (mem-r[0])%r[2] == 0
}

// applyDefaults fills in what ECS adds to a container definition at
// registration (seen in DescribeTaskDefinition output): cpu 0, essential
// true, empty environment / mountPoints / volumesFrom / portMappings, port
// mapping protocol tcp and host port, health check interval/timeout/retries.
func applyDefaults(c *ecsapi.ContainerDefinition, networkMode string) {
	if c.Cpu == nil {
		c.Cpu = awsjson.Int32(0)
	}
	if c.Essential == nil {
		c.Essential = awsjson.Bool(true)
	}
	if c.Environment == nil {
		c.Environment = []ecsapi.KeyValuePair{}
	}
	if c.MountPoints == nil {
		c.MountPoints = []ecsapi.MountPoint{}
	}
	if c.VolumesFrom == nil {
		c.VolumesFrom = []ecsapi.VolumeFrom{}
	}
	if c.PortMappings == nil {
		c.PortMappings = []ecsapi.PortMapping{}
	}
	for i := range c.PortMappings {
		pm := &c.PortMappings[i]
		if pm.Protocol == "" {
			pm.Protocol = "tcp"
		}
		if pm.HostPort == nil && pm.ContainerPort != nil {
			switch networkMode {
			case "awsvpc", "host":
				pm.HostPort = awsjson.Int32(*pm.ContainerPort)
			default:
				pm.HostPort = awsjson.Int32(0)
			}
		}
		if pm.HostPort != nil && *pm.HostPort == 0 && pm.ContainerPort != nil && (networkMode == "awsvpc" || networkMode == "host") {
			pm.HostPort = awsjson.Int32(*pm.ContainerPort)
		}
	}
	if hc := c.HealthCheck; hc != nil {
		if hc.Interval == nil {
			hc.Interval = awsjson.Int32(30)
		}
		if hc.Timeout == nil {
			hc.Timeout = awsjson.Int32(5)
		}
		if hc.Retries == nil {
			hc.Retries = awsjson.Int32(3)
		}
	}
}

// applyTaskDefaults fills in the task-level members ECS always returns.
func applyTaskDefaults(td *ecsapi.TaskDefinition) {
	if td.Volumes == nil {
		td.Volumes = []ecsapi.Volume{}
	}
	if td.PlacementConstraints == nil {
		td.PlacementConstraints = []ecsapi.TaskDefinitionPlacementConstraint{}
	}
	for i := range td.Volumes {
		if efs := td.Volumes[i].EfsVolumeConfiguration; efs != nil && efs.RootDirectory == "" {
			efs.RootDirectory = "/"
		}
	}
	for i := range td.ContainerDefinitions {
		applyDefaults(&td.ContainerDefinitions[i], td.NetworkMode)
	}
}
