package reconcile

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
)

// Params are the knobs of a decision.
type Params struct {
	Region, Account string
	// HealthyAfter is how long a RUNNING task without a container health
	// check waits before it counts as healthy (ECS: 40 s).
	HealthyAfter time.Duration
	// BackoffBase and BackoffMax bound the delay between launch rounds
	// after tasks failed to start: Base, 2 x Base, ... up to Max.
	BackoffBase, BackoffMax time.Duration
	// PlaceRetry is the delay after a placement failure.
	PlaceRetry time.Duration
	// NewID returns a fresh event id (a UUID).
	NewID func() string
}

// TaskObs is what the scheduler says about one task of the service.
type TaskObs struct {
	LastStatus    string
	DesiredStatus string
	HealthStatus  string
	Instance      string
	StartedAt     *time.Time
	StopCode      string
	StoppedReason string
	// Missing: the scheduler no longer knows the task (it stopped long ago).
	Missing bool
}

// Instance is a container instance a DAEMON service runs on.
type Instance struct {
	ARN   string
	EC2ID string
}

// Input is the observed world.
type Input struct {
	Now time.Time
	// Tasks holds what the scheduler says about the tasks of the record
	// (by ARN); a task absent from the map is left as it was.
	Tasks map[string]TaskObs
	// Draining holds the container instances whose tasks must move
	// (DRAINING ones).
	Draining map[string]bool
	// Eligible are the ACTIVE instances meeting the constraints, for
	// DAEMON services (Daemon true when it was observed).
	Eligible []Instance
	Daemon   bool
}

// Stop is a task the service stops.
type Stop struct {
	ARN    string
	Reason string
}

// Result is a decision.
type Result struct {
	// Changed reports whether the record differs from the input.
	Changed bool
	// Stops are the stops decided now.
	Stops []Stop
}

// decider carries one decision.
type decider struct {
	rec *events.ServiceRecord
	in  *Input
	p   Params
	res Result
	// public events decided now (replacing the record's outbox).
	out []events.ServiceOutEvent
}

// Decide folds in into rec (which it modifies) and decides what to start
// and stop. New launches are appended to rec.Launches; stops are marked on
// the tasks (StopReason) and returned. rec.Outbox gets the public events
// of this decision when it decided any.
func Decide(rec *events.ServiceRecord, in Input, p Params) Result {
	saved := rec.Outbox
	rec.Outbox = nil
	before, _ := json.Marshal(rec)
	d := &decider{rec: rec, in: &in, p: p}
	d.fold()
	d.healthStops()
	d.circuitBreaker()
	if rec.SchedulingStrategy == events.SchedulingDaemon {
		d.daemon()
	} else {
		d.replica()
	}
	d.finish()
	after, _ := json.Marshal(rec)
	d.res.Changed = string(before) != string(after) || len(d.out) > 0
	rec.Outbox = saved
	if d.res.Changed {
		rec.Outbox = d.out
	}
	return d.res
}

// primary returns the PRIMARY deployment.
func (d *decider) primary() *events.DeploymentRecord {
	for i := range d.rec.Deployments {
		if d.rec.Deployments[i].Status == events.DeploymentPrimary {
			return &d.rec.Deployments[i]
		}
	}
	return nil
}

func (d *decider) deployment(id string) *events.DeploymentRecord {
	for i := range d.rec.Deployments {
		if d.rec.Deployments[i].ID == id {
			return &d.rec.Deployments[i]
		}
	}
	return nil
}

