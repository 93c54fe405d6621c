package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
)

// TestE2E_Cron is the acceptance of issue 13 (scheduled tasks) through the
// all-in-one binary, its local agent on the real Docker daemon and the aws
// CLI, with rate minutes shortened to 3 s (--cron-minute; the CLI path is
// unchanged): a Scheduler rate(1 minute) schedule and an EventBridge
// rate(1 minute) rule each start real containers of their family; a
// DISABLED twin never does; an at() schedule with ActionAfterCompletion
// DELETE (Go SDK: the Debian CLI predates the member) fires once and is
// gone; and an event-pattern rule on "ECS Task State Change" with a
// containers.exitCode numeric match starts its target once per failing
// task.
func TestE2E_Cron(t *testing.T) {
	requireDocker(t)
	t.Parallel()
	bin := buildBerth(t)
	owner := e2eOwner(t)
	p := startBerthWithAgent(t, bin, t.TempDir(), owner, "--cron-minute", "3s")
	c := p.ecs(t)
	image := p.pushBusybox(t, "busybox", "cron")
	quick := p.registerTaskDef(t, taskDef("cron-quick", ctrDef("main", image, "true")))
	fails := p.registerTaskDef(t, taskDef("cron-fails", ctrDef("main", image, "sh", "-c", "exit 3")))
	cluster := "arn:aws:ecs:" + testenv.Region + ":" + testenv.Account + ":cluster/default"
	role := "arn:aws:iam::" + testenv.Account + ":role/cron"
	dir := t.TempDir()
	file := func(name string, v any) string {
		data, _ := json.Marshal(v)
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return "file://" + path
	}
	target := file("target.json", map[string]any{"Arn": cluster, "RoleArn": role, "EcsParameters": map[string]any{"TaskDefinitionArn": quick}})

	p.aws(t, "scheduler", "create-schedule", "--name", "every-minute", "--schedule-expression", "rate(1 minute)",
		"--flexible-time-window", "Mode=OFF", "--target", target)
	p.aws(t, "scheduler", "create-schedule", "--name", "disabled", "--state", "DISABLED", "--schedule-expression", "rate(1 minute)",
		"--flexible-time-window", "Mode=OFF", "--target", target)
	p.aws(t, "events", "put-rule", "--name", "every-minute-rule", "--schedule-expression", "rate(1 minute)")
	p.aws(t, "events", "put-targets", "--rule", "every-minute-rule", "--targets", file("targets.json", []map[string]any{{
		"Id": "ecs", "Arn": cluster, "RoleArn": role, "EcsParameters": map[string]any{"TaskDefinitionArn": quick, "TaskCount": 1, "LaunchType": "EC2"},
	}}))
	p.aws(t, "events", "put-rule", "--name", "on-failure", "--event-pattern",
		`{"source":["aws.ecs"],"detail-type":["ECS Task State Change"],"detail":{"lastStatus":["STOPPED"],"group":["family:cron-fails"],"containers":{"exitCode":[{"numeric":[">",0]}]}}}`)
	p.aws(t, "events", "put-targets", "--rule", "on-failure", "--targets", file("recover.json", []map[string]any{{
		"Id": "recover", "Arn": cluster, "EcsParameters": map[string]any{"TaskDefinitionArn": quick, "Group": "recover"},
	}}))

	// A one-time schedule with ActionAfterCompletion DELETE, 1 to 2 s from now.
	sc := schedulerClient(t, p)
	testenv.CreateAtSchedule(t, sc, scheduler.CreateScheduleInput{
		Name:                  aws.String("once"),
		FlexibleTimeWindow:    &schedtypes.FlexibleTimeWindow{Mode: schedtypes.FlexibleTimeWindowModeOff},
		ActionAfterCompletion: schedtypes.ActionAfterCompletionDelete,
		Target: &schedtypes.Target{Arn: aws.String(cluster), RoleArn: aws.String(role),
			EcsParameters: &schedtypes.EcsParameters{TaskDefinitionArn: aws.String(quick)}},
	}, time.Second)

	// Two failing tasks: two recover tasks.
	p.runTasks(t, fails, 2)

	sched := waitStartedBy(t, c, "scheduler/every-minute", 2)
	waitStartedBy(t, c, "events-rule/every-minute-rule", 2)
	waitStartedBy(t, c, "events-rule/on-failure", 2)
	waitStartedBy(t, c, "scheduler/once", 1)
	natstest.Eventually(t, 30*time.Second, 200*time.Millisecond, func() error {
		if _, err := sc.GetSchedule(context.Background(), &scheduler.GetScheduleInput{Name: aws.String("once")}); err == nil {
			return fmt.Errorf("schedule once still exists")
		}
		return nil
	})
	// A scheduled task ran a real container to completion.
	task := waitTask(t, c, sched[0], time.Minute, status("STOPPED"))
	if ctr := container(t, task, "main"); aws.ToInt32(ctr.ExitCode) != 0 || aws.ToString(ctr.RuntimeId) == "" {
		t.Fatalf("scheduled task's container: exit %v runtimeId %q", aws.ToInt32(ctr.ExitCode), aws.ToString(ctr.RuntimeId))
	}
	if in := inspect(t, aws.ToString(container(t, task, "main").RuntimeId)); in.State.ExitCode != 0 {
		t.Fatalf("docker says exit %d", in.State.ExitCode)
	}

	p.aws(t, "scheduler", "delete-schedule", "--name", "every-minute")
	p.aws(t, "events", "remove-targets", "--rule", "every-minute-rule", "--ids", "ecs")
	time.Sleep(3 * time.Second) // absences (no more fires) cannot be polled for
	if n := len(listStartedBy(t, c, "scheduler/disabled")); n != 0 {
		t.Fatalf("DISABLED schedule started %d tasks", n)
	}
	if n := len(listStartedBy(t, c, "scheduler/once")); n != 1 {
		t.Fatalf("at() schedule started %d tasks, want 1", n)
	}
	if n := len(listStartedBy(t, c, "events-rule/on-failure")); n != 2 {
		t.Fatalf("%d recover tasks for 2 failed tasks, want 2", n)
	}
	// Let every started task finish before the agent goes.
	for _, sb := range []string{"scheduler/every-minute", "events-rule/every-minute-rule", "events-rule/on-failure", "scheduler/once"} {
		for _, arn := range listStartedBy(t, c, sb) {
			waitTask(t, c, arn, time.Minute, status("STOPPED"))
		}
	}
	p.stop(t, syscall.SIGTERM)
}

