package events

import (
	"time"

	"github.com/berth-project/berth/events/ecsapi"
)

// Container instance statuses (ecsapi.EnumValues["ContainerInstanceStatus"]
// plus INACTIVE, the status of a deregistered instance).
const (
	InstanceActive      = "ACTIVE"
	InstanceDraining    = "DRAINING"
	InstanceRegistering = "REGISTERING"
	InstanceInactive    = "INACTIVE"
)

// Resource names of registeredResources / remainingResources.
const (
	ResourceCPU      = "CPU"
	ResourceMemory   = "MEMORY"
	ResourcePorts    = "PORTS"
	ResourcePortsUDP = "PORTS_UDP"
)

// DefaultReservedPorts are the TCP ports an ECS agent reserves on every
// container instance when the registration names none: SSH, the Docker
// daemon and the agent's introspection ports.
var DefaultReservedPorts = []int{22, 2375, 2376, 51678, 51679}

// InstanceKey is the BucketECSState key of a container instance record:
// inst.<cluster>.<instanceID>.
func InstanceKey(cluster, instanceID string) string {
	return "inst." + Token(cluster) + "." + instanceID
}

// InstanceFilter matches the instance records of one cluster.
func InstanceFilter(cluster string) string { return "inst." + Token(cluster) + ".*" }

// InstanceRecord is the value at InstanceKey: one container instance with
// its resources as placement sees them. Only the scheduler writes it, with
// the revision it read; a placement changes the record, the tasks and the
// assignments in one atomic batch, so Remaining* always equals Registered*
// minus what the instance's unstopped tasks hold.
//
// AgentConnected is the connectivity as of the last connect or disconnect
// the scheduler recorded; heartbeats themselves live in StreamHeartbeats and
// never touch the record, so its revision changes only with real changes.
type InstanceRecord struct {
	ID         string `json:"id"` // 32 hex digits
	ARN        string `json:"arn"`
	Cluster    string `json:"cluster"`
	ClusterARN string `json:"clusterArn"`
	// EC2InstanceID is the instanceId of the registration's
	// instanceIdentityDocument: the host's stable identity, so a restarted
	// agent gets the same container instance back.
	EC2InstanceID string `json:"ec2InstanceId,omitempty"`

	Status         string `json:"status"` // InstanceActive | InstanceDraining | InstanceInactive
	StatusReason   string `json:"statusReason,omitempty"`
	AgentConnected bool   `json:"agentConnected"`

	// Registered resources: CPU units (1024 per core), memory in MiB, and
	// the TCP and UDP ports reserved at registration.
	RegisteredCPU    int64 `json:"registeredCpu"`
	RegisteredMemory int64 `json:"registeredMemory"`
	RegisteredTCP    []int `json:"registeredTcp"`
	RegisteredUDP    []int `json:"registeredUdp"`
	// What is left: CPU and memory not held by tasks, and every reserved
	// port (the registration's plus each static host port of a task), as
	// ECS lists them in remainingResources.
	RemainingCPU    int64 `json:"remainingCpu"`
	RemainingMemory int64 `json:"remainingMemory"`
	ReservedTCP     []int `json:"reservedTcp"`
	ReservedUDP     []int `json:"reservedUdp"`

	// Tasks counts the tasks holding resources here (TaskRecord.Holding),
	// and Groups counts them per task group (placement's distinctInstance,
	// spread and task:group). How many of them run or are pending is not
	// stored: it follows from the task records, so a task starting does not
	// have to change its instance.
	Tasks  int            `json:"tasks"`
	Groups map[string]int `json:"groups,omitempty"`

	// Attributes, sorted by name: the registration's built-in ones
	// (ecs.os-type, ecs.availability-zone, ...) and custom ones. The
	// scheduler stores the capability attributes that carry no value
	// (com.amazonaws.ecs.capability.*) apart, as names without that prefix
	// in a "caps" array next to the record's fields, and puts them back
	// here when it reads the record.
	Attributes  []ecsapi.Attribute  `json:"attributes"`
	VersionInfo *ecsapi.VersionInfo `json:"versionInfo,omitempty"`
	Tags        []ecsapi.Tag        `json:"tags"`

	RegisteredAt time.Time `json:"registeredAt"`
	// ConnectedAt is the last (re-)registration: an agent counts as
	// connected for HeartbeatTimeout after it even before its first
	// heartbeat.
	ConnectedAt    time.Time  `json:"connectedAt"`
	UpdatedAt      time.Time  `json:"updatedAt"`
	DeregisteredAt *time.Time `json:"deregisteredAt,omitempty"`

	// Version increases with every change; it is detail.version of the
	// "ECS Container Instance State Change" events.
	Version int64 `json:"version"`
}

// Attribute returns the value of attribute name and whether it is set.
func (r *InstanceRecord) Attribute(name string) (string, bool) {
	for _, a := range r.Attributes {
		if a.Name == name {
			return a.Value, true
		}
	}
	return "", false
}

// Registered reports whether the instance still belongs to its cluster
// (ACTIVE, DRAINING or REGISTERING, not INACTIVE).
func (r *InstanceRecord) Registered() bool { return r.Status != InstanceInactive }

// ContainerInstanceDetail is the detail of an "ECS Container Instance State
// Change" event. Timestamps are ISO-8601 strings.
type ContainerInstanceDetail struct {
	AgentConnected       bool                `json:"agentConnected"`
	AgentUpdateStatus    string              `json:"agentUpdateStatus,omitempty"`
	Attributes           []ecsapi.Attribute  `json:"attributes"`
	ClusterArn           string              `json:"clusterArn"`
	ContainerInstanceArn string              `json:"containerInstanceArn"`
	EC2InstanceID        string              `json:"ec2InstanceId,omitempty"`
	RegisteredResources  []ecsapi.Resource   `json:"registeredResources"`
	RemainingResources   []ecsapi.Resource   `json:"remainingResources"`
	Status               string              `json:"status"`
	StatusReason         string              `json:"statusReason,omitempty"`
	Version              int64               `json:"version"`
	VersionInfo          *ecsapi.VersionInfo `json:"versionInfo,omitempty"`
	PendingTasksCount    int                 `json:"pendingTasksCount"`
	RunningTasksCount    int                 `json:"runningTasksCount"`
	RegisteredAt         string              `json:"registeredAt"`
	UpdatedAt            string              `json:"updatedAt"`
}
