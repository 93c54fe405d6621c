package natsutil_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/internal/tracing"
)

// TestAPI_TraceContext: a Call made inside a span carries traceparent; the
// handler runs in a server span named <api>.<Op>, child of the caller's
// span, and a Call it makes continues the same trace. A call without a
// span sends no traceparent.
func TestAPI_TraceContext(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	s := natstest.Start(t)
	nc := natstest.Connect(t, s)
	svc, err := micro.AddService(nc, micro.Config{Name: "tracetest", Version: "0.0.1", QueueGroup: events.QueueGroup})
	if err != nil {
		t.Fatal(err)
	}
	api := natsutil.NewAPI(svc, natsutil.APIConfig{API: "trace"})
	var mu sync.Mutex
	sawHeader := map[string]string{}
	saw := func(op string) string { mu.Lock(); defer mu.Unlock(); return sawHeader[op] }
	must(t, api.Handle("Outer", func(ctx context.Context, r *natsutil.Request) (any, error) {
		mu.Lock()
		sawHeader["Outer"] = r.Headers.Get("traceparent")
		mu.Unlock()
		return nil, natsutil.Call(ctx, nc, events.SubjAPI("trace", "Inner"), struct{}{}, nil)
	}))
	must(t, api.Handle("Inner", func(_ context.Context, r *natsutil.Request) (any, error) {
		mu.Lock()
		sawHeader["Inner"] = r.Headers.Get("traceparent")
		mu.Unlock()
		return nil, nil
	}))

	must(t, natsutil.Call(t.Context(), nc, events.SubjAPI("trace", "Inner"), struct{}{}, nil))
	if h := saw("Inner"); h != "" {
		t.Fatalf("untraced call sent traceparent %q", h)
	}

	ctx, root := tracing.Tracer().Start(t.Context(), "client")
	must(t, natsutil.Call(ctx, nc, events.SubjAPI("trace", "Outer"), struct{}{}, nil))
	root.End()
	if saw("Outer") == "" || saw("Inner") == "" {
		t.Fatalf("traceparent not carried: Outer %q, Inner %q", saw("Outer"), saw("Inner"))
	}
	want := root.SpanContext().TraceID()
	// A handler's span ends just after its reply is sent.
	var outer, inner sdktrace.ReadOnlySpan
	natstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		byName := map[string]sdktrace.ReadOnlySpan{}
		for _, sp := range rec.Ended() {
			if sp.SpanContext().TraceID() == want {
				byName[sp.Name()] = sp
			}
		}
		if outer, inner = byName["trace.Outer"], byName["trace.Inner"]; outer == nil || inner == nil {
			return fmt.Errorf("spans of trace %s: %v", want, byName)
		}
		return nil
	})
	if outer.Parent().SpanID() != root.SpanContext().SpanID() || inner.Parent().SpanID() != outer.SpanContext().SpanID() {
		t.Errorf("parents: Outer's %s (want %s), Inner's %s (want %s)", outer.Parent().SpanID(), root.SpanContext().SpanID(),
			inner.Parent().SpanID(), outer.SpanContext().SpanID())
	}
	if outer.SpanKind() != trace.SpanKindServer {
		t.Errorf("Outer span kind %v", outer.SpanKind())
	}
}
