package cron_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/berth-project/berth/internal/simagent"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/services/cron/cron"
)

// TestFire_MissedOccurrences: occurrences that pass while no replica fires
// are fired late, once, by the first replica to start if they are within
// its CatchUp horizon, and skipped if older.
func TestFire_MissedOccurrences(t *testing.T) {
	w := newBaseWorld(t)
	w.startCron(cron.Config{NoFire: true}) // the API only: nothing fires
	w.WaitFor(t, "cron")
	w.addAgent(simagent.Config{HostID: "sim"})
	td := w.registerFamily("missed")
	c := w.scheduler()
	create := func(name string) time.Time {
		t.Helper()
		return testenv.CreateAtSchedule(t, c, scheduler.CreateScheduleInput{
			Name:               aws.String(name),
			FlexibleTimeWindow: &schedtypes.FlexibleTimeWindow{Mode: schedtypes.FlexibleTimeWindowModeOff},
			Target: &schedtypes.Target{Arn: aws.String(clusterARN()), RoleArn: aws.String(roleARN),
				EcsParameters: &schedtypes.EcsParameters{TaskDefinitionArn: aws.String(td)}},
		}, time.Second)
	}
	staleAt := create("stale")
	// Wall-clock time must pass here: the test is about what happens to
	// occurrences while nothing runs.
	time.Sleep(time.Until(staleAt.Add(5 * time.Second)))
	lateAt := create("late")
	time.Sleep(time.Until(lateAt.Add(1500 * time.Millisecond)))

	w.startCron(cron.Config{CatchUp: 4 * time.Second})
	w.waitTasks("scheduler/late", 1, 20*time.Second)
	time.Sleep(2 * time.Second) // an absence: the stale occurrence must not fire
	if n := len(w.tasks("scheduler/late")); n != 1 {
		t.Fatalf("late occurrence fired %d times, want 1", n)
	}
	if n := len(w.tasks("scheduler/stale")); n != 0 {
		t.Fatalf("occurrence older than CatchUp fired %d times, want 0", n)
	}
}
