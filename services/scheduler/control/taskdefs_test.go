package control_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/simagent"
)

// TestRunTask_ResolvesHalfWrittenRegistration: a taskdefs replica died
// between its two writes of RegisterTaskDefinition (revision record
// created, family index not rolled forward). RunTask by family must run
// the revision DescribeTaskDefinition answers (the new one), because the
// scheduler asks the taskdefs service instead of reading its bucket; it
// used to read the stale index and run the previous revision.
func TestRunTask_ResolvesHalfWrittenRegistration(t *testing.T) {
	e := startSched(t, 1, testConfig())
	ctx := context.Background()
	e.cluster(t, "half")
	e.agent(t, simagent.Config{Cluster: "half", CPU: 4096, Memory: 8192})
	e.taskDef(t, "halfreg", 10, 64)
	e.taskDef(t, "halfreg", 10, 64)

	kv, err := e.JS.KeyValue(ctx, events.BucketTaskDefs.Name)
	must(t, err)
	entry, err := kv.Get(ctx, events.TaskDefRevisionKey("halfreg", 2))
	must(t, err)
	var rec events.TaskDefRecord
	must(t, json.Unmarshal(entry.Value(), &rec))
	rec.TaskDefinition.Revision = aws.Int32(3)
	rec.TaskDefinition.TaskDefinitionArn = events.TaskDefinitionARN("us-east-1", "123456789012", "halfreg", 3)
	rec.TaskDefinition.ContainerDefinitions[0].Memory = aws.Int32(96)
	raw, err := json.Marshal(rec)
	must(t, err)
	if _, err := kv.Create(ctx, events.TaskDefRevisionKey("halfreg", 3), raw); err != nil {
		t.Fatal(err)
	}

	// RunTask first, while the index still says revision 2.
	out := e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("half"), TaskDefinition: aws.String("halfreg")})
	if len(out.Tasks) != 1 {
		t.Fatalf("run task: %+v", out.Failures)
	}
	desc, err := e.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("halfreg")})
	must(t, err)
	want := aws.ToString(desc.TaskDefinition.TaskDefinitionArn)
	if want != rec.TaskDefinition.TaskDefinitionArn {
		t.Fatalf("DescribeTaskDefinition answered %s, want the half-written revision %s", want, rec.TaskDefinition.TaskDefinitionArn)
	}
	task := out.Tasks[0]
	if got := aws.ToString(task.TaskDefinitionArn); got != want {
		t.Fatalf("RunTask ran %s, DescribeTaskDefinition answers %s", got, want)
	}
	if got := aws.ToString(task.Memory); got != "96" {
		t.Fatalf("task memory %s, want the half-written revision's 96", got)
	}
}

// TestRunTask_TaskDefsRequestLost: a taskdefs replica that takes the
// scheduler's request and dies without answering (here: a member of the
// queue group that never replies) costs RunTask one attempt, not the call.
func TestRunTask_TaskDefsRequestLost(t *testing.T) {
	e := startSched(t, 1, testConfig())
	e.cluster(t, "lost")
	e.agent(t, simagent.Config{Cluster: "lost", CPU: 4096, Memory: 8192})
	td := e.taskDef(t, "lost", 10, 64)
	var swallowed atomic.Int64
	nc := natstest.Connect(t, e.Server)
	sub, err := nc.QueueSubscribe(events.SubjInternal(events.ServiceTaskDefs, "DescribeTaskDefinition"), events.QueueGroup, func(*nats.Msg) {
		swallowed.Add(1)
	})
	must(t, err)
	must(t, nc.Flush())
	for i := 0; swallowed.Load() == 0; i++ {
		if i == 50 {
			t.Fatal("the queue group never gave the silent member a request")
		}
		out := e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("lost"), TaskDefinition: aws.String(td)})
		if len(out.Tasks) != 1 {
			t.Fatalf("run task %d: %+v", i, out.Failures)
		}
	}
	must(t, sub.Unsubscribe())
}
