package cron

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/members"
	"github.com/berth-project/berth/internal/natsutil"
)

// Version is the micro service version the service registers.
const Version = "0.1.0"

// Durable consumer names, shared by every replica.
const (
	firesConsumer = "cron"
	rulesConsumer = "cron-rules"
)

// Config configures the service.
type Config struct {
	// Region and Account go into ARNs and events.
	Region  string
	Account string
	// Replicas is the JetStream replica count of what this service creates.
	Replicas int
	// Timeout bounds each API call and each target invocation (default 60 s).
	Timeout time.Duration
	Log     *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Minute is the length of a minute in rate expressions (default one
	// minute; tests shorten it so rate(1 minute) fires every Minute).
	Minute time.Duration
	// Tick is how often a replica looks for due occurrences (default 1 s,
	// at most Minute/4).
	Tick time.Duration
	// CatchUp is how far back a starting replica fires occurrences it finds
	// missed (default 5 minutes; must stay below the CRON_FIRES duplicate
	// window so a re-produced occurrence is recognised).
	CatchUp time.Duration
	// Workers bounds the invocations one replica runs at once (default 64).
	Workers int
	// AckWait is how long an invocation may take before another replica
	// takes it over (default 30 s).
	AckWait time.Duration
	// RetryDelay is the first retry delay of a failed invocation, doubled
	// each attempt up to RetryMaxDelay (defaults 10 s and 5 min).
	RetryDelay    time.Duration
	RetryMaxDelay time.Duration
	// MemberInterval is how often a producing replica re-writes its key in
	// events.BucketCronMembers (default 1 s); a replica not heard of for
	// three intervals is gone, and the others take its share.
	MemberInterval time.Duration
	// NoFire disables producing and firing (API only).
	NoFire bool
}

// Service is the cron service.
type Service struct {
	cfg Config
	nc  *nats.Conn
	js  jetstream.JetStream
	kv  jetstream.KeyValue
	log *slog.Logger

	cache *cache
	// members splits the schedules among the producing replicas; set by
	// Run.
	members *members.Members
}

// New returns a service on nc and js. Nothing happens until Run.
func New(cfg Config, nc *nats.Conn, js jetstream.JetStream) (*Service, error) {
	if nc == nil || js == nil {
		return nil, errors.New("cron: nil NATS connection")
	}
	if cfg.Region == "" || cfg.Account == "" {
		return nil, errors.New("cron: region and account are required")
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Minute <= 0 {
		cfg.Minute = time.Minute
	}
	if cfg.Tick <= 0 {
		cfg.Tick = min(time.Second, cfg.Minute/4)
	}
	if cfg.CatchUp <= 0 {
		cfg.CatchUp = 5 * time.Minute
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 64
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = 10 * time.Second
	}
	if cfg.RetryMaxDelay <= 0 {
		cfg.RetryMaxDelay = 5 * time.Minute
	}
	if cfg.MemberInterval <= 0 {
		cfg.MemberInterval = time.Second
	}
	return &Service{cfg: cfg, nc: nc, js: js, log: cfg.Log}, nil
}

// Run ensures the bucket and streams, serves both APIs, produces and fires
// occurrences until ctx ends, then stops taking work and waits for the
// calls and invocations in flight.
func (s *Service) Run(ctx context.Context) error {
	kv, err := natsutil.EnsureKV(ctx, s.js, events.BucketCron, s.cfg.Replicas)
	if err != nil {
		return fmt.Errorf("cron: %w", err)
	}
	s.kv = kv
	for _, def := range []events.StreamDef{events.StreamCronFires, events.StreamEvents} {
		if _, err := natsutil.EnsureStream(ctx, s.js, def, s.cfg.Replicas); err != nil {
			return fmt.Errorf("cron: %w", err)
		}
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	s.cache = newCache(s)
	if err := s.cache.start(wctx); err != nil {
		return fmt.Errorf("cron: %w", err)
	}

	svc, err := micro.AddService(s.nc, micro.Config{
		Name:        events.ServiceCron,
		Version:     Version,
		Description: "EventBridge Scheduler and EventBridge rules",
		QueueGroup:  events.QueueGroup,
	})
	if err != nil {
		return fmt.Errorf("cron: add service: %w", err)
	}
	sched := natsutil.NewAPI(svc, natsutil.APIConfig{API: events.APIScheduler, FaultCode: events.CodeInternalServer, Timeout: s.cfg.Timeout, Log: s.log})
	rules := natsutil.NewAPI(svc, natsutil.APIConfig{API: events.APIEvents, FaultCode: events.CodeEventsInternal, Timeout: s.cfg.Timeout, Log: s.log})
	if err := s.register(sched, s.schedulerOps()); err != nil {
		_ = svc.Stop()
		return err
	}
	if err := s.register(rules, s.eventsOps()); err != nil {
		_ = svc.Stop()
		return err
	}

	var loops []func()
	if !s.cfg.NoFire {
		if loops, err = s.startLoops(wctx); err != nil {
			_ = svc.Stop()
			return err
		}
	}
	s.log.Info("cron serving", "bucket", events.BucketCron.Name, "minute", s.cfg.Minute)

	<-ctx.Done()
	stopErr := svc.Stop()
	sched.Wait()
	rules.Wait()
	for _, stop := range loops {
		stop()
	}
	cancel()
	s.cache.wait()
	if stopErr != nil {
		return fmt.Errorf("cron: stop: %w", stopErr)
	}
	return nil
}

// startLoops joins the producing replicas, starts firing, rule matching
// and producing, and returns the functions that stop them.
func (s *Service) startLoops(ctx context.Context) ([]func(), error) {
	m, err := members.Join(ctx, s.js, members.Config{
		Bucket: events.BucketCronMembers, Replicas: s.cfg.Replicas, Interval: s.cfg.MemberInterval,
		What: "cron shares", Log: s.log,
	})
	if err != nil {
		return nil, fmt.Errorf("cron: %w", err)
	}
	s.members = m
	leave := m.Start(ctx)
	stopFire, err := s.startFiring(ctx)
	if err != nil {
		leave()
		return nil, err
	}
	stopRules, err := s.startRuleMatching(ctx)
	if err != nil {
		leave()
		stopFire()
		return nil, err
	}
	go s.produce(ctx)
	return []func(){leave, stopFire, stopRules}, nil
}

func (s *Service) register(api *natsutil.API, ops map[string]natsutil.Handler) error {
	for op, h := range ops {
		if err := api.Handle(op, h); err != nil {
			return fmt.Errorf("cron: %w", err)
		}
	}
	return nil
}

// now is the service clock at the millisecond precision of the wire.
func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }
