package reconcile

import (
	"fmt"
	"time"

	"github.com/berth-project/berth/events"
)

// finish updates the counters, completes the rollout, drops drained
// deployments, records the steady state, finishes a deletion and sets
// WakeAt.
func (d *decider) finish() {
	rec, now := d.rec, d.in.Now
	per, running, pending, busy := d.count()
	others := 0
	kept := rec.Deployments[:0]
	for _, dep := range rec.Deployments {
		c := per[dep.ID]
		if dep.Status != events.DeploymentPrimary && c.live == 0 {
			continue
		}
		if dep.Status != events.DeploymentPrimary {
			others++
			dep.DesiredCount = int32(c.live)
		}
		setCount(&dep.RunningCount, c.running, &dep.UpdatedAt, now)
		setCount(&dep.PendingCount, c.pending, &dep.UpdatedAt, now)
		kept = append(kept, dep)
	}
	rec.Deployments = kept
	p := d.primary()
	if p != nil {
		if rec.SchedulingStrategy != events.SchedulingDaemon {
			p.DesiredCount = rec.DesiredCount
		}
		c := per[p.ID]
		if p.RolloutState == events.RolloutInProgress && others == 0 && rec.Status == events.ServiceActive &&
			c.healthy >= int(p.DesiredCount) && c.live == int(p.DesiredCount) {
			p.RolloutState = events.RolloutCompleted
			p.RolloutStateReason = "ECS deployment " + p.ID + " completed."
			p.UpdatedAt = now
			done := *p
			rec.Completed = &done
			d.event(fmt.Sprintf("(service %s) (deployment %s) deployment completed.", rec.Name, p.ID))
			d.deploymentEvent(events.EventTypeInfo, events.DeploymentCompletedEvent, p.ID, p.RolloutStateReason)
		}
	}
	steady := rec.Status == events.ServiceActive && len(rec.Deployments) == 1 && !busy &&
		rec.Deployments[0].RolloutState != events.RolloutInProgress &&
		running == int(rec.DesiredCount) && len(rec.Tasks) == running
	switch {
	case steady && !rec.Steady:
		rec.Steady = true
		d.event(fmt.Sprintf("(service %s) has reached a steady state.", rec.Name))
		d.action(events.EventTypeInfo, events.ServiceSteadyState, "")
	case !steady:
		rec.Steady = false
	}
	if rec.Status == events.ServiceDraining && len(rec.Launches) == 0 && d.allStopping() {
		rec.Status = events.ServiceInactive
		at := now
		rec.DeletedAt = &at
	}
	d.wake(running, pending)
}

func setCount(dst *int32, n int, updated *time.Time, now time.Time) {
	if *dst != int32(n) {
		*dst = int32(n)
		*updated = now
	}
}

// allStopping reports whether every task is stopping or stopped.
func (d *decider) allStopping() bool {
	for _, t := range d.rec.Tasks {
		if t.StopReason == "" || t.DesiredStatus != events.DesiredStopped {
			return false
		}
	}
	return true
}

// wake sets WakeAt: the end of a backoff, the moment a RUNNING task becomes
// healthy, a placement retry.
func (d *decider) wake(running, pending int) {
	rec, now := d.rec, d.in.Now
	var at time.Time
	earliest := func(t time.Time) {
		if t.After(now) && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	earliest(rec.BackoffUntil)
	earliest(rec.PlaceRetryAt)
	for _, t := range rec.Tasks {
		if t.RunningSince != nil && t.StopReason == "" {
			earliest(t.RunningSince.Add(d.p.HealthyAfter))
		}
	}
	rec.WakeAt = at
	rec.RunningCount = int32(running)
	rec.PendingCount = int32(pending)
}

// action queues an "ECS Service Action" event.
func (d *decider) action(eventType, name, reason string) {
	d.out = append(d.out, ActionEvent(d.rec, d.p, eventType, name, reason, d.in.Now))
}

// deploymentEvent queues an "ECS Deployment State Change" event.
func (d *decider) deploymentEvent(eventType, name, id, reason string) {
	d.out = append(d.out, DeploymentEvent(d.rec, d.p, eventType, name, id, reason, d.in.Now))
}

// ActionEvent builds an "ECS Service Action" event of rec.
func ActionEvent(rec *events.ServiceRecord, p Params, eventType, name, reason string, now time.Time) events.ServiceOutEvent {
	detail := events.ServiceActionDetail{
		EventType: eventType, EventName: name, ClusterArn: rec.ClusterARN,
		CreatedAt: isoTime(now), Reason: reason,
	}
	if name == events.ServiceDesiredCountUpdated {
		n := rec.DesiredCount
		detail.DesiredCount = &n
	}
	return outEvent(rec, p, events.KindService, rec.Name, events.DetailServiceAction, detail, now)
}

// DeploymentEvent builds an "ECS Deployment State Change" event of rec.
func DeploymentEvent(rec *events.ServiceRecord, p Params, eventType, name, id, reason string, now time.Time) events.ServiceOutEvent {
	detail := events.DeploymentStateChangeDetail{
		EventType: eventType, EventName: name, DeploymentID: id, UpdatedAt: isoTime(now), Reason: reason,
	}
	return outEvent(rec, p, events.KindDeployment, id, events.DetailDeploymentStateChange, detail, now)
}

func outEvent(rec *events.ServiceRecord, p Params, kind, id, detailType string, detail any, now time.Time) events.ServiceOutEvent {
	rec.Seq++
	data, err := events.EncodeEvent(p.NewID(), events.SourceECS, detailType, p.Account, p.Region, now, []string{rec.ARN}, detail)
	if err != nil {
		return events.ServiceOutEvent{}
	}
	return events.ServiceOutEvent{
		Subject: events.SubjECSEvent(rec.Cluster, kind, id),
		MsgID:   fmt.Sprintf("%s#%d", rec.ARN, rec.Seq),
		Data:    data,
	}
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// counts are one deployment's tasks.
type counts struct{ running, pending, live, healthy int }

// count counts the tasks per deployment, and the service's RUNNING and
// pending ones; busy reports tasks starting or stopping.
func (d *decider) count() (per map[string]*counts, running, pending int, busy bool) {
	rec := d.rec
	per = map[string]*counts{}
	for i := range rec.Deployments {
		per[rec.Deployments[i].ID] = &counts{}
	}
	for i := range rec.Tasks {
		t := &rec.Tasks[i]
		c := per[t.Deployment]
		if c == nil {
			c = &counts{}
			per[t.Deployment] = c
		}
		c.live++
		if t.StopReason != "" {
			busy = true
		}
		switch {
		case t.LastStatus == events.TaskRunning:
			running++
			c.running++
			if d.healthy(t) {
				c.healthy++
			}
		case events.TaskStatusRank(t.LastStatus) < events.TaskStatusRank(events.TaskRunning):
			pending++
			c.pending++
			busy = true
		}
	}
	for _, l := range rec.Launches {
		if c := per[l.Deployment]; c != nil {
			c.pending += int(l.Count)
			c.live += int(l.Count)
		}
		pending += int(l.Count)
		busy = true
	}
	return per, running, pending, busy
}
