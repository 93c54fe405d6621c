package supervisor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
)

// TestEvents_ServiceAndDeployment follows the public stream while a
// service is created and scaled: "ECS Deployment State Change" IN_PROGRESS
// then COMPLETED, "ECS Service Action" SERVICE_STEADY_STATE and
// SERVICE_DESIRED_COUNT_UPDATED, with AWS's envelope and detail fields.
func TestEvents_ServiceAndDeployment(t *testing.T) {
	e := start(t, 1)
	ctx := context.Background()
	e.cluster(t, "c1")
	e.agents(t, "c1", 1, nil)
	td := e.taskDef(t, "web", "app:1")
	js := e.conn(t)
	cons, err := js.OrderedConsumer(ctx, events.StreamEvents.Name, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.SubjECSEventFilter("c1", events.KindService), events.SubjECSEventFilter("c1", events.KindDeployment)},
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []events.Event
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var ev events.Event
		if json.Unmarshal(m.Data(), &ev) == nil {
			mu.Lock()
			got = append(got, ev)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()
	out, err := e.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("c1"), ServiceName: aws.String("web"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	arn, depID := aws.ToString(out.Service.ServiceArn), aws.ToString(out.Service.Deployments[0].Id)
	find := func(name string) (events.Event, map[string]any, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range got {
			var d map[string]any
			if json.Unmarshal(ev.Detail, &d) == nil && d["eventName"] == name {
				return ev, d, nil
			}
		}
		return events.Event{}, nil, fmt.Errorf("no %s yet", name)
	}
	for _, name := range []string{events.DeploymentInProgressEvent, events.DeploymentCompletedEvent, events.ServiceSteadyState} {
		natstest.Eventually(t, 15*time.Second, 50*time.Millisecond, func() error { _, _, err := find(name); return err })
	}
	if _, err := e.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("c1"), Service: aws.String("web"), DesiredCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	natstest.Eventually(t, 15*time.Second, 50*time.Millisecond, func() error { _, _, err := find(events.ServiceDesiredCountUpdated); return err })

	ev, d, _ := find(events.DeploymentCompletedEvent)
	if ev.DetailType != events.DetailDeploymentStateChange || ev.Source != "aws.ecs" || ev.Version != "0" || !slices.Equal(ev.Resources, []string{arn}) ||
		d["eventType"] != "INFO" || d["deploymentId"] != depID || d["reason"] != "ECS deployment "+depID+" completed." || d["updatedAt"] == nil {
		t.Fatalf("deployment completed: %+v %v", ev, d)
	}
	ev, d, _ = find(events.ServiceSteadyState)
	if ev.DetailType != events.DetailServiceAction || d["eventType"] != "INFO" || d["clusterArn"] != aws.ToString(out.Service.ClusterArn) || d["createdAt"] == nil || d["version"] != nil {
		t.Fatalf("steady state: %+v %v", ev, d)
	}
	_, d, _ = find(events.DeploymentInProgressEvent)
	if d["reason"] != "ECS deployment "+depID+" in progress." {
		t.Fatalf("in progress: %v", d)
	}
}
