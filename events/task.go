package events

import (
	"time"

	"github.com/berth-project/berth/events/ecsapi"
)

// Task lastStatus values, in lifecycle order. lastStatus only moves forward;
// a status an agent skips is jumped over.
//
//	PROVISIONING → PENDING → ACTIVATING → RUNNING → DEACTIVATING → STOPPING → DEPROVISIONING → STOPPED
const (
	TaskProvisioning   = "PROVISIONING"
	TaskPending        = "PENDING"
	TaskActivating     = "ACTIVATING"
	TaskRunning        = "RUNNING"
	TaskDeactivating   = "DEACTIVATING"
	TaskStopping       = "STOPPING"
	TaskDeprovisioning = "DEPROVISIONING"
	TaskStopped        = "STOPPED"
)

var taskRanks = map[string]int{
	TaskProvisioning:   1,
	TaskPending:        2,
	TaskActivating:     3,
	TaskRunning:        4,
	TaskDeactivating:   5,
	TaskStopping:       6,
	TaskDeprovisioning: 7,
	TaskStopped:        8,
}

// TaskStatusRank is the position of a task lastStatus in the lifecycle
// (PROVISIONING 1 … STOPPED 8), 0 for anything else.
func TaskStatusRank(status string) int { return taskRanks[status] }

// Container lastStatus values.
const (
	ContainerPending = "PENDING"
	ContainerRunning = "RUNNING"
	ContainerStopped = "STOPPED"
)

var containerRanks = map[string]int{ContainerPending: 1, ContainerRunning: 2, ContainerStopped: 3}

// ContainerStatusRank is the position of a container lastStatus (PENDING 1,
// RUNNING 2, STOPPED 3), 0 for anything else.
func ContainerStatusRank(status string) int { return containerRanks[status] }

// Stop codes (ecsapi.EnumValues["TaskStopCode"]).
const (
	StopUserInitiated             = "UserInitiated"
	StopEssentialContainerExited  = "EssentialContainerExited"
	StopTaskFailedToStart         = "TaskFailedToStart"
	StopServiceSchedulerInitiated = "ServiceSchedulerInitiated"
)

// Launch types.
const LaunchTypeEC2 = "EC2"

// TaskKey is the BucketECSState key of a task record: task.<cluster>.<taskID>.
func TaskKey(cluster, taskID string) string { return "task." + Token(cluster) + "." + taskID }

// TaskFilter matches the task records of one cluster.
func TaskFilter(cluster string) string { return "task." + Token(cluster) + ".*" }

