package gateway_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/berth-project/berth/internal/natstest"
)

// TestGateway_TraceContext: a call with a traceparent header gets the
// gateway's server span "gateway ecs.CreateCluster" as its child, and the
// scheduler's handler span "ecs.CreateCluster" (reached over NATS) is the
// gateway span's child, in the same trace.
func TestGateway_TraceContext(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	env := withScheduler(t)

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	_, err := env.ECS().CreateCluster(t.Context(), &ecs.CreateClusterInput{ClusterName: aws.String("traced")},
		ecs.WithAPIOptions(smithyhttp.AddHeaderValue("traceparent", "00-"+traceID+"-"+parentID+"-01")))
	if err != nil {
		t.Fatal(err)
	}
	// The gateway's span ends just after the reply is written.
	var gw, sched sdktrace.ReadOnlySpan
	natstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		spans := map[string]sdktrace.ReadOnlySpan{}
		for _, sp := range rec.Ended() {
			if sp.SpanContext().TraceID().String() == traceID {
				spans[sp.Name()] = sp
			}
		}
		if gw, sched = spans["gateway ecs.CreateCluster"], spans["ecs.CreateCluster"]; gw == nil || sched == nil {
			return fmt.Errorf("spans of the trace: %v", spans)
		}
		return nil
	})
	if gw.Parent().SpanID().String() != parentID || gw.SpanKind() != trace.SpanKindServer {
		t.Errorf("gateway span parent %s kind %v", gw.Parent().SpanID(), gw.SpanKind())
	}
	if sched.Parent().SpanID() != gw.SpanContext().SpanID() {
		t.Errorf("scheduler span parent %s, want the gateway span %s", sched.Parent().SpanID(), gw.SpanContext().SpanID())
	}
}
