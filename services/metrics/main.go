package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/svc"
	"github.com/berth-project/berth/internal/tlsconf"
	"github.com/berth-project/berth/metrics"
)

func main() { svc.Exec("metrics", run) }

// flags are the exporter settings.
type flags struct {
	addr, otlp string
	public     bool
	tls        tlsconf.Files
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	var f flags
	extra := func(fs *flag.FlagSet) {
		svc.String(fs, getenv, &f.addr, "metrics-addr", "BERTH_METRICS_ADDR", "", "Prometheus /metrics listen address (empty: off; a non-loopback address also needs --metrics-public)")
		svc.Bool(fs, getenv, &f.public, "metrics-public", "BERTH_METRICS_PUBLIC", false, "allow --metrics-addr on a non-loopback address")
		svc.String(fs, getenv, &f.otlp, "otlp-endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", "", "OTLP/HTTP endpoint for metrics, e.g. http://127.0.0.1:4318 (empty: off)")
		svc.RegisterHTTPTLS(fs, getenv, &f.tls)
	}
	return svc.Main(ctx, events.ServiceMetrics, args, getenv, stderr, extra,
		func(ctx context.Context, c svc.Common, nc *nats.Conn, js jetstream.JetStream, log *slog.Logger) (svc.Runner, error) {
			cfg := metrics.Config{Region: c.Region, Account: c.Account, Replicas: c.Replicas, Log: log}
			r := &runner{}
			if f.addr != "" || f.otlp != "" {
				if err := r.exporter(ctx, f, js); err != nil {
					return nil, err
				}
				cfg.Observer = r.exp
			}
			s, err := metrics.New(cfg, nc, js)
			if err != nil {
				return nil, err
			}
			r.svc = s
			return r, nil
		})
}

// runner runs the service and, when configured, the exporter.
type runner struct {
	svc *metrics.Service
	exp *metrics.Exporter
	l   net.Listener
}

func (r *runner) exporter(ctx context.Context, f flags, js jetstream.JetStream) error {
	var tlsCfg *tls.Config
	if f.addr != "" {
		if err := metrics.CheckMetricsAddr(f.addr, f.public); err != nil {
			return err
		}
		var err error
		if tlsCfg, err = svc.HTTPTLS(f.tls); err != nil {
			return err
		}
	}
	exp, err := metrics.NewExporter(ctx, metrics.ExporterConfig{Prometheus: f.addr != "", OTLPEndpoint: f.otlp, ServiceName: "berth-metrics"})
	if err != nil {
		return err
	}
	if err := exp.RegisterNATSHealth(js); err != nil {
		return err
	}
	if f.addr != "" {
		if r.l, err = net.Listen("tcp", f.addr); err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		if tlsCfg != nil {
			r.l = tls.NewListener(r.l, tlsCfg)
		}
	}
	r.exp = exp
	return nil
}

func (r *runner) Run(ctx context.Context) error {
	if r.exp == nil {
		return r.svc.Run(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		if r.l != nil {
			errc <- r.exp.Serve(ctx, r.l)
			return
		}
		<-ctx.Done()
		errc <- r.exp.Shutdown(context.WithoutCancel(ctx))
	}()
	err := r.svc.Run(ctx)
	cancel()
	if eerr := <-errc; err == nil {
		err = eerr
	}
	return err
}