// TaskRecord is the value at TaskKey: one task as DescribeTasks shows it,
// plus what it holds on its container instance. Only the scheduler writes
// it. desiredStatus is the control plane's (RunTask, StopTask, forced
// deregistration); lastStatus and the container fields come from agent
// reports and only move forward. A STOPPED task stays for at least an hour,
// then the scheduler deletes it.
type TaskRecord struct {
	ID                   string `json:"id"` // 32 hex digits
	ARN                  string `json:"arn"`
	Cluster              string `json:"cluster"`
	ClusterARN           string `json:"clusterArn"`
	TaskDefinitionARN    string `json:"taskDefinitionArn"`
	Family               string `json:"family"`
	Revision             int32  `json:"revision"`
	ContainerInstanceID  string `json:"containerInstanceId"`
	ContainerInstanceARN string `json:"containerInstanceArn"`
	AvailabilityZone     string `json:"availabilityZone,omitempty"`
	LaunchType           string `json:"launchType"`

	LastStatus    string `json:"lastStatus"`
	DesiredStatus string `json:"desiredStatus"`
	HealthStatus  string `json:"healthStatus,omitempty"`
	StopCode      string `json:"stopCode,omitempty"`
	StoppedReason string `json:"stoppedReason,omitempty"`

	// CPU and Memory are the task-level values DescribeTasks shows.
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
	// Held is what the task holds on its instance while Holding; a task
	// holds from its placement until the commit that records it STOPPED,
	// which gives the resources back in the same atomic batch.
	Held    TaskResources `json:"held"`
	Holding bool          `json:"holding"`

	Group                string               `json:"group,omitempty"`
	StartedBy            string               `json:"startedBy,omitempty"`
	Overrides            *ecsapi.TaskOverride `json:"overrides,omitempty"`
	Containers           []TaskContainer      `json:"containers"`
	Attributes           []ecsapi.Attribute   `json:"attributes,omitempty"`
	Tags                 []ecsapi.Tag         `json:"tags"`
	EnableExecuteCommand bool                 `json:"enableExecuteCommand,omitempty"`
	Connectivity         string               `json:"connectivity,omitempty"`
	ConnectivityAt       *time.Time           `json:"connectivityAt,omitempty"`

	CreatedAt          time.Time  `json:"createdAt"`
	PullStartedAt      *time.Time `json:"pullStartedAt,omitempty"`
	PullStoppedAt      *time.Time `json:"pullStoppedAt,omitempty"`
	StartedAt          *time.Time `json:"startedAt,omitempty"`
	StoppingAt         *time.Time `json:"stoppingAt,omitempty"`
	ExecutionStoppedAt *time.Time `json:"executionStoppedAt,omitempty"`
	StoppedAt          *time.Time `json:"stoppedAt,omitempty"`
	UpdatedAt          time.Time  `json:"updatedAt"`

	// ClientToken is RunTask's idempotency token, ReferenceID its
	// referenceId (neither is part of the AWS task shape).
	ClientToken string `json:"clientToken,omitempty"`
	ReferenceID string `json:"referenceId,omitempty"`
	// LastReportSeq and LastReportAt identify the last agent report
	// applied, so a repeated or older one is a no-op.
	LastReportSeq uint64    `json:"lastReportSeq,omitempty"`
	LastReportAt  time.Time `json:"lastReportAt,omitzero"`

	// Version increases with every change; it is version in DescribeTasks
	// and detail.version of the "ECS Task State Change" events.
	Version int64 `json:"version"`

	// Fargate and awsvpc (see events/awsvpc.go). CapacityProviderName is
	// FARGATE or FARGATE_SPOT for a Fargate task (LaunchType FARGATE), which
	// runs on a Berth agent offering Fargate capacity but is not shown on
	// that container instance. NetworkConfiguration is the RunTask
	// networkConfiguration of an awsvpc task; AttachmentID the id of its
	// ElasticNetworkInterface attachment; Network the agent's last report of
	// the task's own network.
	CapacityProviderName string                       `json:"capacityProviderName,omitempty"`
	PlatformVersion      string                       `json:"platformVersion,omitempty"`
	NetworkConfiguration *ecsapi.NetworkConfiguration `json:"networkConfiguration,omitempty"`
	AttachmentID         string                       `json:"attachmentId,omitempty"`
	Network              *TaskNetworkReport           `json:"network,omitempty"`
}

// Stopped reports whether the task reached STOPPED.
func (t *TaskRecord) Stopped() bool { return t.LastStatus == TaskStopped }

// TaskResources is what one task holds on its container instance.
type TaskResources struct {
	CPU      int64 `json:"cpu"`
	Memory   int64 `json:"memory"`
	TCPPorts []int `json:"tcpPorts,omitempty"`
	UDPPorts []int `json:"udpPorts,omitempty"`
}

// TaskContainer is one container of a task.
type TaskContainer struct {
	ARN               string                  `json:"arn"`
	Name              string                  `json:"name"`
	Image             string                  `json:"image,omitempty"`
	ImageDigest       string                  `json:"imageDigest,omitempty"`
	RuntimeID         string                  `json:"runtimeId,omitempty"`
	LastStatus        string                  `json:"lastStatus"`
	ExitCode          *int32                  `json:"exitCode,omitempty"`
	Reason            string                  `json:"reason,omitempty"`
	NetworkBindings   []ecsapi.NetworkBinding `json:"networkBindings,omitempty"`
	HealthStatus      string                  `json:"healthStatus,omitempty"`
	CPU               string                  `json:"cpu,omitempty"`
	Memory            string                  `json:"memory,omitempty"`
	MemoryReservation string                  `json:"memoryReservation,omitempty"`
	Essential         bool                    `json:"essential"`
}