// fold brings the tasks up to date and accounts for those that stopped.
func (d *decider) fold() {
	rec, now := d.rec, d.in.Now
	kept := rec.Tasks[:0]
	failedLaunch := false
	for _, t := range rec.Tasks {
		o, ok := d.in.Tasks[t.ARN]
		if !ok {
			kept = append(kept, t)
			continue
		}
		stopped := o.Missing || o.LastStatus == events.TaskStopped
		if !o.Missing {
			t.LastStatus, t.DesiredStatus, t.HealthStatus = o.LastStatus, o.DesiredStatus, o.HealthStatus
			if o.Instance != "" {
				t.Instance = o.Instance
			}
		}
		dep := d.deployment(t.Deployment)
		if t.RunningSince == nil && (o.LastStatus == events.TaskRunning || (o.StartedAt != nil && !stopped)) {
			at := now
			if o.StartedAt != nil {
				at = *o.StartedAt
			}
			t.RunningSince = &at
			rec.BackoffStep, rec.BackoffUntil = 0, time.Time{}
			if dep != nil && !dep.EverRunning {
				dep.EverRunning, dep.FailedTasks = true, 0
			}
		}
		if !stopped {
			kept = append(kept, t)
			continue
		}
		switch {
		case t.StopReason == "" && t.RunningSince == nil:
			failedLaunch = true
			if dep != nil && !dep.EverRunning {
				dep.FailedTasks++
			}
		case t.StopReason == msgHealthReason:
			if dep != nil && dep.EverRunning {
				dep.FailedTasks++
			}
		}
	}
	rec.Tasks = kept
	if failedLaunch && !now.Before(rec.BackoffUntil) {
		rec.BackoffStep++
		delay := d.p.BackoffBase << min(rec.BackoffStep-1, 20)
		if delay > d.p.BackoffMax || delay <= 0 {
			delay = d.p.BackoffMax
		}
		rec.BackoffUntil = now.Add(delay)
		if rec.BackoffStep >= 2 {
			d.event(fmt.Sprintf("(service %s) is unable to consistently start tasks successfully.", rec.Name))
			d.action(events.EventTypeWarn, events.ServiceTaskStartImpaired, "")
		}
	}
}

const msgHealthReason = "Task failed container health checks"

// healthStops stops the RUNNING tasks that turned UNHEALTHY.
func (d *decider) healthStops() {
	for i := range d.rec.Tasks {
		t := &d.rec.Tasks[i]
		if t.StopReason == "" && t.LastStatus == events.TaskRunning && t.HealthStatus == "UNHEALTHY" {
			d.event(fmt.Sprintf("(service %s) (task %s) failed container health checks.", d.rec.Name, taskID(t.ARN)))
			d.stop(t, msgHealthReason)
		}
	}
}

// Threshold is the circuit breaker's failed-task threshold for desired
// tasks: half of it rounded up, at least 10, at most 200.
func Threshold(desired int32) int32 {
	return min(max((desired+1)/2, 10), 200)
}

// circuitBreaker fails the PRIMARY deployment at the threshold and, with
// rollback, starts a deployment back to the last completed one.
func (d *decider) circuitBreaker() {
	rec := d.rec
	cb := rec.DeploymentConfiguration.DeploymentCircuitBreaker
	p := d.primary()
	if cb == nil || !awsjson.Value(cb.Enable) || p == nil || p.RolloutState != events.RolloutInProgress {
		return
	}
	if p.FailedTasks < Threshold(p.DesiredCount) {
		return
	}
	now := d.in.Now
	p.RolloutState = events.RolloutFailed
	p.RolloutStateReason = "ECS deployment circuit breaker: task failed to start."
	p.UpdatedAt = now
	d.event(fmt.Sprintf("(service %s) (deployment %s) deployment failed: tasks failed to start.", rec.Name, p.ID))
	d.deploymentEvent(events.EventTypeError, events.DeploymentFailedEvent, p.ID, p.RolloutStateReason)
	if !awsjson.Value(cb.Rollback) {
		return
	}
	target := rec.Completed
	if target == nil || target.ID == p.ID {
		return
	}
	d.event(fmt.Sprintf("(service %s) rolling back to deployment %s.", rec.Name, target.ID))
	failedID, targetID := p.ID, target.ID
	nd := NewDeployment(d.nextDeploymentID(), target.TaskDefinition, rec.DesiredCount, target.HealthCheck, now)
	nd.RollbackOf = failedID
	nd.RolloutStateReason = "ECS deployment circuit breaker: rolling back to deploymentId " + targetID + "."
	AddDeployment(rec, nd)
	// The tasks of the deployment rolled back to run the same task
	// definition: they carry on as the rollback's.
	for i := range rec.Tasks {
		if rec.Tasks[i].Deployment == targetID && rec.Tasks[i].StopReason == "" {
			rec.Tasks[i].Deployment = nd.ID
			if rec.Tasks[i].RunningSince != nil {
				rec.Deployments[0].EverRunning = true
			}
		}
	}
	d.deploymentEvent(events.EventTypeInfo, events.DeploymentInProgressEvent, nd.ID, nd.RolloutStateReason)
}

