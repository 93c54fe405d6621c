package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

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
			return exp.Shutdown(context.WithoutCancel(ctx))
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
	return exp, &component{name: "prometheus", stage: 0, run: func(ctx context.Context) error { return exp.Serve(ctx, l) }}, nil
}
