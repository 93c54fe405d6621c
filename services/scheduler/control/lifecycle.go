package control

import (
	"bytes"
	"slices"
	"time"

	"github.com/berth-project/berth/events"
)

// Task lifecycle. Every agent report goes through transition, the one
// function that moves a task record:
//
//	PROVISIONING → PENDING → ACTIVATING → RUNNING → DEACTIVATING → STOPPING → DEPROVISIONING → STOPPED
//
// lastStatus only moves forward; a status an agent skips is jumped over. A
// report older than the task (a lower status, or the same status with an
// older sequence and timestamp) or a repeat changes nothing. Containers
// move forward the same way (PENDING → RUNNING → STOPPED), each on its own.
// Besides the record, reaching STOPPED gives the task's resources back to
// its instance.

// transitionEffect says what a transition did besides changing the record.
type transitionEffect struct {
	changed bool
	// released: the task stopped and gives its resources back.
	released bool
}

// transition folds report r into t (a copy the caller owns) at now.
func transition(t *events.TaskRecord, r *events.TaskStateReport, now time.Time) transitionEffect {
	cur, next := events.TaskStatusRank(t.LastStatus), events.TaskStatusRank(r.LastStatus)
	switch {
	case next == 0 || t.Stopped() || next < cur:
		return transitionEffect{}
	case next == cur && r.Seq <= t.LastReportSeq && !r.ReportedAt.After(t.LastReportAt):
		return transitionEffect{}
	}
	before := mustJSON(t)
	t.LastStatus = r.LastStatus
	if r.HealthStatus != "" {
		t.HealthStatus = r.HealthStatus
	}
	setOnce(&t.PullStartedAt, r.PullStartedAt)
	setOnce(&t.PullStoppedAt, r.PullStoppedAt)
	setOnce(&t.StartedAt, r.StartedAt)
	setOnce(&t.ExecutionStoppedAt, r.ExecutionStoppedAt)
	at := now.UTC()
	if next >= events.TaskStatusRank(events.TaskRunning) && t.StartedAt == nil && next < events.TaskStatusRank(events.TaskStopped) {
		t.StartedAt = &at
	}
	if next >= events.TaskStatusRank(events.TaskDeactivating) && t.StoppingAt == nil {
		t.StoppingAt = &at
	}
	if r.StopCode != "" && t.StopCode == "" {
		t.StopCode = r.StopCode
	}
	if r.StoppedReason != "" && t.StoppedReason == "" {
		t.StoppedReason = r.StoppedReason
	}
	if r.Network != nil && t.AttachmentID != "" {
		n := *r.Network
		t.Network = &n
	}
	for _, rc := range r.Containers {
		i := slices.IndexFunc(t.Containers, func(c events.TaskContainer) bool { return c.Name == rc.Name })
		if i < 0 {
			continue
		}
		mergeContainer(&t.Containers[i], &rc)
	}
	eff := transitionEffect{}
	if r.LastStatus == events.TaskStopped {
		t.DesiredStatus = events.DesiredStopped
		if t.ExecutionStoppedAt == nil {
			t.ExecutionStoppedAt = &at
		}
		t.StoppedAt = &at
		for i := range t.Containers {
			if t.Containers[i].LastStatus != events.ContainerStopped {
				t.Containers[i].LastStatus = events.ContainerStopped
			}
		}
		if t.Holding {
			t.Holding = false
			eff.released = true
		}
	}
	eff.changed = !bytes.Equal(before, mustJSON(t))
	if eff.changed {
		// Only a report that changed something is remembered; a repeat of
		// the same state stays a no-op however often it comes.
		t.LastReportSeq = max(t.LastReportSeq, r.Seq)
		if r.ReportedAt.After(t.LastReportAt) {
			t.LastReportAt = r.ReportedAt
		}
	}
	return eff
}

// mergeContainer folds one container's report into c, forward only.
func mergeContainer(c *events.TaskContainer, r *events.ContainerStateReport) {
	if events.ContainerStatusRank(r.LastStatus) < events.ContainerStatusRank(c.LastStatus) {
		return
	}
	if r.LastStatus != "" {
		c.LastStatus = r.LastStatus
	}
	if r.RuntimeID != "" {
		c.RuntimeID = r.RuntimeID
	}
	if r.ImageDigest != "" {
		c.ImageDigest = r.ImageDigest
	}
	if r.ExitCode != nil {
		v := *r.ExitCode
		c.ExitCode = &v
	}
	if r.Reason != "" {
		c.Reason = r.Reason
	}
	if len(r.NetworkBindings) > 0 {
		c.NetworkBindings = slices.Clone(r.NetworkBindings)
	}
	if r.HealthStatus != "" {
		c.HealthStatus = r.HealthStatus
	}
}

func setOnce(dst **time.Time, v *time.Time) {
	if *dst == nil && v != nil {
		t := v.UTC()
		*dst = &t
	}
}
