package cron_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/services/cron/cron"
)

// cronEvent is the detail of an invocation or failure event.
type cronEvent struct {
	DetailType string `json:"detail-type"`
	Detail     struct {
		Arn       string   `json:"arn"`
		Attempt   int      `json:"attempt"`
		ErrorCode string   `json:"errorCode"`
		Final     bool     `json:"final"`
		TaskArns  []string `json:"taskArns"`
	} `json:"detail"`
}

// cronEvents collects the cron events published from now on.
func cronEvents(t testing.TB, nc *nats.Conn) func() []cronEvent {
	var mu sync.Mutex
	var got []cronEvent
	sub, err := nc.Subscribe("events.cron.>", func(m *nats.Msg) {
		var ev cronEvent
		if json.Unmarshal(m.Data, &ev) == nil {
			mu.Lock()
			got = append(got, ev)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return func() []cronEvent {
		mu.Lock()
		defer mu.Unlock()
		return append([]cronEvent(nil), got...)
	}
}

// TestFire_RetryPolicy: with no scheduler answering RunTask (a retryable
// failure), a one-time schedule with MaximumRetryAttempts 2 is tried 3
// times, each failure an event, the last one final; nothing more after.
func TestFire_RetryPolicy(t *testing.T) {
	env := testenv.New(t)
	w := &world{Env: env, t: t}
	w.startCron(cron.Config{RetryDelay: 50 * time.Millisecond})
	env.WaitFor(t, "cron")
	collected := cronEvents(t, env.NC)
	testenv.CreateAtSchedule(t, w.scheduler(), scheduler.CreateScheduleInput{
		Name:               aws.String("retry"),
		FlexibleTimeWindow: &schedtypes.FlexibleTimeWindow{Mode: schedtypes.FlexibleTimeWindowModeOff},
		Target: &schedtypes.Target{Arn: aws.String(clusterARN()), RoleArn: aws.String(roleARN),
			EcsParameters: &schedtypes.EcsParameters{TaskDefinitionArn: aws.String("x:1")},
			RetryPolicy:   &schedtypes.RetryPolicy{MaximumRetryAttempts: aws.Int32(2), MaximumEventAgeInSeconds: aws.Int32(600)}},
	}, 0)
	natstest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		if n := len(collected()); n < 3 {
			return fmt.Errorf("%d failure events", n)
		}
		return nil
	})
	time.Sleep(time.Second) // no fourth attempt may come: an absence
	got := collected()
	if len(got) != 3 {
		t.Fatalf("%d events, want 3: %+v", len(got), got)
	}
	for i, ev := range got {
		if ev.DetailType != "Scheduled Target Invocation Failed" || ev.Detail.Attempt != i+1 || ev.Detail.Final != (i == 2) {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
}

// TestFire_ClientErrorIsFinal: a RunTask client error (no such cluster)
// is reported once, final, without retries; the universal
// aws-sdk:ecs:runTask target runs the RunTask request of its Input.
func TestFire_ClientErrorIsFinalAndUniversalTarget(t *testing.T) {
	w := newWorld(t, cron.Config{}, 1)
	td := w.registerFamily("universal")
	collected := cronEvents(t, w.NC)
	c := w.scheduler()
	off := &schedtypes.FlexibleTimeWindow{Mode: schedtypes.FlexibleTimeWindowModeOff}
	missing := "arn:aws:ecs:" + testenv.Region + ":" + testenv.Account + ":cluster/missing"
	testenv.CreateAtSchedule(t, c, scheduler.CreateScheduleInput{
		Name: aws.String("no-cluster"), FlexibleTimeWindow: off,
		Target: &schedtypes.Target{Arn: aws.String(missing), RoleArn: aws.String(roleARN),
			EcsParameters: &schedtypes.EcsParameters{TaskDefinitionArn: aws.String(td)}},
	}, 0)
	input := fmt.Sprintf(`{"Cluster":"default","TaskDefinition":%q,"Count":2,"Overrides":{"ContainerOverrides":[{"Name":"main","Command":["true"]}]}}`, td)
	testenv.CreateAtSchedule(t, c, scheduler.CreateScheduleInput{
		Name: aws.String("universal"), FlexibleTimeWindow: off,
		Target: &schedtypes.Target{Arn: aws.String("arn:aws:scheduler:::aws-sdk:ecs:runTask"), RoleArn: aws.String(roleARN), Input: aws.String(input)},
	}, 0)
	w.waitTasks("scheduler/universal", 2, 20*time.Second)
	natstest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		for _, ev := range collected() {
			if ev.DetailType == "Scheduled Target Invocation Failed" {
				return nil
			}
		}
		return fmt.Errorf("no failure event")
	})
	time.Sleep(time.Second) // no retry may come: an absence
	var failures []cronEvent
	for _, ev := range collected() {
		if ev.DetailType == "Scheduled Target Invocation Failed" {
			failures = append(failures, ev)
		}
	}
	if len(failures) != 1 || !failures[0].Detail.Final || failures[0].Detail.ErrorCode != string(events.CodeClusterNotFound) {
		t.Fatalf("failures: %+v", failures)
	}
}
