package gateway

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// opKey holds, in a request's context, the operation a front found (the
// query protocol only knows it once the body is read).
type opKey struct{}

func setOperation(r *http.Request, op string) {
	if p, ok := r.Context().Value(opKey{}).(*string); ok {
		*p = op
	}
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// instrument counts the API calls and records their latency by API,
// operation and status class (berth.gateway.requests,
// berth.gateway.request.duration) when a Meter is configured.
func (g *Gateway) instrument(h http.Handler) http.Handler {
	m := g.cfg.Meter
	if m == nil {
		return h
	}
	reqs, err1 := m.Int64Counter("berth.gateway.requests", metric.WithUnit("{request}"), metric.WithDescription("AWS API calls answered by the gateway"))
	dur, err2 := m.Float64Histogram("berth.gateway.request.duration", metric.WithUnit("s"), metric.WithDescription("AWS API call latency"),
		metric.WithExplicitBucketBoundaries(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	if err1 != nil || err2 != nil {
		g.cfg.Log.Warn("gateway metrics off", "err", err1, "err2", err2)
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		api, op := g.describe(r)
		r = r.WithContext(context.WithValue(r.Context(), opKey{}, &op))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		if api == "" {
			return // health checks and unknown paths
		}
		set := metric.WithAttributes(attribute.String("api", api), attribute.String("operation", op),
			attribute.String("status", strconv.Itoa(sw.status/100)+"xx"))
		reqs.Add(r.Context(), 1, set)
		dur.Record(r.Context(), time.Since(start).Seconds(), set)
	})
}

// describe names a request's API and operation from what is known before
// its body is read.
func (g *Gateway) describe(r *http.Request) (string, string) {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		prefix, op, _ := strings.Cut(t, ".")
		if route := g.targets[prefix]; route != nil {
			return route.API, op
		}
		return "unknown", "unknown"
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, "/service/"); ok {
		svc, op, _ := strings.Cut(rest, "/operation/")
		if route := g.targets[svc]; route != nil {
			return route.API, op
		}
		return "unknown", "unknown"
	}
	if r.Method == http.MethodPost && isQuery(r) {
		if route := g.routeBySigningName(r); route != nil {
			return route.API, "unknown"
		}
		return "unknown", "unknown"
	}
	return "", ""
}
