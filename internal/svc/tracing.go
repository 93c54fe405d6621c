package svc

import (
	"context"
	"log/slog"
	"time"

	"github.com/berth-project/berth/internal/tracing"
)

// StartTracing installs the OTLP/HTTP trace exporter of a standalone
// service when OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
// OTEL_EXPORTER_OTLP_ENDPOINT names an endpoint (nothing otherwise), and
// returns the function that flushes and stops it at exit.
func StartTracing(ctx context.Context, name string, getenv func(string) string, log *slog.Logger) (func(), error) {
	endpoint := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if endpoint == "" {
		endpoint = getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if endpoint == "" {
		return func() {}, nil
	}
	shutdown, err := tracing.Setup(ctx, endpoint, "berth-"+name)
	if err != nil {
		return nil, err
	}
	log.Info("tracing", "otlp_endpoint", endpoint)
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := shutdown(sctx); err != nil {
			log.Warn("trace exporter shutdown", "err", err)
		}
	}, nil
}
