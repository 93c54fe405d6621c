package cron_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth-project/berth/internal/simagent"
	"github.com/berth-project/berth/services/cron/cron"
)

// TestCLI_Rule_EventPattern: a rule on "ECS Task State Change" with
// lastStatus STOPPED, the task's group and a containers.exitCode numeric
// match starts its target exactly once per matching task; PutEvents puts
// a user event on the stream and a rule on its source fires too.
func TestCLI_Rule_EventPattern(t *testing.T) {
	w := newWorld(t, cron.Config{}, 0)
	w.addAgent(simagent.Config{HostID: "exits-1", RunTime: 100 * time.Millisecond, ExitCode: 1})
	etl := w.registerFamily("etl")
	cleanup := w.registerFamily("cleanup")
	pattern := `{"source":["aws.ecs"],"detail-type":["ECS Task State Change"],"detail":{"lastStatus":["STOPPED"],"group":["family:etl"],"containers":{"exitCode":[{"numeric":[">",0]}]}}}`
	w.cli("events", "put-rule", "--name", "on-etl-failure", "--event-pattern", pattern)
	w.cli("events", "put-targets", "--rule", "on-etl-failure", "--targets", w.file([]map[string]any{{
		"Id": "cleanup", "Arn": clusterARN(), "EcsParameters": map[string]any{"TaskDefinitionArn": cleanup},
	}}))
	if _, err := w.ECS().RunTask(context.Background(), &ecs.RunTaskInput{TaskDefinition: aws.String(etl), Count: aws.Int32(3)}); err != nil {
		t.Fatal(err)
	}
	w.waitTasks("events-rule/on-etl-failure", 3, 20*time.Second)

	// A user event through PutEvents, matched by source.
	w.cli("events", "put-rule", "--name", "on-deploy", "--event-pattern", `{"source":["my.app"],"detail":{"env":[{"prefix":"prod"}]}}`)
	w.cli("events", "put-targets", "--rule", "on-deploy", "--targets", w.file([]map[string]any{{
		"Id": "t1", "Arn": clusterARN(), "EcsParameters": map[string]any{"TaskDefinitionArn": cleanup, "Group": "deploys"},
	}}))
	entries := w.file([]map[string]any{
		{"Source": "my.app", "DetailType": "Deployed", "Detail": `{"env":"production"}`},
		{"Source": "my.app", "DetailType": "Deployed", "Detail": `{"env":"staging"}`},
		{"Source": "aws.ecs", "DetailType": "Deployed", "Detail": `{}`},
	})
	out := w.cli("events", "put-events", "--entries", entries)
	if out["FailedEntryCount"] != float64(1) {
		t.Fatalf("put-events: %v", out)
	}
	res := out["Entries"].([]any)
	if res[0].(map[string]any)["EventId"] == nil || res[2].(map[string]any)["ErrorCode"] != "NotAuthorizedForSourceException" {
		t.Fatalf("put-events entries: %v", res)
	}
	w.waitTasks("events-rule/on-deploy", 1, 20*time.Second)

	time.Sleep(2 * time.Second) // nothing more may come: no poll can show an absence
	if n := len(w.tasks("events-rule/on-etl-failure")); n != 3 {
		t.Fatalf("%d cleanup tasks for 3 failed etl tasks", n)
	}
	if n := len(w.tasks("events-rule/on-deploy")); n != 1 {
		t.Fatalf("%d deploy tasks for one production event", n)
	}

	// TestEventPattern answers with the same matcher.
	ev, _ := json.Marshal(map[string]any{"id": "1", "account": "123456789012", "source": "aws.ecs", "time": "2026-12-06T10:00:00Z",
		"region": "us-east-1", "detail-type": "ECS Task State Change", "resources": []string{},
		"detail": map[string]any{"lastStatus": "STOPPED", "group": "family:etl", "containers": []any{map[string]any{"exitCode": 2}}}})
	if r := w.cli("events", "test-event-pattern", "--event-pattern", pattern, "--event", string(ev)); r["Result"] != true {
		t.Fatalf("test-event-pattern: %v", r)
	}
	w.cliErr("InvalidEventPatternException", "events", "test-event-pattern", "--event-pattern", `{"source":"aws.ecs"}`, "--event", string(ev))
}

// TestCLI_Errors: AWS-shaped errors for invalid input, nothing stored.
func TestCLI_Errors(t *testing.T) {
	w := newWorld(t, cron.Config{NoFire: true}, 0)
	target := w.file(map[string]any{"Arn": clusterARN(), "RoleArn": roleARN, "EcsParameters": map[string]any{"TaskDefinitionArn": "x:1"}})
	for _, bad := range []string{"cron(0 10 * * * *)", "rate(1 minutes)", "rate(5 minute)", "cron(0 0 ? * 2#6 *)", "at(2026-02-30T00:00:00)", "every day"} {
		w.cliErr("(ValidationException) when calling the CreateSchedule operation: Invalid Schedule Expression "+bad+".",
			"scheduler", "create-schedule", "--name", "bad", "--schedule-expression", bad, "--flexible-time-window", "Mode=OFF", "--target", target)
		w.cliErr("(ValidationException) when calling the PutRule operation: Parameter ScheduleExpression is not valid.",
			"events", "put-rule", "--name", "bad", "--schedule-expression", bad)
	}
	w.cliErr("Parameter(s) EventPattern or ScheduleExpression must be specified.", "events", "put-rule", "--name", "bad")
	w.cliErr("InvalidEventPatternException", "events", "put-rule", "--name", "bad", "--event-pattern", `{"source":"x"}`)
	w.cliErr("Invalid timezone Mars/Olympus.", "scheduler", "create-schedule", "--name", "bad", "--schedule-expression", "rate(5 minutes)",
		"--schedule-expression-timezone", "Mars/Olympus", "--flexible-time-window", "Mode=OFF", "--target", target)
	w.cliErr("MaximumWindowInMinutes is required", "scheduler", "create-schedule", "--name", "bad", "--schedule-expression", "rate(5 minutes)",
		"--flexible-time-window", "Mode=FLEXIBLE", "--target", target)
	w.cliErr("Berth supports ECS cluster", "scheduler", "create-schedule", "--name", "bad", "--schedule-expression", "rate(5 minutes)",
		"--flexible-time-window", "Mode=OFF", "--target", `{"Arn":"arn:aws:lambda:us-east-1:123456789012:function:f","RoleArn":"`+roleARN+`"}`)
	w.cliErr("Schedule group nope does not exist.", "scheduler", "create-schedule", "--name", "ok", "--group-name", "nope", "--schedule-expression", "rate(5 minutes)",
		"--flexible-time-window", "Mode=OFF", "--target", target)
	if l := w.cli("scheduler", "list-schedules"); len(l["Schedules"].([]any)) != 0 {
		t.Fatalf("a failed create stored something: %v", l)
	}
	w.cli("scheduler", "create-schedule", "--name", "ok", "--schedule-expression", "cron(0 10 * * ? *)", "--schedule-expression-timezone", "Europe/Berlin",
		"--flexible-time-window", "Mode=FLEXIBLE,MaximumWindowInMinutes=15", "--target", target)
	w.cli("scheduler", "update-schedule", "--name", "ok", "--state", "DISABLED", "--schedule-expression", "rate(2 hours)",
		"--flexible-time-window", "Mode=OFF", "--target", target)
	if g := w.cli("scheduler", "get-schedule", "--name", "ok"); g["State"] != "DISABLED" || g["ScheduleExpression"] != "rate(2 hours)" || g["ScheduleExpressionTimezone"] != nil {
		t.Fatalf("after update-schedule: %v", g)
	}
	w.cliErr("(ConflictException) when calling the CreateSchedule operation: Schedule ok already exists.", "scheduler", "create-schedule", "--name", "ok",
		"--schedule-expression", "rate(5 minutes)", "--flexible-time-window", "Mode=OFF", "--target", target)
	w.cliErr("(ResourceNotFoundException) when calling the GetSchedule operation: Schedule nope does not exist.", "scheduler", "get-schedule", "--name", "nope")
	w.cliErr("(ResourceNotFoundException) when calling the UpdateSchedule operation: Schedule nope does not exist.", "scheduler", "update-schedule", "--name", "nope",
		"--schedule-expression", "rate(5 minutes)", "--flexible-time-window", "Mode=OFF", "--target", target)

	// Groups, tags and paging.
	w.cli("scheduler", "create-schedule-group", "--name", "batch", "--tags", "Key=team,Value=data")
	w.cliErr("ConflictException", "scheduler", "create-schedule-group", "--name", "batch")
	for _, n := range []string{"a1", "a2", "a3", "b1"} {
		w.cli("scheduler", "create-schedule", "--name", n, "--group-name", "batch", "--state", "DISABLED", "--schedule-expression", "rate(1 hour)",
			"--flexible-time-window", "Mode=OFF", "--target", target)
	}
	page := w.cli("scheduler", "list-schedules", "--group-name", "batch", "--name-prefix", "a", "--max-items", "2")
	if len(page["Schedules"].([]any)) != 2 || page["NextToken"] == nil {
		t.Fatalf("page 1: %v", page)
	}
	all := w.cli("scheduler", "list-schedules", "--group-name", "batch", "--name-prefix", "a", "--page-size", "1")
	if len(all["Schedules"].([]any)) != 3 {
		t.Fatalf("paged list: %v", all)
	}
	if d := w.cli("scheduler", "list-schedules", "--state", "DISABLED"); len(d["Schedules"].([]any)) != 5 {
		t.Fatalf("by state: %v", d)
	}
	garn := "arn:aws:scheduler:us-east-1:123456789012:schedule-group/batch"
	w.cli("scheduler", "tag-resource", "--resource-arn", garn, "--tags", "Key=env,Value=prod")
	w.cli("scheduler", "untag-resource", "--resource-arn", garn, "--tag-keys", "team")
	tags := w.cli("scheduler", "list-tags-for-resource", "--resource-arn", garn)
	if ts := tags["Tags"].([]any); len(ts) != 1 || ts[0].(map[string]any)["Key"] != "env" {
		t.Fatalf("tags: %v", tags)
	}
	if g := w.cli("scheduler", "get-schedule-group", "--name", "batch"); g["State"] != "ACTIVE" {
		t.Fatalf("get-schedule-group: %v", g)
	}
	if gs := w.cli("scheduler", "list-schedule-groups"); len(gs["ScheduleGroups"].([]any)) != 2 {
		t.Fatalf("list-schedule-groups: %v", gs)
	}
	w.cli("scheduler", "delete-schedule-group", "--name", "batch")
	w.cliErr("Schedule group batch does not exist.", "scheduler", "get-schedule-group", "--name", "batch")
	if l := w.cli("scheduler", "list-schedules"); len(l["Schedules"].([]any)) != 1 {
		t.Fatalf("group deletion left schedules: %v", l)
	}
}
