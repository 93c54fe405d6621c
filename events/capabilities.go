package events

import "strconv"

// Attributes a Berth agent registers its container instance with. The
// capability names are ECS's; placement (requiresAttributes, derived from a
// task definition at registration) matches them.
const (
	CapPrefix        = "com.amazonaws.ecs.capability."
	CapDockerAPI     = CapPrefix + "docker-remote-api." // + "1.<minor>"
	CapLoggingDriver = CapPrefix + "logging-driver."    // + driver name
	CapECRAuth       = CapPrefix + "ecr-auth"
	CapPrivileged    = CapPrefix + "privileged-container"
	CapHealthCheck   = "ecs.capability.container-health-check"
	CapOrdering      = "ecs.capability.container-ordering"
	CapTaskCPUMem    = "ecs.capability.task-cpu-mem-limit"
	CapTaskENI       = "ecs.capability.task-eni" // awsvpc network mode
	CapExecAWSLogs   = "ecs.capability.execution-role-awslogs"
	// AttrFargate marks an instance that offers Fargate capacity (FARGATE
	// and FARGATE_SPOT): an agent does whenever its awsvpc network is on.
	AttrFargate = "berth.fargate"
	// MinDockerAPIMinor is the oldest Docker remote API version (1.17)
	// advertised.
	MinDockerAPIMinor = 17
)

// AgentCapabilities lists the capability attributes of a Berth agent whose
// Docker engine speaks API 1.<dockerAPIMinor> (0 when unknown), that
// advertises the given log drivers, and that runs awsvpc tasks when awsvpc
// is set. The real agent and the simulated one both register exactly these,
// so placement treats them alike.
func AgentCapabilities(dockerAPIMinor int, loggingDrivers []string, awsvpc bool) []string {
	var out []string
	for v := MinDockerAPIMinor; v <= dockerAPIMinor; v++ {
		out = append(out, CapDockerAPI+"1."+strconv.Itoa(v))
	}
	for _, d := range loggingDrivers {
		out = append(out, CapLoggingDriver+d)
		if d == "awslogs" {
			// Task definitions with an executionRoleArn and awslogs require
			// it (every Fargate sample has both); Berth ships the logs
			// without a role.
			out = append(out, CapExecAWSLogs)
		}
	}
	out = append(out, CapECRAuth, CapPrivileged, CapHealthCheck, CapOrdering, CapTaskCPUMem)
	if awsvpc {
		out = append(out, CapTaskENI, AttrFargate)
	}
	return out
}
