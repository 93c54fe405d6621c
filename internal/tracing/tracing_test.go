package tracing_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"

	"github.com/berth-project/berth/internal/tracing"
)

func TestCarrier_RoundTrip(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)

	hdr := nats.Header{}
	tracing.Inject(ctx, hdr)
	const want = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if got := hdr.Get("traceparent"); got != want {
		t.Fatalf("traceparent %q, want %q", got, want)
	}
	got := trace.SpanContextFromContext(tracing.Extract(context.Background(), hdr))
	if got.TraceID() != tid || got.SpanID() != sid || !got.IsSampled() || !got.IsRemote() {
		t.Errorf("extracted %+v", got)
	}

	if tp := tracing.TraceParent(ctx); tp != want {
		t.Errorf("TraceParent %q", tp)
	}
	if back := trace.SpanContextFromContext(tracing.ContextWithTraceParent(context.Background(), want)); back.TraceID() != tid {
		t.Errorf("ContextWithTraceParent: %+v", back)
	}

	empty := nats.Header{}
	tracing.Inject(context.Background(), empty)
	if len(empty) != 0 || tracing.TraceParent(context.Background()) != "" {
		t.Errorf("no span, yet %v", empty)
	}
	for _, bad := range []string{"", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"} {
		if trace.SpanContextFromContext(tracing.ContextWithTraceParent(context.Background(), bad)).IsValid() {
			t.Errorf("traceparent %q gave a valid span context", bad)
		}
	}
}

func TestSetup_NoEndpointIsOff(t *testing.T) {
	shutdown, err := tracing.Setup(context.Background(), "", "berth")
	if err != nil || shutdown(context.Background()) != nil {
		t.Fatal(err)
	}
}
