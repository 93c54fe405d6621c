package gateway

import (
	"context"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/berth-project/berth/internal/tracing"
)

// traced starts a server span for each API call, named <api>.<Operation>
// ("gateway" for health checks and unknown paths are not traced), as the
// child of the caller's traceparent header if it sent one. The span's
// context reaches the services through the NATS request headers
// (natsutil.RequestRaw injects it). Without a TracerProvider (no OTLP
// endpoint) the span is a no-op.
func (g *Gateway) traced(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api, op := g.describe(r)
		if api == "" {
			h.ServeHTTP(w, r)
			return
		}
		ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracing.Tracer().Start(ctx, "gateway "+api+"."+op, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("rpc.service", api), attribute.String("http.request.method", r.Method)))
		defer span.End()
		// The query protocol names its operation only once the body is
		// read: the front records it through opKey.
		p, ok := ctx.Value(opKey{}).(*string)
		if !ok {
			p = &op
			ctx = context.WithValue(ctx, opKey{}, p)
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r.WithContext(ctx))
		span.SetName("gateway " + api + "." + *p)
		span.SetAttributes(attribute.String("rpc.method", *p), attribute.Int("http.response.status_code", sw.status))
		if sw.status >= 500 {
			span.SetStatus(codes.Error, strconv.Itoa(sw.status))
		}
	})
}
