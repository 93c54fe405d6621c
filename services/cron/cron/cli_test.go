package cron_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/services/cron/cron"
)

// TestCLI_Scheduler_RateECSTarget: aws scheduler create-schedule with
// rate(1 minute) and an ECS target starts a task of the family each
// (shortened) minute, with startedBy scheduler/<name>; get, list and
// delete work through the CLI, and a deleted schedule stops firing.
func TestCLI_Scheduler_RateECSTarget(t *testing.T) {
	w := newWorld(t, cron.Config{}, 1)
	td := w.registerFamily("cronjob")
	target := w.file(map[string]any{
		"Arn": clusterARN(), "RoleArn": roleARN,
		"EcsParameters": map[string]any{"TaskDefinitionArn": td, "TaskCount": 1},
		"Input":         `{"containerOverrides":[{"name":"main","command":["echo","hi"]}]}`,
	})
	out := w.cli("scheduler", "create-schedule", "--name", "every-minute", "--schedule-expression", "rate(1 minute)",
		"--flexible-time-window", "Mode=OFF", "--target", target)
	if out["ScheduleArn"] != "arn:aws:scheduler:us-east-1:123456789012:schedule/default/every-minute" {
		t.Fatalf("create-schedule: %v", out)
	}
	got := w.cli("scheduler", "get-schedule", "--name", "every-minute")
	if got["State"] != "ENABLED" || got["ScheduleExpression"] != "rate(1 minute)" || got["GroupName"] != "default" {
		t.Fatalf("get-schedule: %v", got)
	}
	arns := w.waitTasks("scheduler/every-minute", 3, 20*time.Second)
	task, err := w.ECS().DescribeTasks(context.Background(), ecsDescribe(arns[0]))
	if err != nil || len(task.Tasks) != 1 {
		t.Fatalf("describe: %v %v", err, task)
	}
	if g := aws.ToString(task.Tasks[0].Group); g != "family:cronjob" {
		t.Fatalf("group %q", g)
	}
	if ov := task.Tasks[0].Overrides; ov == nil || len(ov.ContainerOverrides) != 1 || ov.ContainerOverrides[0].Command[0] != "echo" {
		t.Fatalf("overrides %+v", ov)
	}
	list := w.cli("scheduler", "list-schedules", "--name-prefix", "every")
	if s, _ := list["Schedules"].([]any); len(s) != 1 {
		t.Fatalf("list-schedules: %v", list)
	}
	w.cli("scheduler", "delete-schedule", "--name", "every-minute")
	w.cliErr("ResourceNotFoundException", "scheduler", "get-schedule", "--name", "every-minute")
	// Once deletion is seen, no more tasks come (a fire in flight may land).
	settled := len(w.tasks("scheduler/every-minute"))
	time.Sleep(3 * testMinute) // waiting for something NOT to happen: no poll can replace it
	if n := len(w.tasks("scheduler/every-minute")); n > settled+1 {
		t.Fatalf("%d tasks after delete, was %d", n, settled)
	}
}

