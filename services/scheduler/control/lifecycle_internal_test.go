package control

import (
	"testing"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
)

func fixtureTask() *events.TaskRecord {
	return &events.TaskRecord{
		ID: "t1", LastStatus: events.TaskProvisioning, DesiredStatus: events.DesiredRunning, Holding: true,
		Containers: []events.TaskContainer{{Name: "app", LastStatus: events.ContainerPending}, {Name: "side", LastStatus: events.ContainerPending}},
		Version:    1,
	}
}

func TestTransition(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	exit := int32(3)
	report := func(status string, seq uint64, at time.Duration, cs ...events.ContainerStateReport) *events.TaskStateReport {
		return &events.TaskStateReport{LastStatus: status, Seq: seq, ReportedAt: t0.Add(at), Containers: cs}
	}
	cases := []struct {
		name     string
		setup    func(*events.TaskRecord)
		r        *events.TaskStateReport
		want     transitionEffect
		check    func(t *testing.T, tk *events.TaskRecord)
		nochange bool
	}{
		{name: "pending", r: report(events.TaskPending, 1, 0), want: transitionEffect{changed: true},
			check: func(t *testing.T, tk *events.TaskRecord) {
				if tk.LastStatus != events.TaskPending || !tk.Holding {
					t.Fatalf("%+v", tk)
				}
			}},
		{name: "skip to running", r: report(events.TaskRunning, 1, 0, events.ContainerStateReport{Name: "app", LastStatus: "RUNNING", RuntimeID: "r1",
			NetworkBindings: []ecsapi.NetworkBinding{{HostPort: ptr(int32(50000))}}}),
			want: transitionEffect{changed: true},
			check: func(t *testing.T, tk *events.TaskRecord) {
				if tk.LastStatus != events.TaskRunning || !tk.Holding || tk.StartedAt == nil ||
					tk.Containers[0].RuntimeID != "r1" || len(tk.Containers[0].NetworkBindings) != 1 || tk.Containers[1].LastStatus != events.ContainerPending {
					t.Fatalf("%+v", tk)
				}
			}},
		{name: "stale status", setup: func(tk *events.TaskRecord) { tk.LastStatus = events.TaskRunning },
			r: report(events.TaskPending, 9, time.Hour), nochange: true},
		{name: "repeat", setup: func(tk *events.TaskRecord) {
			tk.LastStatus = events.TaskPending
			tk.LastReportSeq = 5
			tk.LastReportAt = t0
		},
			r: report(events.TaskPending, 5, 0), nochange: true},
		{name: "older seq same status", setup: func(tk *events.TaskRecord) {
			tk.LastStatus = events.TaskRunning
			tk.LastReportSeq = 5
			tk.LastReportAt = t0
		},
			r: report(events.TaskRunning, 4, -time.Second, events.ContainerStateReport{Name: "app", HealthStatus: "UNHEALTHY"}), nochange: true},
		{name: "newer same status health", setup: func(tk *events.TaskRecord) {
			running(tk)
			tk.LastReportSeq = 5
			tk.LastReportAt = t0
		},
			r:    report(events.TaskRunning, 6, time.Second, events.ContainerStateReport{Name: "app", LastStatus: "RUNNING", HealthStatus: "HEALTHY"}),
			want: transitionEffect{changed: true},
			check: func(t *testing.T, tk *events.TaskRecord) {
				if tk.Containers[0].HealthStatus != "HEALTHY" || tk.LastReportSeq != 6 {
					t.Fatalf("%+v", tk)
				}
			}},
		{name: "same state newer seq is no change", setup: func(tk *events.TaskRecord) { running(tk); tk.LastReportSeq = 5 },
			r: report(events.TaskRunning, 6, time.Second), nochange: true},
		{name: "stopped from pending releases pending", setup: func(tk *events.TaskRecord) { tk.LastStatus = events.TaskPending },
			r: &events.TaskStateReport{LastStatus: events.TaskStopped, StopCode: events.StopTaskFailedToStart, StoppedReason: "CannotPullContainerError: x", ReportedAt: t0,
				Containers: []events.ContainerStateReport{{Name: "app", LastStatus: "STOPPED", Reason: "CannotPullContainerError: x"}}},
			want: transitionEffect{changed: true, released: true},
			check: func(t *testing.T, tk *events.TaskRecord) {
				if tk.LastStatus != events.TaskStopped || tk.DesiredStatus != events.DesiredStopped || tk.Holding || tk.StoppedAt == nil ||
					tk.StopCode != events.StopTaskFailedToStart || tk.Containers[1].LastStatus != events.ContainerStopped || tk.Containers[0].Reason == "" {
					t.Fatalf("%+v", tk)
				}
			}},
		{name: "user stop code wins", setup: func(tk *events.TaskRecord) {
			tk.LastStatus, tk.StopCode, tk.StoppedReason = events.TaskRunning, events.StopUserInitiated, "bye"
		},
			r:    &events.TaskStateReport{LastStatus: events.TaskStopped, StopCode: events.StopEssentialContainerExited, StoppedReason: "Essential container in task exited", ReportedAt: t0, Containers: []events.ContainerStateReport{{Name: "app", LastStatus: "STOPPED", ExitCode: &exit}}},
			want: transitionEffect{changed: true, released: true},
			check: func(t *testing.T, tk *events.TaskRecord) {
				if tk.StopCode != events.StopUserInitiated || tk.StoppedReason != "bye" || *tk.Containers[0].ExitCode != 3 {
					t.Fatalf("%+v", tk)
				}
			}},
		{name: "after stopped nothing", setup: func(tk *events.TaskRecord) { tk.LastStatus = events.TaskStopped; tk.Holding = false },
			r: report(events.TaskStopped, 99, time.Hour), nochange: true},
		{name: "unknown status", r: report("BOGUS", 1, 0), nochange: true},
		{name: "container never moves back", setup: func(tk *events.TaskRecord) {
			running(tk)
			tk.Containers[0].LastStatus = events.ContainerStopped
		},
			r:    report(events.TaskDeactivating, 1, 0, events.ContainerStateReport{Name: "app", LastStatus: "RUNNING"}),
			want: transitionEffect{changed: true},
			check: func(t *testing.T, tk *events.TaskRecord) {
				if tk.Containers[0].LastStatus != events.ContainerStopped || tk.StoppingAt == nil {
					t.Fatalf("%+v", tk)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tk := fixtureTask()
			if tc.setup != nil {
				tc.setup(tk)
			}
			before := string(mustJSON(tk))
			got := transition(tk, tc.r, t0)
			if tc.nochange {
				if got.changed || string(mustJSON(tk)) != before {
					t.Fatalf("want no change, got %+v\n%s", got, mustJSON(tk))
				}
				return
			}
			if got != tc.want {
				t.Fatalf("effect %+v, want %+v", got, tc.want)
			}
			tc.check(t, tk)
		})
	}
}

func running(tk *events.TaskRecord) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tk.LastStatus, tk.StartedAt = events.TaskRunning, &at
}

func ptr[T any](v T) *T { return &v }
