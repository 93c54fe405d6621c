package events

import (
	"time"

	"github.com/berth-project/berth/events/ecsapi"
)

// # Agent protocol
//
// How a container agent (one per host) and the scheduler talk. Everything
// that must not be lost goes through JetStream; the agent can re-read its
// desired state at any time, so a reconnect or restart loses nothing.
//
//  1. Register. The agent calls the ECS operation RegisterContainerInstance
//     over NATS (request/reply on SubjAPI(APIECS, "RegisterContainerInstance"),
//     body = the AWS request) with its cluster, totalResources (CPU = 1024 per
//     core, MEMORY in MiB, PORTS, PORTS_UDP), attributes, versionInfo and an
//     instanceIdentityDocument {"instanceId": <stable host id>, ...}. The
//     scheduler answers the AWS response; registering again with the same
//     instanceId returns the same container instance (re-activated), so a
//     restarted agent keeps its identity.
//  2. Heartbeat. Every HeartbeatInterval the agent publishes a Heartbeat on
//     SubjAgentHeartbeat(cluster, instanceID), captured by StreamHeartbeats
//     (last message per subject kept). An instance whose last heartbeat is
//     older than HeartbeatTimeout shows agentConnected=false, gets no new
//     tasks, and a "ECS Container Instance State Change" event is emitted
//     when it disconnects or reconnects.
//  3. Desired state. The scheduler writes one TaskAssignment per task placed on
//     an instance in BucketECSState under AssignmentKey(cluster, instanceID,
//     taskID). The agent watches AssignmentFilter(cluster, instanceID): the
//     initial values are its whole desired state (re-read after every
//     reconnect), updates change DesiredStatus (RUNNING -> STOPPED), and the
//     key is deleted once the scheduler has recorded the task STOPPED.
//  4. Reports. The agent publishes TaskStateReport messages (the equivalent of
//     SubmitTaskStateChange + SubmitContainerStateChange) on
//     SubjAgentReport(cluster, instanceID), captured by StreamAgentReports (a
//     work queue the scheduler's replicas consume), with a Nats-Msg-Id of
//     ReportMsgID(report) so repeats are dropped. The scheduler moves the
//     task's lastStatus forward only: a stale or repeated report is a no-op.

// Agent protocol timings.
const (
	HeartbeatInterval = 5 * time.Second
	HeartbeatTimeout  = 20 * time.Second
)

// SubjAgentHeartbeat is where an agent publishes its heartbeat:
// berth.agent.heartbeat.<cluster>.<instanceID>. Wildcard form:
// berth.agent.heartbeat.*.*
func SubjAgentHeartbeat(cluster, instanceID string) string {
	return "berth.agent.heartbeat." + Token(cluster) + "." + instanceID
}

// SubjAgentReport is where an agent publishes task state reports:
// berth.agent.report.<cluster>.<instanceID>. Wildcard form:
// berth.agent.report.*.*
func SubjAgentReport(cluster, instanceID string) string {
	return "berth.agent.report." + Token(cluster) + "." + instanceID
}

// StreamHeartbeats keeps the last heartbeat of every agent. Writers: agents
// (each its own subject).
var StreamHeartbeats = StreamDef{
	Name:              "AGENT_HEARTBEATS",
	Writer:            ServiceAgent,
	Description:       "last heartbeat per agent: berth.agent.heartbeat.<cluster>.<instanceID>",
	Subjects:          []string{"berth.agent.heartbeat.*.*"},
	Retention:         RetentionLimits,
	MaxMsgsPerSubject: 1,
	MaxAge:            24 * time.Hour,
}

// StreamAgentReports carries task state reports from agents to the
// scheduler. Writers: agents (each its own subject). Work queue: a report is
// gone once a scheduler replica has applied it.
var StreamAgentReports = StreamDef{
	Name:        "AGENT_REPORTS",
	Writer:      ServiceAgent,
	Description: "task state reports: berth.agent.report.<cluster>.<instanceID>",
	Subjects:    []string{"berth.agent.report.*.*"},
	Retention:   RetentionWorkQueue,
	MaxAge:      24 * time.Hour,
	Duplicates:  2 * time.Minute,
}

// BucketECSState holds the scheduler's state in one bucket so that a
// placement (reserve resources on an instance, write the task, write the
// agent's assignment) commits in one atomic batch. Keys:
//
//	inst.<cluster>.<instanceID>            container instance record
//	task.<cluster>.<taskID>                task record
//	asg.<cluster>.<instanceID>.<taskID>    TaskAssignment (the agent's desired state)
//
// plus whatever index keys the scheduler needs. <cluster> is Token(cluster).
var BucketECSState = BucketDef{
	Name:        "ecs_state",
	Writer:      ServiceScheduler,
	Description: "ECS container instances, tasks and agent assignments",
	History:     1,
	AllowAtomic: true,
}