// TestCLI_Rule_RateECSTarget: aws events put-rule with rate(1 minute) plus
// put-targets with EcsParameters starts a task each (shortened) minute with
// startedBy events-rule/<name>.
func TestCLI_Rule_RateECSTarget(t *testing.T) {
	w := newWorld(t, cron.Config{}, 1)
	td := w.registerFamily("rulejob")
	out := w.cli("events", "put-rule", "--name", "nightly", "--schedule-expression", "rate(1 minute)")
	if out["RuleArn"] != "arn:aws:events:us-east-1:123456789012:rule/nightly" {
		t.Fatalf("put-rule: %v", out)
	}
	targets := w.file([]map[string]any{{
		"Id": "run", "Arn": clusterARN(), "RoleArn": roleARN,
		"EcsParameters": map[string]any{"TaskDefinitionArn": td, "TaskCount": 2, "LaunchType": "EC2", "Group": "nightly"},
	}})
	pt := w.cli("events", "put-targets", "--rule", "nightly", "--targets", targets)
	if pt["FailedEntryCount"] != float64(0) {
		t.Fatalf("put-targets: %v", pt)
	}
	arns := w.waitTasks("events-rule/nightly", 4, 20*time.Second)
	task, err := w.ECS().DescribeTasks(context.Background(), ecsDescribe(arns[0]))
	if err != nil || aws.ToString(task.Tasks[0].Group) != "nightly" {
		t.Fatalf("describe: %v %+v", err, task)
	}
	lt := w.cli("events", "list-targets-by-rule", "--rule", "nightly")
	if ts, _ := lt["Targets"].([]any); len(ts) != 1 {
		t.Fatalf("list-targets-by-rule: %v", lt)
	}
	names := w.cli("events", "list-rule-names-by-target", "--target-arn", clusterARN())
	if n, _ := names["RuleNames"].([]any); len(n) != 1 || n[0] != "nightly" {
		t.Fatalf("list-rule-names-by-target: %v", names)
	}
	w.cliErr("Rule can't be deleted since it has targets.", "events", "delete-rule", "--name", "nightly")
	w.cli("events", "disable-rule", "--name", "nightly")
	if d := w.cli("events", "describe-rule", "--name", "nightly"); d["State"] != "DISABLED" {
		t.Fatalf("describe-rule: %v", d)
	}
	w.cli("events", "remove-targets", "--rule", "nightly", "--ids", "run")
	w.cli("events", "delete-rule", "--name", "nightly")
	w.cliErr("Rule nightly does not exist on EventBus default.", "events", "describe-rule", "--name", "nightly")
}

// TestSDK_Scheduler_AtDeleteAndDisabled: an at() schedule with
// ActionAfterCompletion DELETE fires once and is gone; a DISABLED
// rate(1 minute) schedule created at the same time never fires while an
// ENABLED twin does. (The Debian CLI 2.9 predates ActionAfterCompletion, so
// this uses the Go SDK.)
func TestSDK_Scheduler_AtDeleteAndDisabled(t *testing.T) {
	w := newWorld(t, cron.Config{}, 1)
	td := w.registerFamily("oneshot")
	c := w.scheduler()
	ctx := context.Background()
	tgt := &schedtypes.Target{Arn: aws.String(clusterARN()), RoleArn: aws.String(roleARN),
		EcsParameters: &schedtypes.EcsParameters{TaskDefinitionArn: aws.String(td)}}
	off := &schedtypes.FlexibleTimeWindow{Mode: schedtypes.FlexibleTimeWindowModeOff}
	testenv.CreateAtSchedule(t, c, scheduler.CreateScheduleInput{Name: aws.String("once"),
		FlexibleTimeWindow: off, Target: tgt, ActionAfterCompletion: schedtypes.ActionAfterCompletionDelete}, time.Second)
	for _, st := range []schedtypes.ScheduleState{schedtypes.ScheduleStateDisabled, schedtypes.ScheduleStateEnabled} {
		if _, err := c.CreateSchedule(ctx, &scheduler.CreateScheduleInput{Name: aws.String("rate-" + string(st)), ScheduleExpression: aws.String("rate(1 minute)"),
			FlexibleTimeWindow: off, Target: tgt, State: st}); err != nil {
			t.Fatal(err)
		}
	}
	w.waitTasks("scheduler/once", 1, 20*time.Second)
	natstest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		_, err := c.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String("once")})
		if err == nil {
			return errString("schedule once still exists")
		}
		return nil
	})
	w.waitTasks("scheduler/rate-ENABLED", 3, 20*time.Second)
	if n := len(w.tasks("scheduler/once")); n != 1 {
		t.Fatalf("at() schedule started %d tasks, want 1", n)
	}
	if n := len(w.tasks("scheduler/rate-DISABLED")); n != 0 {
		t.Fatalf("DISABLED schedule started %d tasks", n)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
