package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/berth-project/berth/internal/tracing"
	"github.com/berth-project/berth/metrics"
)

// exporter builds the OpenTelemetry exporter when --metrics-addr or
// --otlp-endpoint asks for one, and the component that serves /metrics
// (or only flushes OTLP at shutdown). Nil, nil without either.
func (n *node) exporter(ctx context.Context) (*metrics.Exporter, *component, error) {
	c := n.cfg
	if c.MetricsAddr == "" && c.OTLPEndpoint == "" {
		return nil, nil, nil
	}
	if c.MetricsAddr != "" {
		if err := metrics.CheckMetricsAddr(c.MetricsAddr, c.MetricsPublic); err != nil {
			return nil, nil, err
		}
	}
	exp, err := metrics.NewExporter(ctx, metrics.ExporterConfig{Prometheus: c.MetricsAddr != "", OTLPEndpoint: c.OTLPEndpoint})
	if err != nil {
		return nil, nil, err
	}
	if c.MetricsAddr == "" {
		return exp, &component{name: "otlp", stage: 1, run: func(ctx context.Context) error {
			<-ctx.Done()
			n.lastExport("metrics", exp.Shutdown(context.WithoutCancel(ctx)))
			return nil
		}}, nil
	}
	l, err := net.Listen("tcp", c.MetricsAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	if n.ls.tls != nil {
		l = tls.NewListener(l, n.ls.tls)
	}
	n.log.Info("prometheus /metrics listening", "addr", l.Addr().String())
	return exp, &component{name: "prometheus", stage: 0, run: func(ctx context.Context) error {
		err := exp.Serve(ctx, l)
		if ctx.Err() != nil { // stopping: only the last OTLP export can have failed
			n.lastExport("metrics", err)
			return nil
		}
		return err
	}}, nil
}

// tracer installs the OTLP trace exporter when an OTLP endpoint is
// configured (nil otherwise): the gateway, every service's API handlers,
// the scheduler's placement and the agent's task start record spans into
// it, and the trace context travels through NATS headers. Its component
// (stage 2, after every service has stopped) flushes the last spans.
func (n *node) tracer(ctx context.Context) (*component, error) {
	if n.cfg.OTLPEndpoint == "" {
		return nil, nil
	}
	shutdown, err := tracing.Setup(ctx, n.cfg.OTLPEndpoint, "berth")
	if err != nil {
		return nil, err
	}
	return &component{name: "tracing", stage: 2, run: func(ctx context.Context) error {
		<-ctx.Done()
		n.lastExport("traces", shutdown(context.WithoutCancel(ctx)))
		return nil
	}}, nil
}

// lastExport logs a failed last OTLP export at shutdown: the receiver may
// be gone, and Berth still stopped cleanly.
func (n *node) lastExport(what string, err error) {
	if err != nil {
		n.log.Warn("last OTLP export at shutdown failed", "what", what, "err", err)
	}
}
