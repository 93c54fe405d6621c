package reconcile

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/berth-project/berth/events"
)

// Started is one task a launch created.
type Started struct {
	ARN           string
	Instance      string
	LastStatus    string
	DesiredStatus string
}

// LaunchResult is what a launch's RunTask answered: the tasks it created,
// and the placement failures for the rest ("" when none), e.g.
// "The closest matching container-instance <id> has insufficient CPU units
// available." or "No Container Instances were found in your cluster.".
type LaunchResult struct {
	Tasks   []Started
	Failure string
}

// FoldLaunch replaces the launch with clientToken token by the tasks it
// created, records the service events and, when some tasks could not be
// placed, delays the next launch by p.PlaceRetry. It returns false when
// the record no longer holds the launch (someone folded it already).
func FoldLaunch(rec *events.ServiceRecord, token string, r LaunchResult, now time.Time, p Params) bool {
	i := slices.IndexFunc(rec.Launches, func(l events.ServiceLaunch) bool { return l.Token == token })
	if i < 0 {
		return false
	}
	l := rec.Launches[i]
	rec.Launches = slices.Delete(rec.Launches, i, i+1)
	arns := make([]string, 0, len(r.Tasks))
	for _, t := range r.Tasks {
		if slices.ContainsFunc(rec.Tasks, func(x events.ServiceTask) bool { return x.ARN == t.ARN }) {
			continue
		}
		rec.Tasks = append(rec.Tasks, events.ServiceTask{
			ARN: t.ARN, Deployment: l.Deployment, Instance: t.Instance,
			LastStatus: t.LastStatus, DesiredStatus: t.DesiredStatus, CreatedAt: now,
		})
		arns = append(arns, t.ARN)
	}
	if len(arns) > 0 {
		AddEvent(rec, p.NewID(), now, fmt.Sprintf("(service %s) has started %d tasks: %s.", rec.Name, len(arns), taskList(arns)))
		rec.Steady = false
	}
	if r.Failure != "" {
		msg := fmt.Sprintf("service %s was unable to place a task because no container instance met all of its requirements. Reason: %s", rec.Name, r.Failure)
		if len(rec.Events) == 0 || rec.Events[0].Message != msg {
			AddEvent(rec, p.NewID(), now, msg)
		}
		rec.PlaceRetryAt = now.Add(p.PlaceRetry)
		rec.WakeAt = rec.PlaceRetryAt
		reason := r.Failure
		if strings.Contains(reason, "insufficient CPU") {
			reason = "RESOURCE:CPU"
		} else if strings.Contains(reason, "insufficient memory") {
			reason = "RESOURCE:MEMORY"
		}
		rec.Outbox = append(rec.Outbox, ActionEvent(rec, p, events.EventTypeError, events.ServiceTaskPlacementFailure, reason, now))
	}
	return true
}
