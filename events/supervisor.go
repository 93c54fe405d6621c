package events

import (
	"encoding/json"
	"time"

	"github.com/berth-project/berth/events/ecsapi"
)

// BucketServices holds ECS services and their deployments, one
// ServiceRecord per ServiceKey(cluster, name). Only the supervisor writes
// it, always with the revision it read: every reconcile decision (start
// these tasks, stop those, a deployment's new rollout state) is one
// compare-and-set of the service's record, so replicas of the supervisor
// never decide twice for the same service.
var BucketServices = BucketDef{
	Name:        "ecs_services",
	Writer:      ServiceSupervisor,
	Description: "ECS services: svc.<cluster>.<service> -> ServiceRecord",
	History:     1,
}

// ServiceKey is the BucketServices key of a service: svc.<cluster>.<name>.
func ServiceKey(cluster, name string) string { return "svc." + Token(cluster) + "." + Token(name) }

// ServiceFilter matches the service records of one cluster.
func ServiceFilter(cluster string) string { return "svc." + Token(cluster) + ".*" }

// ServiceFilterAll matches every service record.
const ServiceFilterAll = "svc.>"

// SubjSupervisorCountServices is the internal request the scheduler sends
// for a cluster's service counters: body ServiceCountRequest, reply
// ServiceCountReply.
var SubjSupervisorCountServices = SubjInternal(ServiceSupervisor, "CountServices")

// ServiceCountRequest asks for the service counters of one cluster.
type ServiceCountRequest struct {
	Cluster string `json:"cluster"`
}

// ServiceCountReply holds a cluster's service counters by launch type.
type ServiceCountReply struct {
	ActiveEC2       int32 `json:"activeEC2"`
	ActiveFargate   int32 `json:"activeFargate"`
	DrainingEC2     int32 `json:"drainingEC2"`
	DrainingFargate int32 `json:"drainingFargate"`
}

// Service statuses.
const (
	ServiceActive   = "ACTIVE"
	ServiceDraining = "DRAINING"
	ServiceInactive = "INACTIVE"
)

// Scheduling strategies.
const (
	SchedulingReplica = "REPLICA"
	SchedulingDaemon  = "DAEMON"
)

// Deployment statuses and rollout states.
const (
	DeploymentPrimary  = "PRIMARY"
	DeploymentActive   = "ACTIVE"
	DeploymentInactive = "INACTIVE"

	RolloutInProgress = "IN_PROGRESS"
	RolloutCompleted  = "COMPLETED"
	RolloutFailed     = "FAILED"
)

// ServiceRecord is the value at ServiceKey: one service as DescribeServices
// shows it, the deployments and the tasks it started, and what its
// reconciler needs to carry on where another replica left off.
type ServiceRecord struct {
	Name       string `json:"name"`
	ARN        string `json:"arn"`
	Cluster    string `json:"cluster"`
	ClusterARN string `json:"clusterArn"`
	Status     string `json:"status"` // ServiceActive | ServiceDraining | ServiceInactive

	// TaskDefinition is the ARN of the PRIMARY deployment's revision.
	TaskDefinition     string `json:"taskDefinition"`
	DesiredCount       int32  `json:"desiredCount"`
	LaunchType         string `json:"launchType"`
	SchedulingStrategy string `json:"schedulingStrategy"`
	PropagateTags      string `json:"propagateTags,omitempty"`
	EnableECSManaged   bool   `json:"enableECSManagedTags"`
	EnableExecute      bool   `json:"enableExecuteCommand"`
	HealthCheckGrace   *int32 `json:"healthCheckGracePeriodSeconds,omitempty"`

	DeploymentConfiguration ecsapi.DeploymentConfiguration `json:"deploymentConfiguration"`
	PlacementConstraints    []ecsapi.PlacementConstraint   `json:"placementConstraints"`
	PlacementStrategy       []ecsapi.PlacementStrategy     `json:"placementStrategy"`
	Tags                    []ecsapi.Tag                   `json:"tags"`

	// NetworkConfiguration is the awsvpc configuration the service's tasks
	// are run with (passed to RunTask as given).
	NetworkConfiguration *ecsapi.NetworkConfiguration `json:"networkConfiguration,omitempty"`

	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy,omitempty"`
	// CreateHash identifies the CreateService request: the same request
	// again returns this service, another one is "not idempotent".
	CreateHash string `json:"createHash"`

	// Deployments, PRIMARY first. ACTIVE ones leave the list once their
	// tasks are gone.
	Deployments []DeploymentRecord `json:"deployments"`
	// Completed is the last deployment that completed: what a circuit
	// breaker rolls back to (it may have left Deployments already).
	Completed *DeploymentRecord `json:"completed,omitempty"`
	// Launches are decided task starts not yet folded into Tasks: RunTask
	// (or StartTask) with clientToken Token, re-sent by whoever reconciles
	// next until its tasks are known, so a start is never made twice.
	Launches []ServiceLaunch `json:"launches"`
	// Tasks are the service's tasks not yet seen STOPPED.
	Tasks []ServiceTask `json:"tasks"`
	// Events are the service events, newest first, at most 100.
	Events []ServiceEvent `json:"events"`
	// Outbox holds the public events of the last decision; whoever
	// reconciles next publishes them again (Nats-Msg-Id de-duplicates).
	Outbox []ServiceOutEvent `json:"outbox,omitempty"`
	// RunningCount and PendingCount are the service's counters as of
	// the last reconcile.
	RunningCount int32 `json:"runningCount"`
	PendingCount int32 `json:"pendingCount"`
	// Seq numbers launches and public events.
	Seq int64 `json:"seq"`

	// Backoff of failing launches: Step consecutive failed rounds, no
	// launch before Until.
	BackoffStep  int       `json:"backoffStep,omitempty"`
	BackoffUntil time.Time `json:"backoffUntil,omitzero"`
	// PlaceRetryAt delays the next launch after a placement failure.
	PlaceRetryAt time.Time `json:"placeRetryAt,omitzero"`
	// Steady is set once the steady-state event was recorded, until the
	// service leaves its steady state.
	Steady bool `json:"steady,omitempty"`
	// ReconciledAt is the last reconcile that wrote the record; WakeAt
	// the earliest moment the next one is due without any event.
	ReconciledAt time.Time  `json:"reconciledAt"`
	WakeAt       time.Time  `json:"wakeAt,omitzero"`
	UpdatedAt    time.Time  `json:"updatedAt"`
	DeletedAt    *time.Time `json:"deletedAt,omitempty"`
	// Version increases with every write.
	Version int64 `json:"version"`
}

