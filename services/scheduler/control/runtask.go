package control

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/jsonx"
	"github.com/berth-project/berth/scheduler"
)

// Limits of RunTask and StartTask.
const (
	maxRunCount       = 10
	maxStartInstances = 10
	maxStartedBy      = 128
	maxOverrides      = 8192
	maxClientToken    = 64
)

// taskSpec is a checked RunTask or StartTask request: what every task of
// it looks like and how to place it.
type taskSpec struct {
	cluster *events.ClusterRecord
	td      *events.TaskDefRecord
	// tdJSON is the task definition as the agent runs it (td with the
	// overrides' cpu, memory and other container settings applied, see
	// scheduler.ApplyOverrides), marshalled once for every assignment.
	tdJSON    json.RawMessage
	overrides *ecsapi.TaskOverride
	res       scheduler.Resources
	// attrs are the instance attributes the task requires.
	attrs      []scheduler.Attribute
	plan       *scheduler.Plan
	group      string
	startedBy  string
	reference  string
	tags       []ecsapi.Tag
	enableExec bool
	count      int
	// targets are StartTask's instance references (nil for RunTask).
	targets []string
	// token and tokenHash are RunTask's clientToken and the hash of the
	// rest of the request; tokenRev is the token key's current revision.
	token     string
	tokenHash string
	tokenRev  uint64
	// traceParent is the placement span's W3C traceparent, written in the
	// assignments so the agent continues the trace.
	traceParent string
	// launch says whether the tasks run on Fargate capacity; network is
	// the networkConfiguration of awsvpc tasks (see fargate.go).
	launch  launch
	network *ecsapi.NetworkConfiguration
}

func (s *Service) runTask(ctx context.Context, in *ecsapi.RunTaskRequest) (any, error) {
	c, err := s.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	count := int(awsjson.Value(in.Count))
	if in.Count == nil {
		count = 1
	}
	if count < 1 || count > maxRunCount {
		return nil, invalid(msgCount)
	}
	l, err := resolveLaunch(c, in.LaunchType, in.CapacityProviderStrategy, count)
	if err != nil {
		return nil, err
	}
	if err := checkPlatformVersion(l, in.PlatformVersion); err != nil {
		return nil, err
	}
	if !validClientToken(in.ClientToken) {
		return nil, invalid(msgClientToken)
	}
	sp, err := s.newSpec(ctx, c, in.TaskDefinition, in.Overrides, in.Group, in.StartedBy, in.Tags, in.PropagateTags)
	if err != nil {
		return nil, err
	}
	if err := checkLaunchSpec(sp, l, in.NetworkConfiguration); err != nil {
		return nil, err
	}
	sp.count, sp.reference, sp.enableExec = count, in.ReferenceId, awsjson.Value(in.EnableExecuteCommand)
	constraints := scheduler.TaskDefinitionConstraintsFromAPI(sp.td.TaskDefinition.PlacementConstraints)
	if err := scheduler.ValidateTaskDefinitionConstraints(constraints); err != nil {
		return nil, invalid("%s", err.Error())
	}
	constraints = append(constraints, scheduler.ConstraintsFromAPI(in.PlacementConstraints)...)
	strategies := scheduler.StrategiesFromAPI(in.PlacementStrategy)
	if l.fargate { // Fargate tasks take no placement constraints or strategies
		constraints, strategies = nil, nil
	}
	if sp.plan, err = compilePlan(sp, constraints, strategies); err != nil {
		return nil, err
	}
	if in.ClientToken != "" {
		sp.token = in.ClientToken
		req := *in
		req.ClientToken = ""
		sum := sha256.Sum256(mustJSON(req))
		sp.tokenHash = hex.EncodeToString(sum[:])
	}
	tasks, failures, err := s.place(ctx, sp)
	if err != nil {
		return nil, err
	}
	return &ecsapi.RunTaskResponse{Tasks: renderTasks(tasks), Failures: failures}, nil
}

func (s *Service) startTask(ctx context.Context, in *ecsapi.StartTaskRequest) (any, error) {
	c, err := s.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	switch {
	case len(in.ContainerInstances) == 0:
		return nil, errClient(msgInstancesEmpty)
	case len(in.ContainerInstances) > maxStartInstances:
		return nil, invalid(msgTooManyStartInstances)
	}
	sp, err := s.newSpec(ctx, c, in.TaskDefinition, in.Overrides, in.Group, in.StartedBy, in.Tags, in.PropagateTags)
	if err != nil {
		return nil, err
	}
	if err := checkLaunchSpec(sp, launch{}, in.NetworkConfiguration); err != nil {
		return nil, err
	}
	sp.targets, sp.count = in.ContainerInstances, len(in.ContainerInstances)
	sp.reference, sp.enableExec = in.ReferenceId, awsjson.Value(in.EnableExecuteCommand)
	// StartTask names its instances: no strategy, no constraint, but the
	// resources must fit.
	if sp.plan, err = compilePlan(sp, nil, nil); err != nil {
		return nil, err
	}
	tasks, failures, err := s.place(ctx, sp)
	if err != nil {
		return nil, err
	}
	return &ecsapi.StartTaskResponse{Tasks: renderTasks(tasks), Failures: failures}, nil
}

// newSpec checks what RunTask and StartTask share and resolves the task
// definition and its resources.
func (s *Service) newSpec(ctx context.Context, c *events.ClusterRecord, tdRef string, ov *ecsapi.TaskOverride, group, startedBy string, tags []ecsapi.Tag, propagate string) (*taskSpec, error) {
	if tdRef == "" {
		return nil, invalid(msgTaskDefRequired)
	}
	if utf8.RuneCountInString(startedBy) > maxStartedBy {
		return nil, invalid(msgStartedBy)
	}
	if err := checkTags(tags); err != nil {
		return nil, err
	}
	switch propagate {
	case "", "TASK_DEFINITION", "SERVICE", "NONE":
	default:
		return nil, invalid(msgPropagateTags, propagate)
	}
	if ov != nil && len(mustJSON(ov)) > maxOverrides {
		return nil, invalid(msgOverridesTooLong)
	}
	td, err := s.resolveTaskDef(ctx, tdRef)
	if err != nil {
		return nil, err
	}
	if td.TaskDefinition.Status != events.TaskDefActive {
		return nil, invalid(msgTaskDefInactive)
	}
	if ov != nil {
		for _, co := range ov.ContainerOverrides {
			if !slices.ContainsFunc(td.TaskDefinition.ContainerDefinitions, func(cd ecsapi.ContainerDefinition) bool { return cd.Name == co.Name }) {
				return nil, invalid(msgOverrideName, co.Name)
			}
		}
	}
	eff, err := scheduler.ApplyOverrides(&td.TaskDefinition, ov)
	if err != nil {
		return nil, invalid("%s", err.Error())
	}
	res, err := scheduler.Reserved(eff)
	if err != nil {
		return nil, invalid("%s", err.Error())
	}
	if group == "" {
		group = "family:" + td.TaskDefinition.Family
	}
	if propagate == "TASK_DEFINITION" {
		tags = mergeTags(td.Tags, tags)
	}
	return &taskSpec{
		cluster: c, td: td, tdJSON: mustJSON(eff), overrides: ov, res: res, attrs: scheduler.RequiredAttributes(eff),
		group: group, startedBy: startedBy, tags: tags,
	}, nil
}

// compilePlan compiles the placement of sp; invalid constraints and
// strategies are InvalidParameterExceptions.
func compilePlan(sp *taskSpec, cs []scheduler.Constraint, ss []scheduler.Strategy) (*scheduler.Plan, error) {
	plan, err := scheduler.Compile(scheduler.TaskRequest{Resources: sp.res, Attributes: sp.attrs, Group: sp.group, Constraints: cs, Strategies: ss})
	if err != nil {
		if errors.Is(err, scheduler.ErrInvalidParameter) {
			return nil, invalid("%s", err.Error())
		}
		return nil, err
	}
	return plan, nil
}

// validClientToken: up to 64 ASCII characters in the range 33-126.
func validClientToken(t string) bool {
	if len(t) > maxClientToken {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] < 33 || t[i] > 126 {
			return false
		}
	}
	return true
}

