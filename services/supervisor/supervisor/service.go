package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/ids"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/services/supervisor/reconcile"
)

// Version is the version the micro service announces.
const Version = "0.1.0"

// Config configures the supervisor.
type Config struct {
	// Region and Account go into every ARN (account: 12 digits).
	Region  string
	Account string
	// Replicas of the bucket this service creates.
	Replicas int
	// HealthyAfter is how long a RUNNING task without a container health
	// check waits before it counts toward minimumHealthyPercent (default
	// 40 s, as ECS).
	HealthyAfter time.Duration
	// BackoffBase and BackoffMax bound the delay between launch rounds of
	// a service whose tasks fail to start (defaults 5 s and 15 min).
	BackoffBase, BackoffMax time.Duration
	// PlaceRetry is the delay after a placement failure (default 10 s).
	PlaceRetry time.Duration
	// Resync is how often every service is reconciled without any event
	// (default 30 s); Tick how often due services are looked for (1 s).
	Resync, Tick time.Duration
	// Workers reconcile services at once (default 16).
	Workers int
	// Now is the clock (default time.Now).
	Now func() time.Time
	Log *slog.Logger
}

// Service is the supervisor: the ECS service operations and the
// reconcilers that keep every service's tasks as configured.
type Service struct {
	cfg   Config
	nc    *nats.Conn
	js    jetstream.JetStream
	log   *slog.Logger
	ecs   ecsClient
	store *store
	cache *cache
	queue *queue
	ready chan struct{}
	// instStatus is the last status this replica saw of each instance.
	instMu     sync.Mutex
	instStatus map[string]string
	// internalWG counts the internal requests in flight.
	internalWG sync.WaitGroup
}

var accountRE = regexp.MustCompile(`^[0-9]{12}$`)

// New checks cfg and returns a service; Run starts it.
func New(cfg Config, nc *nats.Conn, js jetstream.JetStream) (*Service, error) {
	switch {
	case nc == nil || js == nil:
		return nil, errors.New("supervisor: a NATS connection and its JetStream context are required")
	case cfg.Region == "":
		return nil, errors.New("supervisor: region is empty")
	case !accountRE.MatchString(cfg.Account):
		return nil, fmt.Errorf("supervisor: account %q is not 12 digits", cfg.Account)
	}
	cfg.Replicas = max(cfg.Replicas, 1)
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.HealthyAfter, 40*time.Second)
	def(&cfg.BackoffBase, 5*time.Second)
	def(&cfg.BackoffMax, 15*time.Minute)
	def(&cfg.PlaceRetry, 10*time.Second)
	def(&cfg.Resync, 30*time.Second)
	def(&cfg.Tick, time.Second)
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{
		cfg: cfg, nc: nc, js: js, log: cfg.Log.With("component", "supervisor"),
		ecs: ecsClient{nc: nc}, cache: newCache(), queue: newQueue(), ready: make(chan struct{}),
	}, nil
}

// params are the reconcile parameters.
func (s *Service) params() reconcile.Params {
	return reconcile.Params{
		Region: s.cfg.Region, Account: s.cfg.Account, HealthyAfter: s.cfg.HealthyAfter,
		BackoffBase: s.cfg.BackoffBase, BackoffMax: s.cfg.BackoffMax, PlaceRetry: s.cfg.PlaceRetry,
		NewID: ids.UUID,
	}
}

// Ready is closed once Run serves every endpoint.
func (s *Service) Ready() <-chan struct{} { return s.ready }