// nextDeploymentID derives a deployment id from the record's sequence.
func (d *decider) nextDeploymentID() string {
	d.rec.Seq++
	return DeploymentID(d.in.Now, d.rec.Seq)
}

// DeploymentID is an id of the form ecs-svc/<19 digits>, from the time and
// a sequence number.
func DeploymentID(now time.Time, seq int64) string {
	n := uint64(now.UnixMicro())%10_000_000_000_000_000*1000 + uint64(seq%1000)
	return fmt.Sprintf("ecs-svc/%019d", n)
}

// NewDeployment returns a PRIMARY deployment IN_PROGRESS.
func NewDeployment(id, taskDef string, desired int32, healthCheck bool, now time.Time) events.DeploymentRecord {
	return events.DeploymentRecord{
		ID: id, Status: events.DeploymentPrimary, TaskDefinition: taskDef, DesiredCount: desired,
		LaunchType: events.LaunchTypeEC2, RolloutState: events.RolloutInProgress,
		RolloutStateReason: "ECS deployment " + id + " in progress.",
		HealthCheck:        healthCheck, CreatedAt: now, UpdatedAt: now,
	}
}

// AddDeployment makes dep the PRIMARY deployment of rec; the previous ones
// become ACTIVE.
func AddDeployment(rec *events.ServiceRecord, dep events.DeploymentRecord) {
	for i := range rec.Deployments {
		if rec.Deployments[i].Status == events.DeploymentPrimary {
			rec.Deployments[i].Status = events.DeploymentActive
			rec.Deployments[i].UpdatedAt = dep.CreatedAt
		}
	}
	rec.Deployments = append([]events.DeploymentRecord{dep}, rec.Deployments...)
	rec.TaskDefinition = dep.TaskDefinition
	rec.Steady = false
}

// healthy reports whether t counts toward minimumHealthyPercent.
func (d *decider) healthy(t *events.ServiceTask) bool {
	if t.StopReason != "" || t.LastStatus != events.TaskRunning || t.RunningSince == nil {
		return false
	}
	if dep := d.deployment(t.Deployment); dep != nil && dep.HealthCheck {
		return t.HealthStatus == "HEALTHY"
	}
	return !d.in.Now.Before(t.RunningSince.Add(d.p.HealthyAfter))
}

// bounds are the task counts a deployment must stay within.
func bounds(rec *events.ServiceRecord, desired int32) (lo, hi int) {
	minPct := int32(100)
	maxPct := int32(200)
	if rec.SchedulingStrategy == events.SchedulingDaemon {
		minPct, maxPct = 0, 100
	}
	if v := rec.DeploymentConfiguration.MinimumHealthyPercent; v != nil {
		minPct = *v
	}
	if v := rec.DeploymentConfiguration.MaximumPercent; v != nil {
		maxPct = *v
	}
	lo = int(math.Ceil(float64(desired) * float64(minPct) / 100))
	hi = int(math.Floor(float64(desired) * float64(maxPct) / 100))
	return lo, hi
}

// stop marks t stopped with reason.
func (d *decider) stop(t *events.ServiceTask, reason string) {
	t.StopReason = reason
	d.res.Stops = append(d.res.Stops, Stop{ARN: t.ARN, Reason: reason})
}

// scalingReason is the stoppedReason of tasks the service stops.
func (d *decider) scalingReason() string {
	if p := d.primary(); p != nil {
		return "Scaling activity initiated by (deployment " + p.ID + ")"
	}
	return "Scaling activity initiated by (service " + d.rec.Name + ")"
}

// launchable reports whether new tasks may start now.
func (d *decider) launchable(p *events.DeploymentRecord) bool {
	now := d.in.Now
	return d.rec.Status == events.ServiceActive && p != nil && p.RolloutState != events.RolloutFailed &&
		!now.Before(d.rec.BackoffUntil) && !now.Before(d.rec.PlaceRetryAt)
}

// launch decides a RunTask of count tasks of the PRIMARY deployment p
// (pinned to inst for a DAEMON).
func (d *decider) launch(p *events.DeploymentRecord, count int, inst *Instance) {
	rec := d.rec
	rec.Seq++
	token := p.ID + "-" + strconv.FormatInt(rec.Seq, 10)
	req := ecsapi.RunTaskRequest{
		Cluster:              rec.Cluster,
		TaskDefinition:       p.TaskDefinition,
		Count:                awsjson.Int32(int32(count)),
		Group:                "service:" + rec.Name,
		StartedBy:            p.ID,
		LaunchType:           events.LaunchTypeEC2,
		ClientToken:          token,
		PlacementConstraints: slices.Clone(rec.PlacementConstraints),
		PlacementStrategy:    slices.Clone(rec.PlacementStrategy),
		NetworkConfiguration: rec.NetworkConfiguration,
	}
	if len(req.PlacementStrategy) == 0 && inst == nil {
		req.PlacementStrategy = []ecsapi.PlacementStrategy{
			{Type: "spread", Field: "attribute:ecs.availability-zone"},
			{Type: "spread", Field: "instanceId"},
		}
	}
	if inst != nil {
		req.PlacementStrategy = nil
		req.PlacementConstraints = append(req.PlacementConstraints, ecsapi.PlacementConstraint{Type: "memberOf", Expression: "ec2InstanceId == '" + quoteEscaper.Replace(inst.EC2ID) + "'"})
	}
	switch rec.PropagateTags {
	case "SERVICE":
		req.Tags = slices.Clone(rec.Tags)
	case "TASK_DEFINITION":
		req.PropagateTags = "TASK_DEFINITION"
	}
	if rec.EnableExecute {
		req.EnableExecuteCommand = awsjson.Bool(true)
	}
	raw, _ := json.Marshal(req)
	l := events.ServiceLaunch{Token: token, Deployment: p.ID, Count: int32(count), Request: raw, CreatedAt: d.in.Now}
	if inst != nil {
		l.Instance = inst.ARN
	}
	rec.Launches = append(rec.Launches, l)
}

// quoteEscaper escapes a value for a single-quoted query-language literal.
var quoteEscaper = strings.NewReplacer(`\`, `\\`, `'`, `\'`)

// event records a service event (newest first, at most 100).
func (d *decider) event(msg string) {
	AddEvent(d.rec, d.p.NewID(), d.in.Now, msg)
}

// AddEvent puts a service event first in rec.Events, keeping 100.
func AddEvent(rec *events.ServiceRecord, id string, now time.Time, msg string) {
	ev := events.ServiceEvent{ID: id, CreatedAt: now, Message: msg}
	rec.Events = append([]events.ServiceEvent{ev}, rec.Events...)
	if len(rec.Events) > 100 {
		rec.Events = rec.Events[:100]
	}
}

// taskID is the last segment of a task ARN.
func taskID(arn string) string { return arn[strings.LastIndexByte(arn, '/')+1:] }

// taskList renders "(task a) (task b)".
func taskList(arns []string) string {
	parts := make([]string, 0, len(arns))
	for _, a := range arns {
		parts = append(parts, "(task "+taskID(a)+")")
	}
	return strings.Join(parts, " ")
}