// AssignmentKey is the key of one task's assignment in BucketECSState.
func AssignmentKey(cluster, instanceID, taskID string) string {
	return "asg." + Token(cluster) + "." + instanceID + "." + taskID
}

// AssignmentFilter is the key filter an agent watches.
func AssignmentFilter(cluster, instanceID string) string {
	return "asg." + Token(cluster) + "." + instanceID + ".*"
}

// Desired statuses.
const (
	DesiredRunning = "RUNNING"
	DesiredStopped = "STOPPED"
)

// TaskAssignment is an agent's desired state for one task.
type TaskAssignment struct {
	TaskArn              string                 `json:"taskArn"`
	ClusterArn           string                 `json:"clusterArn"`
	ContainerInstanceArn string                 `json:"containerInstanceArn"`
	TaskDefinitionArn    string                 `json:"taskDefinitionArn"`
	TaskDefinition       *ecsapi.TaskDefinition `json:"taskDefinition"`
	Overrides            *ecsapi.TaskOverride   `json:"overrides,omitempty"`
	// DesiredStatus is RUNNING or STOPPED.
	DesiredStatus string `json:"desiredStatus"`
	// StopCode and StoppedReason say why the control plane wants the task
	// stopped (StopTask reason, UserInitiated, ...).
	StopCode      string    `json:"stopCode,omitempty"`
	StoppedReason string    `json:"stoppedReason,omitempty"`
	StartedBy     string    `json:"startedBy,omitempty"`
	Group         string    `json:"group,omitempty"`
	CreatedAt     time.Time `json:"createdAt"`
	// Version increases with every change of the assignment.
	Version int64 `json:"version"`
	// TraceParent is the W3C traceparent of the scheduler's placement span
	// ("" when the call was not traced): the agent continues the trace of
	// the RunTask that created the task.
	TraceParent string `json:"traceParent,omitempty"`
}

// TaskStateReport is what an agent reports about one task: its lastStatus
// and the state of each container.
type TaskStateReport struct {
	TaskArn              string `json:"taskArn"`
	ContainerInstanceArn string `json:"containerInstanceArn"`
	// LastStatus is one of PENDING, ACTIVATING, RUNNING, DEACTIVATING,
	// STOPPING, DEPROVISIONING, STOPPED.
	LastStatus   string                 `json:"lastStatus"`
	HealthStatus string                 `json:"healthStatus,omitempty"` // HEALTHY | UNHEALTHY | UNKNOWN
	Containers   []ContainerStateReport `json:"containers"`
	// StopCode and StoppedReason are set when the agent itself stopped the
	// task (EssentialContainerExited, TaskFailedToStart).
	StopCode           string     `json:"stopCode,omitempty"`
	StoppedReason      string     `json:"stoppedReason,omitempty"`
	PullStartedAt      *time.Time `json:"pullStartedAt,omitempty"`
	PullStoppedAt      *time.Time `json:"pullStoppedAt,omitempty"`
	StartedAt          *time.Time `json:"startedAt,omitempty"`
	ExecutionStoppedAt *time.Time `json:"executionStoppedAt,omitempty"`
	ReportedAt         time.Time  `json:"reportedAt"`
	// Seq increases with every report the agent makes about this task.
	Seq uint64 `json:"seq"`
	// Network is an awsvpc task's own network (see TaskNetworkReport).
	Network *TaskNetworkReport `json:"network,omitempty"`
}

// ContainerStateReport is the state of one container of a task.
type ContainerStateReport struct {
	Name            string                  `json:"name"`
	RuntimeID       string                  `json:"runtimeId,omitempty"`
	ImageDigest     string                  `json:"imageDigest,omitempty"`
	LastStatus      string                  `json:"lastStatus"` // PENDING, RUNNING, STOPPED
	ExitCode        *int32                  `json:"exitCode,omitempty"`
	Reason          string                  `json:"reason,omitempty"`
	NetworkBindings []ecsapi.NetworkBinding `json:"networkBindings,omitzero"`
	HealthStatus    string                  `json:"healthStatus,omitempty"`
}

// ReportMsgID is the Nats-Msg-Id of a report, for de-duplication.
func ReportMsgID(r TaskStateReport) string {
	return r.TaskArn + "#" + r.LastStatus + "#" + itoa(r.Seq)
}

// Heartbeat is what an agent publishes every HeartbeatInterval.
type Heartbeat struct {
	ContainerInstanceArn string    `json:"containerInstanceArn"`
	AgentVersion         string    `json:"agentVersion,omitempty"`
	At                   time.Time `json:"at"`
	RunningTasks         int       `json:"runningTasks"`
}

func itoa(v uint64) string {
	if v == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}
