package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/berth-project/berth/events"
)

// ExporterConfig configures an Exporter.
type ExporterConfig struct {
	// Prometheus adds a pull reader served by Handler.
	Prometheus bool
	// OTLPEndpoint is an OTLP/HTTP endpoint URL (http://host:4318); ""
	// means no push.
	OTLPEndpoint string
	// OTLPInterval is the push interval (default 60 s).
	OTLPInterval time.Duration
	// ServiceName is the resource's service.name (default "berth").
	ServiceName string
	// MaxAge drops a task's values not refreshed for that long (default 5
	// minutes).
	MaxAge time.Duration
}

// Exporter exports the latest Container Insights values (and whatever
// other Berth components record through Meter) through OpenTelemetry: a
// Prometheus registry for /metrics and an OTLP/HTTP push.
type Exporter struct {
	cfg      ExporterConfig
	provider *sdkmetric.MeterProvider
	reg      *prometheus.Registry
	meter    metric.Meter

	mu     sync.Mutex
	latest map[string]taskValues // by task ARN
}

type taskValues struct {
	seen    time.Time
	cluster string
	task    events.TaskSample
}

// NewExporter builds the readers and registers the Container Insights
// instruments.
func NewExporter(ctx context.Context, cfg ExporterConfig) (*Exporter, error) {
	if cfg.ServiceName == "" {
		cfg.ServiceName = "berth"
	}
	if cfg.OTLPInterval <= 0 {
		cfg.OTLPInterval = time.Minute
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 5 * time.Minute
	}
	x := &Exporter{cfg: cfg, latest: map[string]taskValues{}}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", cfg.ServiceName)))
	if err != nil {
		return nil, fmt.Errorf("metrics: otel resource: %w", err)
	}
	opts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	if cfg.Prometheus {
		x.reg = prometheus.NewRegistry()
		r, err := otelprom.New(otelprom.WithRegisterer(x.reg), otelprom.WithoutScopeInfo())
		if err != nil {
			return nil, fmt.Errorf("metrics: prometheus exporter: %w", err)
		}
		opts = append(opts, sdkmetric.WithReader(r))
	}
	if cfg.OTLPEndpoint != "" {
		// Like OTEL_EXPORTER_OTLP_ENDPOINT, a base URL gets /v1/metrics.
		u := cfg.OTLPEndpoint
		if pu, err := url.Parse(u); err == nil && (pu.Path == "" || pu.Path == "/") {
			u = strings.TrimSuffix(u, "/") + "/v1/metrics"
		}
		exp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(u))
		if err != nil {
			return nil, fmt.Errorf("metrics: otlp exporter: %w", err)
		}
		opts = append(opts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(cfg.OTLPInterval))))
	}
	x.provider = sdkmetric.NewMeterProvider(opts...)
	x.meter = x.provider.Meter("github.com/berth-project/berth/metrics")
	if err := x.registerInsights(); err != nil {
		return nil, err
	}
	return x, nil
}

// Meter is for other components' instruments (gateway requests, ...).
func (x *Exporter) Meter() metric.Meter { return x.meter }

// Handler serves the Prometheus text format (404 without Prometheus).
func (x *Exporter) Handler() http.Handler {
	if x.reg == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(x.reg, promhttp.HandlerOpts{})
}

// Flush pushes the OTLP reader's data now.
func (x *Exporter) Flush(ctx context.Context) error { return x.provider.ForceFlush(ctx) }

// Shutdown flushes and stops the readers.
func (x *Exporter) Shutdown(ctx context.Context) error { return x.provider.Shutdown(ctx) }

// ObserveTelemetry keeps the sample's task values as the latest.
func (x *Exporter) ObserveTelemetry(s events.TelemetrySample) {
	x.mu.Lock()
	defer x.mu.Unlock()
	now := time.Now()
	for _, t := range s.Tasks {
		x.latest[t.TaskArn] = taskValues{seen: now, cluster: s.Cluster, task: t}
	}
	for k, v := range x.latest {
		if now.Sub(v.seen) > x.cfg.MaxAge {
			delete(x.latest, k)
		}
	}
}

// gauge is one Container Insights series.
type gauge struct {
	name, unit, desc string
	value            func(events.TaskSample) float64
}

var insightsGauges = []gauge{
	{"ecs.task.cpu.utilized", "{cpu_unit}", "CpuUtilized: CPU units used (1024 = 1 vCPU)", func(t events.TaskSample) float64 { return t.CpuUtilized }},
	{"ecs.task.cpu.reserved", "{cpu_unit}", "CpuReserved: CPU units reserved", func(t events.TaskSample) float64 { return t.CpuReserved }},
	{"ecs.task.memory.utilized", "MiBy", "MemoryUtilized: memory used, MiB", func(t events.TaskSample) float64 { return t.MemoryUtilized }},
	{"ecs.task.memory.reserved", "MiBy", "MemoryReserved: memory reserved, MiB", func(t events.TaskSample) float64 { return t.MemoryReserved }},
	{"ecs.task.network.rx.rate", "By/s", "NetworkRxBytes: bytes received per second", func(t events.TaskSample) float64 { return t.NetworkRxBytes }},
	{"ecs.task.network.tx.rate", "By/s", "NetworkTxBytes: bytes sent per second", func(t events.TaskSample) float64 { return t.NetworkTxBytes }},
	{"ecs.task.storage.read", "By", "StorageReadBytes: bytes read (cumulative)", func(t events.TaskSample) float64 { return t.StorageReadBytes }},
	{"ecs.task.storage.write", "By", "StorageWriteBytes: bytes written (cumulative)", func(t events.TaskSample) float64 { return t.StorageWriteBytes }},
}

func (x *Exporter) registerInsights() error {
	obs := make([]metric.Float64ObservableGauge, len(insightsGauges))
	insts := make([]metric.Observable, len(insightsGauges))
	for i, g := range insightsGauges {
		o, err := x.meter.Float64ObservableGauge(g.name, metric.WithUnit(g.unit), metric.WithDescription(g.desc))
		if err != nil {
			return fmt.Errorf("metrics: instrument %s: %w", g.name, err)
		}
		obs[i], insts[i] = o, o
	}
	_, err := x.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		x.mu.Lock()
		defer x.mu.Unlock()
		for _, v := range x.latest {
			attrs := []attribute.KeyValue{
				attribute.String("ClusterName", v.cluster),
				attribute.String("TaskDefinitionFamily", v.task.Family),
				attribute.String("TaskId", path.Base(v.task.TaskArn)),
			}
			if v.task.ServiceName != "" {
				attrs = append(attrs, attribute.String("ServiceName", v.task.ServiceName))
			}
			set := metric.WithAttributes(attrs...)
			for i, g := range insightsGauges {
				o.ObserveFloat64(obs[i], g.value(v.task), set)
			}
		}
		return nil
	}, insts...)
	if err != nil {
		return fmt.Errorf("metrics: insights callback: %w", err)
	}
	return nil
}

// ErrPublicMetrics refuses a non-loopback /metrics address without the
// explicit opt-in.
var ErrPublicMetrics = errors.New("metrics: the /metrics address is not a loopback address; allow it explicitly (--metrics-public)")

// CheckMetricsAddr refuses a non-loopback listen address unless public.
func CheckMetricsAddr(addr string, public bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("metrics: --metrics-addr %q: %w", addr, err)
	}
	if public || host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return ErrPublicMetrics
	}
	return nil
}

// Serve serves /metrics on l until ctx ends.
func (x *Exporter) Serve(ctx context.Context, l net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", x.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("metrics: serve /metrics: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return x.Shutdown(sctx)
}
