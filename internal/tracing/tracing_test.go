package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
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

// TestSetup_ExportsOTLP: with an endpoint, spans reach an OTLP/HTTP
// receiver at /v1/traces by shutdown (which flushes).
func TestSetup_ExportsOTLP(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path+" "+r.Header.Get("Content-Type"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	prev := otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	shutdown, err := tracing.Setup(t.Context(), srv.URL, "berth-test")
	if err != nil {
		t.Fatal(err)
	}
	_, span := tracing.Tracer().Start(t.Context(), "unit")
	span.End()
	if err := shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) == 0 || paths[0] != "/v1/traces application/x-protobuf" {
		t.Errorf("receiver saw %v", paths)
	}
}
