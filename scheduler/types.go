package scheduler

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// InstanceStatus is a container instance status as ECS reports it.
type InstanceStatus string

// Container instance statuses. Only ACTIVE instances take new tasks.
const (
	StatusRegistering        InstanceStatus = "REGISTERING"
	StatusRegistrationFailed InstanceStatus = "REGISTRATION_FAILED"
	StatusActive             InstanceStatus = "ACTIVE"
	StatusDraining           InstanceStatus = "DRAINING"
	StatusDeregistering      InstanceStatus = "DEREGISTERING"
	StatusInactive           InstanceStatus = "INACTIVE"
)

// PortSet is a set of host ports (1-65535).
type PortSet map[int]struct{}

// NewPortSet returns a set holding ports.
func NewPortSet(ports ...int) PortSet {
	s := make(PortSet, len(ports))
	for _, p := range ports {
		s[p] = struct{}{}
	}
	return s
}

// Has reports whether p is in the set. A nil set holds nothing.
func (s PortSet) Has(p int) bool {
	_, ok := s[p]
	return ok
}

// Clone returns a copy of s; the copy of a nil set is an empty, non-nil set.
func (s PortSet) Clone() PortSet {
	c := make(PortSet, len(s))
	for p := range s {
		c[p] = struct{}{}
	}
	return c
}