// Run ensures the bucket, serves the operations and reconciles until ctx
// ends.
func (s *Service) Run(ctx context.Context) error {
	kv, err := natsutil.EnsureKV(ctx, s.js, events.BucketServices, s.cfg.Replicas)
	if err != nil {
		return err
	}
	s.store = &store{kv: kv}
	if _, err := natsutil.EnsureStream(ctx, s.js, events.StreamEvents, s.cfg.Replicas); err != nil {
		return err
	}
	bgCtx, cancel := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	defer func() { cancel(); bg.Wait() }()
	cacheReady := make(chan struct{})
	bg.Go(func() {
		for bgCtx.Err() == nil {
			if err := s.cache.watch(bgCtx, kv, cacheReady); err != nil && bgCtx.Err() == nil {
				s.log.Warn("services watch restarting", "err", err)
				sleep(bgCtx, time.Second)
			}
		}
	})
	select {
	case <-cacheReady:
	case <-ctx.Done():
		return nil
	}
	svc, err := micro.AddService(s.nc, micro.Config{
		Name: events.ServiceSupervisor, Version: Version,
		Description: "ECS services and their deployments", QueueGroup: events.QueueGroup,
	})
	if err != nil {
		return fmt.Errorf("supervisor: add micro service: %w", err)
	}
	api := natsutil.NewAPI(svc, natsutil.APIConfig{API: events.APIECS, FaultCode: events.CodeServer, Log: s.log})
	for op, h := range s.handlers() {
		if err := api.Handle(op, h); err != nil {
			return errors.Join(err, svc.Stop())
		}
	}
	internal := svc.AddGroup("berth.internal."+events.ServiceSupervisor, micro.WithGroupQueueGroup(events.QueueGroup))
	for op, h := range s.internalHandlers() {
		if err := internal.AddEndpoint(op, s.internalHandler(op, h)); err != nil {
			return errors.Join(err, svc.Stop())
		}
	}
	if err := s.nc.FlushTimeout(10 * time.Second); err != nil {
		return errors.Join(fmt.Errorf("supervisor: flush: %w", err), svc.Stop())
	}
	s.startLoops(bgCtx, &bg)
	close(s.ready)
	s.log.Info("serving", "service", events.ServiceSupervisor, "bucket", events.BucketServices.Name)
	<-ctx.Done()
	err = svc.Stop()
	api.Wait()
	s.internalWG.Wait()
	if err != nil {
		return fmt.Errorf("supervisor: stop micro service: %w", err)
	}
	return nil
}

// handlers lists the ECS operations this service answers.
func (s *Service) handlers() map[string]natsutil.Handler {
	return map[string]natsutil.Handler{
		"CreateService":    decoded(s.createService),
		"DescribeServices": decoded(s.describeServices),
		"ListServices":     decoded(s.listServices),
		"UpdateService":    decoded(s.updateService),
		"DeleteService":    decoded(s.deleteService),

		"ListServicesByNamespace": decoded(s.listServicesByNamespace),
	}
}

// internalHandlers are served on berth.internal.supervisor.<op>: the
// scheduler's questions and the tagging calls it forwards.
func (s *Service) internalHandlers() map[string]natsutil.Handler {
	return map[string]natsutil.Handler{
		"CountServices":       decoded(s.countServices),
		"TagResource":         decoded(s.tagResource),
		"UntagResource":       decoded(s.untagResource),
		"ListTagsForResource": decoded(s.listTagsForResource),
	}
}

// decoded adapts a typed handler: it decodes the request body strictly into
// In first.
func decoded[In any](fn func(ctx context.Context, in *In) (any, error)) natsutil.Handler {
	return func(ctx context.Context, r *natsutil.Request) (any, error) {
		in := new(In)
		if err := r.Decode(in); err != nil {
			return nil, err
		}
		return fn(ctx, in)
	}
}

// internalHandler serves an internal subject with the API contract: JSON
// in, JSON out, errors as micro error headers.
func (s *Service) internalHandler(op string, h natsutil.Handler) micro.Handler {
	return micro.HandlerFunc(func(r micro.Request) {
		s.internalWG.Add(1)
		go func() {
			defer s.internalWG.Done()
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			resp, err := h(ctx, &natsutil.Request{Operation: op, Data: r.Data(), Headers: r.Headers()})
			var body []byte
			if err == nil {
				body, err = json.Marshal(resp)
			}
			if err != nil {
				code, msg, data := natsutil.ErrorReply(err, events.CodeServer)
				if _, ok := apierr.As(err); !ok {
					s.log.Error("operation failed", "operation", op, "err", err)
				}
				hdr := micro.Headers{micro.ErrorHeader: {msg}, micro.ErrorCodeHeader: {string(code)}}
				_ = r.Respond(data, micro.WithHeaders(hdr))
				return
			}
			_ = r.Respond(body)
		}()
	})
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