func renderTasks(tasks []*events.TaskRecord) []ecsapi.Task {
	out := make([]ecsapi.Task, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, renderTask(t, false))
	}
	return out
}

// newTask builds the record of one task of sp placed on rec.
func (s *Service) newTask(sp *taskSpec, id string, rec *events.InstanceRecord, now time.Time) *events.TaskRecord {
	td := &sp.td.TaskDefinition
	cluster := sp.cluster.Name
	t := &events.TaskRecord{
		ID:                   id,
		ARN:                  s.taskARN(cluster, id),
		Cluster:              cluster,
		ClusterARN:           sp.cluster.ARN,
		TaskDefinitionARN:    td.TaskDefinitionArn,
		Family:               td.Family,
		Revision:             awsjson.Value(td.Revision),
		ContainerInstanceID:  rec.ID,
		ContainerInstanceARN: rec.ARN,
		LaunchType:           events.LaunchTypeEC2,
		LastStatus:           events.TaskProvisioning,
		DesiredStatus:        events.DesiredRunning,
		HealthStatus:         "UNKNOWN",
		CPU:                  td.Cpu,
		Memory:               td.Memory,
		Held: events.TaskResources{
			CPU: sp.res.CPU, Memory: sp.res.Memory,
			TCPPorts: slices.Clone(sp.res.TCPPorts), UDPPorts: slices.Clone(sp.res.UDPPorts),
		},
		Holding:              true,
		Group:                sp.group,
		StartedBy:            sp.startedBy,
		Overrides:            sp.overrides,
		Tags:                 nonNilTags(sp.tags),
		EnableExecuteCommand: sp.enableExec,
		Connectivity:         "CONNECTED",
		ConnectivityAt:       &now,
		CreatedAt:            now,
		UpdatedAt:            now,
		ClientToken:          sp.token,
		ReferenceID:          sp.reference,
		Version:              1,
	}
	if az, ok := rec.Attribute("ecs.availability-zone"); ok {
		t.AvailabilityZone = az
	}
	if arch, ok := rec.Attribute("ecs.cpu-architecture"); ok {
		t.Attributes = []ecsapi.Attribute{{Name: "ecs.cpu-architecture", Value: arch}}
	}
	if sp.overrides != nil && sp.overrides.Cpu != "" {
		t.CPU = sp.overrides.Cpu
	}
	if sp.overrides != nil && sp.overrides.Memory != "" {
		t.Memory = sp.overrides.Memory
	}
	if t.CPU == "" {
		t.CPU = strconv.FormatInt(sp.res.CPU, 10)
	}
	if t.Memory == "" {
		t.Memory = strconv.FormatInt(sp.res.Memory, 10)
	}
	for _, cd := range td.ContainerDefinitions {
		cpu, mem, memRes := cd.Cpu, cd.Memory, cd.MemoryReservation
		if sp.overrides != nil {
			for _, o := range sp.overrides.ContainerOverrides {
				if o.Name == cd.Name {
					cpu = cmpPtr(o.Cpu, cpu)
					mem = cmpPtr(o.Memory, mem)
					memRes = cmpPtr(o.MemoryReservation, memRes)
				}
			}
		}
		c := events.TaskContainer{
			ARN:        events.ContainerARN(s.cfg.Region, s.cfg.Account, cluster, id, newUUID()),
			Name:       cd.Name,
			Image:      cd.Image,
			LastStatus: events.ContainerPending,
			CPU:        strconv.Itoa(int(awsjson.Value(cpu))),
			Essential:  cd.Essential == nil || *cd.Essential,
		}
		if mem != nil {
			c.Memory = strconv.Itoa(int(*mem))
		}
		if memRes != nil {
			c.MemoryReservation = strconv.Itoa(int(*memRes))
		}
		t.Containers = append(t.Containers, c)
	}
	return t
}

func cmpPtr[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}

// assignmentWire is events.TaskAssignment with the task definition as
// ready JSON: the same document, without marshalling the task definition
// again for every task of a request.
type assignmentWire struct {
	TaskArn              string               `json:"taskArn"`
	ClusterArn           string               `json:"clusterArn"`
	ContainerInstanceArn string               `json:"containerInstanceArn"`
	TaskDefinitionArn    string               `json:"taskDefinitionArn"`
	TaskDefinition       json.RawMessage      `json:"taskDefinition"`
	Overrides            *ecsapi.TaskOverride `json:"overrides,omitempty"`
	DesiredStatus        string               `json:"desiredStatus"`
	StopCode             string               `json:"stopCode,omitempty"`
	StoppedReason        string               `json:"stoppedReason,omitempty"`
	StartedBy            string               `json:"startedBy,omitempty"`
	Group                string               `json:"group,omitempty"`
	CreatedAt            time.Time            `json:"createdAt"`
	Version              int64                `json:"version"`
	TraceParent          string               `json:"traceParent,omitempty"`
}

// assignment is the agent's desired state for a new task.
func assignment(t *events.TaskRecord, sp *taskSpec) *assignmentWire {
	return &assignmentWire{
		TaskArn:              t.ARN,
		ClusterArn:           t.ClusterARN,
		ContainerInstanceArn: t.ContainerInstanceARN,
		TaskDefinitionArn:    t.TaskDefinitionARN,
		TaskDefinition:       sp.tdJSON,
		Overrides:            sp.overrides,
		DesiredStatus:        events.DesiredRunning,
		StartedBy:            t.StartedBy,
		Group:                t.Group,
		CreatedAt:            t.CreatedAt,
		Version:              1,
		TraceParent:          sp.traceParent,
	}
}

// tokenKey is the index key of a RunTask clientToken:
// tok.<cluster>.<hash of the token>.
func tokenKey(cluster, token string) string {
	sum := sha256.Sum256([]byte(token))
	return "tok." + events.Token(cluster) + "." + hex.EncodeToString(sum[:16])
}

// tokenRecord is the value at tokenKey: the request it belongs to and the
// tasks it created. It is written in the placement's atomic batch, so a
// token exists exactly when its tasks do.
type tokenRecord struct {
	Hash      string           `json:"hash"`
	TaskARNs  []string         `json:"taskArns"`
	Failures  []ecsapi.Failure `json:"failures"`
	CreatedAt time.Time        `json:"createdAt"`
}

// replayToken answers a RunTask whose clientToken was already used: the
// same request gets the tasks it created (and their events again, which the
// stream de-duplicates), another one a ConflictException. done is false
// when the token is unused or expired; sp.tokenRev is then the revision a
// new token record must expect.
func (s *Service) replayToken(ctx context.Context, sp *taskSpec) (done bool, tasks []*events.TaskRecord, failures []ecsapi.Failure, err error) {
	raw, rev, deleted, err := s.state.last(ctx, tokenKey(sp.cluster.Name, sp.token))
	if err != nil {
		return false, nil, nil, err
	}
	sp.tokenRev = rev
	if raw == nil || deleted {
		return false, nil, nil, nil
	}
	var tok tokenRecord
	if err := jsonx.Unmarshal(raw, &tok); err != nil {
		return false, nil, nil, err
	}
	if s.cfg.Now().Sub(tok.CreatedAt) > s.cfg.TokenRetention {
		return false, nil, nil, nil
	}
	if tok.Hash != sp.tokenHash {
		return true, nil, nil, errTokenConflict(tok.TaskARNs)
	}
	var evs []outEvent
	for _, arn := range tok.TaskARNs {
		id, _ := s.taskRef(sp.cluster.Name, arn)
		t, _, err := s.state.getTask(ctx, sp.cluster.Name, id)
		if err != nil {
			return true, nil, nil, err
		}
		if t != nil {
			tasks = append(tasks, t)
			evs = append(evs, s.pub.taskEvent(t))
		}
	}
	s.pub.publish(ctx, evs...)
	return true, tasks, nonNilFailures(tok.Failures), nil
}

func nonNilFailures(f []ecsapi.Failure) []ecsapi.Failure {
	if f == nil {
		return []ecsapi.Failure{}
	}
	return f
}