// Sorted returns the ports in ascending order, as ECS lists them in
// stringSetValue.
func (s PortSet) Sorted() []int {
	out := make([]int, 0, len(s))
	for p := range s {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Instance is a snapshot of one container instance as placement sees it.
// Placement never modifies an Instance; Apply and Release return new values.
type Instance struct {
	ID             string // container instance id (the last ARN segment)
	ARN            string
	Status         InstanceStatus
	AgentConnected bool
	// Attributes maps attribute names to values. Presence-only attributes
	// (ECS capabilities such as com.amazonaws.ecs.capability.ecr-auth) have an
	// empty value.
	Attributes    map[string]string
	RegisteredAt  time.Time
	EC2InstanceID string
	AgentVersion  string

	RegisteredCPU    int64 // CPU units, 1024 per core
	RegisteredMemory int64 // MiB
	RemainingCPU     int64
	RemainingMemory  int64
	// ReservedTCP and ReservedUDP are the host ports in use: the agent's
	// defaults (22, 2375, 2376, 51678-51680) plus every static host port
	// held by a task on the instance.
	ReservedTCP PortSet
	ReservedUDP PortSet

	RunningTasks int // runningTasksCount
	PendingTasks int // pendingTasksCount
	// Groups counts the tasks on the instance (pending or running) per task
	// group, e.g. "service:web" or "family:batch". It drives
	// distinctInstance, spread and the task:group query subject.
	Groups map[string]int
}

// Resources is what one task holds on the instance it runs on.
type Resources struct {
	CPU    int64 // CPU units
	Memory int64 // MiB
	// TCPPorts and UDPPorts are static host ports. Dynamic ports (hostPort 0
	// or omitted in bridge mode) are not listed: they reserve nothing.
	TCPPorts []int
	UDPPorts []int
}

// ConstraintType is a placement constraint type.
type ConstraintType string

// Placement constraint types.
const (
	ConstraintDistinctInstance ConstraintType = "distinctInstance"
	ConstraintMemberOf         ConstraintType = "memberOf"
)

// Constraint is a placement constraint: binding, it can prevent placement.
type Constraint struct {
	Type       ConstraintType
	Expression string // cluster query language; memberOf only
}

// StrategyType is a placement strategy type.
type StrategyType string

// Placement strategy types.
const (
	StrategyBinpack StrategyType = "binpack"
	StrategyRandom  StrategyType = "random"
	StrategySpread  StrategyType = "spread"
)

// Strategy is a placement strategy: best effort, it ranks instances that
// already satisfy every requirement and constraint.
type Strategy struct {
	Type StrategyType
	// Field is cpu or memory for binpack; instanceId, host or
	// attribute:<name> for spread; empty for random.
	Field string
}

// Attribute is a container instance attribute a task requires: the
// instance must have an attribute of that name and, when Value is set,
// that value.
type Attribute struct {
	Name  string
	Value string
}

// TaskRequest describes the tasks to place: all tasks of one request share
// resources, group, constraints and strategies.
type TaskRequest struct {
	Resources
	// Attributes are the attributes every instance must have: the task
	// definition's requiresAttributes and its runtimePlatform (see
	// RequiredAttributes). An instance that lacks one fails with
	// ReasonAttribute.
	Attributes []Attribute
	// Group is the task group: "service:<name>" for service tasks,
	// "family:<family>" by default for standalone tasks.
	Group       string
	Constraints []Constraint
	// Strategies are applied in order; the first ranks, later ones break
	// ties. Empty means the RunTask default, random.
	Strategies []Strategy
}

// DefaultRunTaskStrategies is the placement used when RunTask names no
// strategy: tasks are placed randomly (AWS Compute Blog, "Amazon ECS Task
// Placement").
func DefaultRunTaskStrategies() []Strategy {
	return []Strategy{{Type: StrategyRandom}}
}

// DefaultServiceStrategies is the placement the service scheduler uses when a
// service names no strategy: spread across Availability Zones, then across
// the instances within each zone.
func DefaultServiceStrategies() []Strategy {
	return []Strategy{
		{Type: StrategySpread, Field: "attribute:ecs.availability-zone"},
		{Type: StrategySpread, Field: "instanceId"},
	}
}

// Failure reasons, as RunTask reports them in failures[].reason.
const (
	ReasonCPU      = "RESOURCE:CPU"
	ReasonMemory   = "RESOURCE:MEMORY"
	ReasonPorts    = "RESOURCE:PORTS"
	ReasonPortsUDP = "RESOURCE:PORTS_UDP"
	ReasonAgent    = "AGENT"
	// ReasonAttribute: the instance lacks an attribute the task requires
	// (requiresAttributes, runtimePlatform).
	ReasonAttribute        = "ATTRIBUTE"
	ReasonMemberOf         = "MemberOf placement constraint unsatisfied."
	ReasonDistinctInstance = "DistinctInstance placement constraint unsatisfied."
	// ReasonInactive is StartTask's reason for an instance that cannot take
	// tasks because it is not ACTIVE; Plan.Check returns it. Place skips
	// such instances without reporting them.
	ReasonInactive = "INACTIVE"
)

// Failure is one RunTask failure: the reason, and the ARN of the closest
// container instance that failed for that reason.
type Failure struct {
	ARN    string
	Reason string
	Detail string // empty for placement failures, as in RunTask
	// InstanceID is the id of the instance named by ARN, for messages.
	InstanceID string
}

// Message renders the failure as the service scheduler's event text after
// "was unable to place a task because no container instance met all of its
// requirements. ", e.g. "The closest matching container-instance 5f3c… has
// insufficient CPU units available."
func (f Failure) Message() string {
	prefix := "The closest matching container-instance " + f.InstanceID
	switch f.Reason {
	case ReasonCPU:
		return prefix + " has insufficient CPU units available."
	case ReasonMemory:
		return prefix + " has insufficient memory available."
	case ReasonPorts, ReasonPortsUDP:
		return prefix + " is already using a port required by your task."
	case ReasonAttribute:
		return prefix + " is missing an attribute required by your task."
	default:
		return prefix + " encountered error \"" + f.Reason + "\"."
	}
}

// Placement is one placed task.
type Placement struct {
	// Index is the position of the chosen instance in the slice given to
	// Place.
	Index       int
	InstanceID  string
	InstanceARN string
}

// Result is the outcome of placing count tasks. len(Placements) tasks were
// placed, in order; Unplaced could not be, and Failures says why (one entry
// per reason, closest instance first).
type Result struct {
	Placements []Placement
	Failures   []Failure
	Unplaced   int
}

// MsgNoContainerInstances is the AWS message for ErrNoContainerInstances.
const MsgNoContainerInstances = "No Container Instances were found in your cluster."

// Error classes. Every error this package returns matches one of them with
// errors.Is; its Error() text is fit to show to the API caller.
var (
	// ErrInvalidParameter marks bad input: an invalid expression, strategy,
	// constraint or resource request. The service answers
	// InvalidParameterException with the error's text.
	ErrInvalidParameter = errors.New("invalid parameter")
	// ErrNoContainerInstances means the cluster has no ACTIVE container
	// instance. The service answers InvalidParameterException with
	// MsgNoContainerInstances.
	ErrNoContainerInstances = errors.New("no container instances were found in the cluster")
	// ErrConflict means a placement no longer fits the instance (Apply) or
	// does not match what the instance holds (Release): the snapshot is
	// stale and the caller must re-read and place again.
	ErrConflict = errors.New("placement conflict")
)

// invalidError is an ErrInvalidParameter with an AWS-style message.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalidParameter }

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// ConflictError is an ErrConflict for one instance. Reason is a failure
// reason (ReasonCPU, ReasonMemory, ReasonPorts, ReasonPortsUDP), or GROUP or
// TASKS when Release finds no such task on the instance.
type ConflictError struct {
	InstanceARN string
	Reason      string
	Msg         string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("container instance %s: %s: %s", e.InstanceARN, e.Reason, e.Msg)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }
