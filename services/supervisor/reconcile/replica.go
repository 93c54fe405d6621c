package reconcile

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/berth-project/berth/events"
)

// maxPerLaunch is RunTask's count limit.
const maxPerLaunch = 10

// replica keeps desiredCount tasks of the PRIMARY deployment, within the
// deployment configuration's bounds at every moment:
//
//	started-or-starting + stopping <= floor(desired x maximumPercent / 100)
//	healthy                        >= ceil(desired x minimumHealthyPercent / 100)
//
// Tasks to retire (older deployments, tasks on DRAINING instances, extras
// after a scale-in) are stopped unhealthy first, healthy ones only while the
// healthy count stays at the minimum; replacements start first when the
// maximum leaves room.
func (d *decider) replica() {
	rec := d.rec
	p := d.primary()
	desired := int(rec.DesiredCount)
	if rec.Status != events.ServiceActive {
		desired = 0
	}
	lo, hi := bounds(rec, int32(desired))
	failed := p != nil && p.RolloutState == events.RolloutFailed

	keep, retire, live, healthy := d.classify(p, failed)
	launching := 0
	for _, l := range rec.Launches {
		launching += int(l.Count)
	}
	total := live + launching
	kept := len(keep) + launching

	// Scale in: the newest, least healthy extras go first.
	if kept > desired && len(keep) > 0 {
		slices.SortStableFunc(keep, func(a, b *events.ServiceTask) int { return d.stopOrder(a, b) })
		var stopped []string
		for _, t := range keep[:min(kept-desired, len(keep))] {
			if d.healthy(t) {
				healthy--
			}
			d.stop(t, d.scalingReason())
			stopped = append(stopped, t.ARN)
		}
		if len(stopped) > 0 {
			d.event(fmt.Sprintf("(service %s) has stopped %d running tasks: %s.", rec.Name, len(stopped), taskList(stopped)))
		}
		kept = desired
	}
	// Start what is missing, within the maximum.
	started := 0
	if n := min(desired-kept, hi-total); n > 0 && !failed && d.launchable(p) {
		for n > 0 {
			c := min(n, maxPerLaunch)
			d.launch(p, c, nil)
			n -= c
			started += c
		}
	}
	// Retire, within the minimum.
	slices.SortStableFunc(retire, func(a, b *events.ServiceTask) int { return d.stopOrder(a, b) })
	var stopped []string
	blocked := false
	for _, t := range retire {
		h := d.healthy(t)
		serving := t.LastStatus == events.TaskRunning && t.HealthStatus != "UNHEALTHY"
		if serving && rec.Status == events.ServiceActive && healthy-b2i(h) < lo {
			blocked = true
			continue
		}
		if h {
			healthy--
		}
		d.stop(t, d.scalingReason())
		stopped = append(stopped, t.ARN)
	}
	if len(stopped) > 0 {
		d.event(fmt.Sprintf("(service %s) has stopped %d running tasks: %s.", rec.Name, len(stopped), taskList(stopped)))
	}
	if blocked && started == 0 && desired-kept > 0 && hi-total <= 0 && len(stopped) == 0 {
		d.stuck()
	}
}

// classify splits the tasks not being stopped into those the PRIMARY
// deployment keeps and those to retire; live counts every task, healthy the
// healthy ones not being stopped.
func (d *decider) classify(p *events.DeploymentRecord, failed bool) (keep, retire []*events.ServiceTask, live, healthy int) {
	rec := d.rec
	for i := range rec.Tasks {
		t := &rec.Tasks[i]
		live++
		if t.StopReason != "" {
			continue
		}
		if d.healthy(t) {
			healthy++
		}
		switch {
		case rec.Status != events.ServiceActive:
			retire = append(retire, t)
		case d.in.Draining[t.Instance]:
			retire = append(retire, t)
		case p != nil && t.Deployment == p.ID, failed:
			keep = append(keep, t)
		default:
			retire = append(retire, t)
		}
	}
	return keep, retire, live, healthy
}

// stuck records, once in a row, that the deployment configuration leaves
// no room to stop or start a task.
func (d *decider) stuck() {
	msg := fmt.Sprintf("(service %s) was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again.", d.rec.Name)
	if len(d.rec.Events) > 0 && d.rec.Events[0].Message == msg {
		return
	}
	d.event(msg)
}

// stopOrder sorts tasks to stop first: not yet running, then unhealthy,
// then the newest.
func (d *decider) stopOrder(a, b *events.ServiceTask) int {
	rank := func(t *events.ServiceTask) int {
		switch {
		case t.LastStatus != events.TaskRunning:
			return 0
		case !d.healthy(t):
			return 1
		}
		return 2
	}
	if c := cmp.Compare(rank(a), rank(b)); c != 0 {
		return c
	}
	return b.CreatedAt.Compare(a.CreatedAt)
}

// daemon keeps one task of the PRIMARY deployment on every eligible
// instance: tasks on other instances stop; an instance with an older
// deployment's task gets the new one once the old one stopped (maximum 100 %
// per instance), within minimumHealthyPercent.
func (d *decider) daemon() {
	rec := d.rec
	if !d.in.Daemon && rec.Status == events.ServiceActive {
		return
	}
	p := d.primary()
	eligible := map[string]Instance{}
	if rec.Status == events.ServiceActive {
		for _, in := range d.in.Eligible {
			eligible[in.ARN] = in
		}
	}
	rec.DesiredCount = int32(len(eligible))
	if p != nil {
		p.DesiredCount = rec.DesiredCount
	}
	lo, _ := bounds(rec, rec.DesiredCount)
	byInst := map[string][]*events.ServiceTask{}
	healthy := 0
	var stopped []string
	for i := range rec.Tasks {
		t := &rec.Tasks[i]
		if t.StopReason != "" {
			byInst[t.Instance] = append(byInst[t.Instance], t)
			continue
		}
		if _, ok := eligible[t.Instance]; !ok && t.Instance != "" {
			d.stop(t, d.scalingReason())
			stopped = append(stopped, t.ARN)
			continue
		}
		if d.healthy(t) {
			healthy++
		}
		byInst[t.Instance] = append(byInst[t.Instance], t)
	}
	launching := map[string]bool{}
	for _, l := range rec.Launches {
		launching[l.Instance] = true
	}
	arns := make([]string, 0, len(eligible))
	for arn := range eligible {
		arns = append(arns, arn)
	}
	slices.Sort(arns)
	for _, arn := range arns {
		in := eligible[arn]
		stopped = append(stopped, d.daemonOn(p, &in, byInst[arn], launching[arn], lo, &healthy)...)
	}
	if len(stopped) > 0 {
		d.event(fmt.Sprintf("(service %s) has stopped %d running tasks: %s.", rec.Name, len(stopped), taskList(stopped)))
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// daemonOn keeps one PRIMARY task on one eligible instance: extras stop;
// an older deployment's task stops (within the minimum) before the new one
// starts; an empty instance gets a launch. It returns the tasks stopped.
func (d *decider) daemonOn(p *events.DeploymentRecord, in *Instance, tasks []*events.ServiceTask, launching bool, lo int, healthy *int) []string {
	var stopped []string
	hasPrimary, busy := launching, launching
	for _, t := range tasks {
		busy = true
		if p != nil && t.Deployment == p.ID && t.StopReason == "" {
			if hasPrimary {
				d.stop(t, d.scalingReason())
				stopped = append(stopped, t.ARN)
				continue
			}
			hasPrimary = true
		}
	}
	switch {
	case hasPrimary:
		return stopped
	case !busy:
		if d.launchable(p) {
			d.launch(p, 1, in)
		}
		return stopped
	}
	for _, t := range tasks {
		if t.StopReason != "" {
			continue
		}
		h := d.healthy(t)
		serving := t.LastStatus == events.TaskRunning && t.HealthStatus != "UNHEALTHY"
		if serving && *healthy-b2i(h) < lo {
			continue
		}
		if h {
			*healthy--
		}
		d.stop(t, d.scalingReason())
		stopped = append(stopped, t.ARN)
	}
	return stopped
}
