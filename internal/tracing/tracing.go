package tracing

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of Berth's spans.
const ScopeName = "github.com/berth-project/berth"

// propagator is W3C Trace Context (traceparent and tracestate headers).
var propagator = propagation.TraceContext{}

// Carrier adapts NATS headers to propagation.TextMapCarrier. NATS header
// names are case-sensitive: the keys are the W3C lowercase names.
type Carrier nats.Header

// Get returns the first value of key.
func (c Carrier) Get(key string) string { return nats.Header(c).Get(key) }

// Set replaces the values of key.
func (c Carrier) Set(key, value string) { nats.Header(c).Set(key, value) }

// Keys lists the header names.
func (c Carrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes ctx's span context into hdr (nothing when ctx has none).
func Inject(ctx context.Context, hdr nats.Header) {
	if hdr == nil || !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	propagator.Inject(ctx, Carrier(hdr))
}

// Extract returns ctx with the remote span context hdr carries, if any.
func Extract(ctx context.Context, hdr nats.Header) context.Context {
	if len(hdr) == 0 {
		return ctx
	}
	return propagator.Extract(ctx, Carrier(hdr))
}

// Tracer is Berth's tracer from the global TracerProvider.
func Tracer() trace.Tracer { return otel.Tracer(ScopeName) }

// TraceParent is ctx's span context as a W3C traceparent value ("" when
// ctx has none), for records that travel without headers.
func TraceParent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return c["traceparent"]
}

// ContextWithTraceParent returns ctx with the remote span context of a
// traceparent value (ctx unchanged when tp is empty or malformed).
func ContextWithTraceParent(ctx context.Context, tp string) context.Context {
	if tp == "" {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier{"traceparent": tp})
}

// Setup installs a TracerProvider that sends spans in batches to an
// OTLP/HTTP endpoint URL (http://host:4318: like
// OTEL_EXPORTER_OTLP_ENDPOINT, a base URL gets /v1/traces) as service
// serviceName, and returns its shutdown (which flushes). An empty endpoint
// installs nothing and returns a no-op shutdown.
func Setup(ctx context.Context, endpoint, serviceName string) (func(context.Context) error, error) {
	if endpoint == "" {
		return func(context.Context) error { return nil }, nil
	}
	u := endpoint
	if pu, err := url.Parse(u); err == nil && (pu.Path == "" || pu.Path == "/") {
		u = strings.TrimSuffix(u, "/") + "/v1/traces"
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u))
	if err != nil {
		return nil, fmt.Errorf("tracing: otlp exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", serviceName)))
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Second)), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}
