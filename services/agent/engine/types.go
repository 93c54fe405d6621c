package engine

import (
	"strconv"
	"time"

	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/services/agent/docker"
)

// DesiredStatus is what the control plane wants for a task.
type DesiredStatus string

const (
	DesiredRunning DesiredStatus = "RUNNING"
	DesiredStopped DesiredStatus = "STOPPED"
)

// Stop codes the engine sets (ECS TaskStopCode values).
const (
	StopCodeEssentialContainerExited = "EssentialContainerExited"
	StopCodeTaskFailedToStart        = "TaskFailedToStart"
	StopCodeUserInitiated            = "UserInitiated"
)

// Reasons, worded as ECS words them.
const (
	ReasonEssentialContainerExited = "Essential container in task exited"
	ReasonOutOfMemory              = "OutOfMemoryError: Container killed due to memory usage"
	prefixCannotPull               = "CannotPullContainerError: "
	prefixCannotCreate             = "CannotCreateContainerError: "
	prefixCannotStart              = "CannotStartContainerError: "
	prefixDependency               = "DependencyError: "
	prefixInvalidTask              = "TaskValidationError: "
)

// Task is one task the control plane wants on this host.
type Task struct {
	ARN      string
	Cluster  string
	Family   string // defaults to Definition.Family
	Revision int32  // defaults to Definition.Revision
	// Definition is the full task definition; it never changes for an ARN.
	Definition ecsapi.TaskDefinition
	Overrides  ecsapi.TaskOverride
	// DesiredStatus is RUNNING or STOPPED; STOPPED is final.
	DesiredStatus DesiredStatus
	// StopCode and StoppedReason accompany DesiredStatus STOPPED when the
	// control plane stops the task (UserInitiated, "Task stopped by user");
	// the engine reports them unless it stopped the task for its own reason.
	StopCode      string
	StoppedReason string
	// RegistryAuth holds pull credentials by registry host
	// ("123456789012.dkr.ecr.us-east-1.amazonaws.com", "docker.io").
	RegistryAuth map[string]docker.RegistryAuth
}

func (t Task) family() string {
	if t.Family != "" {
		return t.Family
	}
	return t.Definition.Family
}

func (t Task) revision() int32 {
	if t.Revision != 0 {
		return t.Revision
	}
	if t.Definition.Revision != nil {
		return *t.Definition.Revision
	}
	return 0
}

// TaskStatus is a task's lastStatus. The values are ordered: a report never
// carries a status lower than an earlier report of the same task.
type TaskStatus int

const (
	TaskNone TaskStatus = iota // not yet reported
	TaskPending
	TaskActivating // not used on EC2-style bridge/host tasks (no ENI, no load balancer)
	TaskRunning
	TaskDeactivating // not used, see TaskActivating
	TaskStopping
	TaskDeprovisioning // not used, see TaskActivating
	TaskStopped
)

