package control_test

import (
	"encoding/json"
	"path"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/simagent"
)

// TestRunTask_AssignmentCarriesTrace: the trace of a RunTask call (its
// traceparent header, through the gateway and the NATS request) reaches
// the agent's assignment, which travels through a KV watch without
// headers. No TracerProvider is installed: the context travels anyway.
func TestRunTask_AssignmentCarriesTrace(t *testing.T) {
	e := startSched(t, 1, testConfig())
	e.cluster(t, "traced")
	a := e.agent(t, simagent.Config{Cluster: "traced", CPU: 1024, Memory: 2048})
	td := e.taskDef(t, "web", 128, 256)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	out, err := e.ecs.RunTask(t.Context(), &ecs.RunTaskInput{Cluster: aws.String("traced"), TaskDefinition: aws.String(td)},
		ecs.WithAPIOptions(smithyhttp.AddHeaderValue("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")))
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("run task: %v %+v", err, out)
	}
	kv, err := e.JS.KeyValue(t.Context(), events.BucketECSState.Name)
	if err != nil {
		t.Fatal(err)
	}
	key := events.AssignmentKey("traced", a.InstanceID(), path.Base(aws.ToString(out.Tasks[0].TaskArn)))
	entry, err := kv.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("assignment %s: %v", key, err)
	}
	var asg events.TaskAssignment
	if err := json.Unmarshal(entry.Value(), &asg); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(asg.TraceParent, "00-"+traceID+"-") || !strings.HasSuffix(asg.TraceParent, "-01") {
		t.Errorf("assignment traceParent %q, want trace %s", asg.TraceParent, traceID)
	}

	// Without a traceparent, the assignment has none.
	out, err = e.ecs.RunTask(t.Context(), &ecs.RunTaskInput{Cluster: aws.String("traced"), TaskDefinition: aws.String(td)})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("run task: %v %+v", err, out)
	}
	key = events.AssignmentKey("traced", a.InstanceID(), path.Base(aws.ToString(out.Tasks[0].TaskArn)))
	if entry, err = kv.Get(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	asg = events.TaskAssignment{}
	if err := json.Unmarshal(entry.Value(), &asg); err != nil || asg.TraceParent != "" {
		t.Errorf("untraced assignment: %v %q", err, asg.TraceParent)
	}
}