// DeploymentRecord is one deployment of a service.
type DeploymentRecord struct {
	ID                 string `json:"id"` // ecs-svc/<19 digits>
	Status             string `json:"status"`
	TaskDefinition     string `json:"taskDefinition"`
	DesiredCount       int32  `json:"desiredCount"`
	PendingCount       int32  `json:"pendingCount"`
	RunningCount       int32  `json:"runningCount"`
	FailedTasks        int32  `json:"failedTasks"`
	LaunchType         string `json:"launchType"`
	RolloutState       string `json:"rolloutState"`
	RolloutStateReason string `json:"rolloutStateReason"`
	// HealthCheck: the task definition has a container health check on an
	// essential container, so tasks count as healthy only when HEALTHY.
	HealthCheck bool `json:"healthCheck,omitempty"`
	// EverRunning: a task of the deployment reached RUNNING (the circuit
	// breaker's second stage).
	EverRunning bool `json:"everRunning,omitempty"`
	// RollbackOf is set on a rollback deployment: the failed one.
	RollbackOf string    `json:"rollbackOf,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// ServiceLaunch is one decided RunTask. Request is the exact request
// (clientToken Token included), so sending it again replays the same tasks.
// A DAEMON launch targets Instance (pinned by its ec2InstanceId).
type ServiceLaunch struct {
	Token      string          `json:"token"`
	Deployment string          `json:"deployment"`
	Count      int32           `json:"count"`
	Instance   string          `json:"instance,omitempty"`
	Request    json.RawMessage `json:"request"`
	CreatedAt  time.Time       `json:"createdAt"`
}

// ServiceTask is one task of a service as its last reconcile saw it.
type ServiceTask struct {
	ARN           string     `json:"arn"`
	Deployment    string     `json:"deployment"`
	Instance      string     `json:"instance,omitempty"` // container instance ARN
	LastStatus    string     `json:"lastStatus"`
	DesiredStatus string     `json:"desiredStatus"`
	HealthStatus  string     `json:"healthStatus,omitempty"`
	RunningSince  *time.Time `json:"runningSince,omitempty"`
	// StopReason is set once the reconciler decided to stop the task.
	StopReason string    `json:"stopReason,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
}

// ServiceEvent is one entry of a service's events[].
type ServiceEvent struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"createdAt"`
	Message   string    `json:"message"`
}

// ServiceOutEvent is one public event decided with the record.
type ServiceOutEvent struct {
	Subject string `json:"subject"`
	MsgID   string `json:"msgId"`
	Data    []byte `json:"data"`
}

// Event names of "ECS Service Action" and "ECS Deployment State Change".
const (
	EventTypeInfo  = "INFO"
	EventTypeWarn  = "WARN"
	EventTypeError = "ERROR"

	ServiceSteadyState             = "SERVICE_STEADY_STATE"
	ServiceDesiredCountUpdated     = "SERVICE_DESIRED_COUNT_UPDATED"
	ServiceTaskStartImpaired       = "SERVICE_TASK_START_IMPAIRED"
	ServiceTaskPlacementFailure    = "SERVICE_TASK_PLACEMENT_FAILURE"
	ServiceDaemonConstraintViolate = "SERVICE_DAEMON_PLACEMENT_CONSTRAINT_VIOLATED"

	DeploymentInProgressEvent = "SERVICE_DEPLOYMENT_IN_PROGRESS"
	DeploymentCompletedEvent  = "SERVICE_DEPLOYMENT_COMPLETED"
	DeploymentFailedEvent     = "SERVICE_DEPLOYMENT_FAILED"
)

// ServiceActionDetail is the detail of an "ECS Service Action" event
// (no version, unlike task and instance events).
type ServiceActionDetail struct {
	EventType             string   `json:"eventType"`
	EventName             string   `json:"eventName"`
	ClusterArn            string   `json:"clusterArn"`
	CreatedAt             string   `json:"createdAt"`
	CapacityProviderArns  []string `json:"capacityProviderArns,omitempty"`
	ContainerInstanceArns []string `json:"containerInstanceArns,omitempty"`
	DesiredCount          *int32   `json:"desiredCount,omitempty"`
	Reason                string   `json:"reason,omitempty"`
}

// DeploymentStateChangeDetail is the detail of an "ECS Deployment State
// Change" event.
type DeploymentStateChangeDetail struct {
	EventType    string `json:"eventType"`
	EventName    string `json:"eventName"`
	DeploymentID string `json:"deploymentId"`
	UpdatedAt    string `json:"updatedAt"`
	Reason       string `json:"reason"`
}