var taskStatusNames = [...]string{"NONE", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"}

// String is the ECS spelling ("RUNNING").
func (s TaskStatus) String() string {
	if s >= 0 && int(s) < len(taskStatusNames) {
		return taskStatusNames[s]
	}
	return "TaskStatus(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (s TaskStatus) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Terminal reports STOPPED.
func (s TaskStatus) Terminal() bool { return s == TaskStopped }

// ContainerStatus is the engine's view of a container, ordered like
// amazon-ecs-agent's: NONE < PULLED < CREATED < RUNNING < STOPPED.
type ContainerStatus int

const (
	ContainerNone ContainerStatus = iota
	ContainerPulled
	ContainerCreated
	ContainerRunning
	ContainerStopped
)

var containerStatusNames = [...]string{"NONE", "PULLED", "CREATED", "RUNNING", "STOPPED"}

// String is the internal name ("PULLED").
func (s ContainerStatus) String() string {
	if s >= 0 && int(s) < len(containerStatusNames) {
		return containerStatusNames[s]
	}
	return "ContainerStatus(" + strconv.Itoa(int(s)) + ")"
}

// Public maps to the ECS container lastStatus: PENDING, RUNNING or STOPPED.
func (s ContainerStatus) Public() string {
	switch {
	case s >= ContainerStopped:
		return "STOPPED"
	case s == ContainerRunning:
		return "RUNNING"
	default:
		return "PENDING"
	}
}

// MarshalText implements encoding.TextMarshaler with the public name.
func (s ContainerStatus) MarshalText() ([]byte, error) { return []byte(s.Public()), nil }

// HealthStatus of a container or a task.
type HealthStatus string

const (
	HealthUnknown   HealthStatus = "UNKNOWN"
	HealthHealthy   HealthStatus = "HEALTHY"
	HealthUnhealthy HealthStatus = "UNHEALTHY"
)

// NetworkBinding is a published port, as ECS reports it.
type NetworkBinding struct {
	BindIP        string
	ContainerPort int
	HostPort      int
	Protocol      string // tcp or udp
}

// ContainerReport is the state of one container of a task.
type ContainerReport struct {
	Name            string
	Image           string
	ImageDigest     string // sha256:…, when the image came from a registry
	RuntimeID       string // Docker container ID
	Essential       bool
	LastStatus      ContainerStatus
	ExitCode        *int
	Reason          string
	HealthStatus    HealthStatus
	NetworkBindings []NetworkBinding
	StartedAt       time.Time
	FinishedAt      time.Time
}

// Report is a full snapshot of one task, sent whenever something in it
// changes. LastStatus and every container's LastStatus only move forward.
// Seq grows with every report of the task; it is derived from the clock
// (Unix nanoseconds), so it keeps growing across engine restarts on a host.
type Report struct {
	TaskARN       string
	Cluster       string
	Family        string
	Revision      int32
	Seq           uint64
	DesiredStatus DesiredStatus
	LastStatus    TaskStatus
	HealthStatus  HealthStatus
	StopCode      string
	StoppedReason string

	PullStartedAt      time.Time
	PullStoppedAt      time.Time
	StartedAt          time.Time
	StoppingAt         time.Time
	ExecutionStoppedAt time.Time
	StoppedAt          time.Time

	Containers []ContainerReport
	// Network is an awsvpc task's own network: its address on the agent's
	// awsvpc network, known once the task's pause container has run
	// (kept after it stopped). Nil for other network modes.
	Network *TaskNetwork
}

// TaskNetwork is the network namespace of an awsvpc task, the equivalent of
// its elastic network interface.
type TaskNetwork struct {
	DockerNetwork string // the Docker network
	IPv4Address   string
	PrefixLen     int
	Gateway       string
	MacAddress    string
	// Attached is false once the task's namespace is gone (pause stopped).
	Attached bool
}

// Container returns the named container's report.
func (r Report) Container(name string) (ContainerReport, bool) {
	for _, c := range r.Containers {
		if c.Name == name {
			return c, true
		}
	}
	return ContainerReport{}, false
}

// ECSContainers converts the containers to the ECS wire shape.
func (r Report) ECSContainers() []ecsapi.Container {
	out := make([]ecsapi.Container, 0, len(r.Containers))
	for _, c := range r.Containers {
		ec := ecsapi.Container{
			TaskArn:      r.TaskARN,
			Name:         c.Name,
			Image:        c.Image,
			ImageDigest:  c.ImageDigest,
			RuntimeId:    c.RuntimeID,
			LastStatus:   c.LastStatus.Public(),
			Reason:       c.Reason,
			HealthStatus: string(c.HealthStatus),
		}
		if c.ExitCode != nil {
			code := int32(*c.ExitCode)
			ec.ExitCode = &code
		}
		for _, b := range c.NetworkBindings {
			cp, hp := int32(b.ContainerPort), int32(b.HostPort)
			ec.NetworkBindings = append(ec.NetworkBindings, ecsapi.NetworkBinding{
				BindIP: b.BindIP, ContainerPort: &cp, HostPort: &hp, Protocol: b.Protocol,
			})
		}
		out = append(out, ec)
	}
	return out
}
