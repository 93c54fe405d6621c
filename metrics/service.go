package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natsutil"
)

// Version is the micro service version the service registers.
const Version = "0.1.0"

// Config configures the service.
type Config struct {
	Region   string
	Account  string
	Replicas int
	// Timeout bounds each API call (default 60 s).
	Timeout time.Duration
	// CountsInterval is how often the control plane's counts become
	// datapoints (default 60 s; 0 keeps the default, negative turns it off).
	CountsInterval time.Duration
	// Telemetry turns the Container Insights consumer on (default true
	// through NoTelemetry false).
	NoTelemetry bool
	// Observer receives the Container Insights values for the Prometheus and
	// OTLP exporters (nil: none).
	Observer Observer
	Log      *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Observer is told every Container Insights task sample the service turns
// into datapoints (the exporters' latest values).
type Observer interface {
	ObserveTelemetry(s events.TelemetrySample)
}

// Service answers the CloudWatch metrics operations and turns telemetry into
// Container Insights datapoints.
type Service struct {
	cfg Config
	nc  *nats.Conn
	js  jetstream.JetStream
	st  *store
	obs counters
	// logStreams remembers the performance log streams this replica made.
	logStreams sync.Map
}

// New returns a service on nc and js. Nothing happens until Run.
func New(cfg Config, nc *nats.Conn, js jetstream.JetStream) (*Service, error) {
	if nc == nil || js == nil {
		return nil, errors.New("metrics: nil NATS connection")
	}
	if cfg.Region == "" || cfg.Account == "" {
		return nil, errors.New("metrics: region and account are required")
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.CountsInterval == 0 {
		cfg.CountsInterval = time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg, nc: nc, js: js}, nil
}

// Run ensures the streams, serves the API and consumes telemetry until ctx
// ends.
func (s *Service) Run(ctx context.Context) error {
	stream, err := natsutil.EnsureStream(ctx, s.js, events.StreamMetricData, s.cfg.Replicas)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if _, err := natsutil.EnsureStream(ctx, s.js, events.StreamTelemetry, s.cfg.Replicas); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	s.st = newStore(stream, s.cfg.Log, s.cfg.Now)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	wg.Go(func() {
		if err := s.st.follow(ctx); err != nil {
			errc <- err
		}
	})
	wg.Go(func() { s.expireLoop(ctx) })
	if !s.cfg.NoTelemetry {
		wg.Go(func() {
			if err := s.consumeTelemetry(ctx); err != nil {
				errc <- err
			}
		})
	}
	if s.cfg.CountsInterval > 0 {
		wg.Go(func() { s.countsLoop(ctx) })
	}
	svc, err := s.serve()
	if err != nil {
		cancel()
		wg.Wait()
		return err
	}
	s.cfg.Log.Info("metrics service running")
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	_ = svc.Stop()
	cancel()
	wg.Wait()
	return err
}

func (s *Service) serve() (micro.Service, error) {
	svc, err := micro.AddService(s.nc, micro.Config{
		Name:        events.ServiceMetrics,
		Version:     Version,
		Description: "CloudWatch metrics and Container Insights",
		QueueGroup:  events.QueueGroup,
	})
	if err != nil {
		return nil, fmt.Errorf("metrics: add service: %w", err)
	}
	api := natsutil.NewAPI(svc, natsutil.APIConfig{
		API:       events.APIMetrics,
		FaultCode: events.CodeCWInternalServiceFault,
		Timeout:   s.cfg.Timeout,
		Log:       s.cfg.Log,
	})
	for op, h := range map[string]natsutil.Handler{
		"PutMetricData":       s.putMetricData,
		"ListMetrics":         s.listMetrics,
		"GetMetricStatistics": s.getMetricStatistics,
		"GetMetricData":       s.getMetricData,
	} {
		if err := api.Handle(op, h); err != nil {
			_ = svc.Stop()
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return svc, nil
}

// publish stores one batch of datapoints; msgID makes a retried batch count
// once.
func (s *Service) publish(ctx context.Context, ns string, pts []events.StoredPoint, msgID string) error {
	if len(pts) == 0 {
		return nil
	}
	data, err := json.Marshal(events.StoredBatch{Points: pts})
	if err != nil {
		return fmt.Errorf("metrics: encode: %w", err)
	}
	opts := []jetstream.PublishOpt{}
	if msgID != "" && msgID != "put-" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	if _, err := s.js.Publish(ctx, events.SubjMetricData(ns), data, opts...); err != nil {
		return fmt.Errorf("metrics: store datapoints: %w", err)
	}
	return nil
}

func (s *Service) expireLoop(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.st.expire(s.cfg.Now().Add(-events.StreamMetricData.MaxAge))
		}
	}
}