// TaskDetail is the detail of an "ECS Task State Change" event: the
// DescribeTasks task object with ISO-8601 timestamps.
type TaskDetail struct {
	Attachments          []ecsapi.Attachment  `json:"attachments"`
	Attributes           []ecsapi.Attribute   `json:"attributes,omitempty"`
	AvailabilityZone     string               `json:"availabilityZone,omitempty"`
	ClusterArn           string               `json:"clusterArn"`
	Connectivity         string               `json:"connectivity,omitempty"`
	ConnectivityAt       string               `json:"connectivityAt,omitempty"`
	ContainerInstanceArn string               `json:"containerInstanceArn,omitempty"`
	Containers           []ContainerDetail    `json:"containers"`
	CPU                  string               `json:"cpu,omitempty"`
	CreatedAt            string               `json:"createdAt"`
	DesiredStatus        string               `json:"desiredStatus"`
	EnableExecuteCommand bool                 `json:"enableExecuteCommand"`
	ExecutionStoppedAt   string               `json:"executionStoppedAt,omitempty"`
	Group                string               `json:"group,omitempty"`
	HealthStatus         string               `json:"healthStatus,omitempty"`
	LastStatus           string               `json:"lastStatus"`
	LaunchType           string               `json:"launchType"`
	Memory               string               `json:"memory,omitempty"`
	Overrides            *ecsapi.TaskOverride `json:"overrides,omitempty"`
	PullStartedAt        string               `json:"pullStartedAt,omitempty"`
	PullStoppedAt        string               `json:"pullStoppedAt,omitempty"`
	StartedAt            string               `json:"startedAt,omitempty"`
	StartedBy            string               `json:"startedBy,omitempty"`
	StopCode             string               `json:"stopCode,omitempty"`
	StoppedAt            string               `json:"stoppedAt,omitempty"`
	StoppedReason        string               `json:"stoppedReason,omitempty"`
	StoppingAt           string               `json:"stoppingAt,omitempty"`
	TaskArn              string               `json:"taskArn"`
	TaskDefinitionArn    string               `json:"taskDefinitionArn"`
	UpdatedAt            string               `json:"updatedAt"`
	Version              int64                `json:"version"`
}

// ContainerDetail is one container in a TaskDetail.
type ContainerDetail struct {
	ContainerArn      string                    `json:"containerArn"`
	CPU               string                    `json:"cpu,omitempty"`
	ExitCode          *int32                    `json:"exitCode,omitempty"`
	HealthStatus      string                    `json:"healthStatus,omitempty"`
	Image             string                    `json:"image,omitempty"`
	ImageDigest       string                    `json:"imageDigest,omitempty"`
	LastStatus        string                    `json:"lastStatus"`
	Memory            string                    `json:"memory,omitempty"`
	MemoryReservation string                    `json:"memoryReservation,omitempty"`
	Name              string                    `json:"name"`
	NetworkBindings   []ecsapi.NetworkBinding   `json:"networkBindings"`
	NetworkInterfaces []ecsapi.NetworkInterface `json:"networkInterfaces"`
	Reason            string                    `json:"reason,omitempty"`
	RuntimeID         string                    `json:"runtimeId,omitempty"`
	TaskArn           string                    `json:"taskArn"`
}

// ECSEventMsgID is the Nats-Msg-Id of an ECS state-change event about arn
// at version: a retried publish of the same change is stored once.
func ECSEventMsgID(arn string, version int64) string {
	return arn + "#" + itoa(uint64(version))
}