func schedulerClient(t testing.TB, p *berthProc) *scheduler.Client {
	t.Helper()
	id, secret := p.key(t)
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion(testenv.Region),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, secret, "")))
	if err != nil {
		t.Fatal(err)
	}
	return scheduler.NewFromConfig(cfg, func(o *scheduler.Options) { o.BaseEndpoint = aws.String("http://" + p.api) })
}

// listStartedBy lists the tasks (running or stopped) started by startedBy.
func listStartedBy(t testing.TB, c *ecs.Client, startedBy string) []string {
	t.Helper()
	var arns []string
	for _, d := range []ecstypes.DesiredStatus{ecstypes.DesiredStatusRunning, ecstypes.DesiredStatusStopped} {
		out, err := c.ListTasks(context.Background(), &ecs.ListTasksInput{StartedBy: aws.String(startedBy), DesiredStatus: d})
		if err != nil {
			t.Fatal(err)
		}
		arns = append(arns, out.TaskArns...)
	}
	return arns
}

// waitStartedBy waits for at least n tasks started by startedBy.
func waitStartedBy(t testing.TB, c *ecs.Client, startedBy string, n int) []string {
	t.Helper()
	var arns []string
	natstest.Eventually(t, 90*time.Second, 200*time.Millisecond, func() error {
		arns = listStartedBy(t, c, startedBy)
		if len(arns) < n {
			return fmt.Errorf("%d tasks started by %s, want %d", len(arns), startedBy, n)
		}
		return nil
	})
	return arns
}
