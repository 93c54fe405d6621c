package taskdefs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natsutil"
)

// Version is the micro service version the service registers.
const Version = "0.1.0"

// Config configures the service.
type Config struct {
	// Region and Account go into ARNs: arn:aws:ecs:<region>:<account>:...
	Region  string
	Account string
	// Replicas is the JetStream replica count of the bucket when this
	// service creates it (1 on one machine, 3 in a cluster).
	Replicas int
	// Timeout bounds each API call (default 60 s).
	Timeout time.Duration
	Log     *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Service answers the ECS task-definition operations.
type Service struct {
	cfg Config
	nc  *nats.Conn
	js  jetstream.JetStream
	st  *store

	// internalSlots bounds the internal handlers running at once: a
	// handler takes a slot before its goroutine starts and gives it back
	// when it has answered. stopping closes at shutdown, after which no
	// handler takes a slot.
	internalSlots chan struct{}
	stopping      chan struct{}
}

// maxInternalInFlight bounds the internal requests one replica serves at
// once; further requests wait in NATS's pending queue of the subscription.
const maxInternalInFlight = 64

// New returns a service that talks to NATS over nc and js. Nothing happens
// until Run.
func New(cfg Config, nc *nats.Conn, js jetstream.JetStream) (*Service, error) {
	if nc == nil || js == nil {
		return nil, errors.New("taskdefs: nil NATS connection")
	}
	if cfg.Region == "" || cfg.Account == "" {
		return nil, errors.New("taskdefs: region and account are required")
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
	return &Service{
		cfg: cfg, nc: nc, js: js,
		internalSlots: make(chan struct{}, maxInternalInFlight),
		stopping:      make(chan struct{}),
	}, nil
}

// Run ensures the bucket, serves the API until ctx ends, then stops taking
// requests and waits for the calls in flight.
func (s *Service) Run(ctx context.Context) error {
	kv, err := natsutil.EnsureKV(ctx, s.js, events.BucketTaskDefs, s.cfg.Replicas)
	if err != nil {
		return fmt.Errorf("taskdefs: %w", err)
	}
	s.st = &store{kv: kv}

	svc, err := micro.AddService(s.nc, micro.Config{
		Name:        events.ServiceTaskDefs,
		Version:     Version,
		Description: "ECS task definitions",
		QueueGroup:  events.QueueGroup,
	})
	if err != nil {
		return fmt.Errorf("taskdefs: add service: %w", err)
	}
	api := natsutil.NewAPI(svc, natsutil.APIConfig{
		API:       events.APIECS,
		FaultCode: events.CodeServer,
		Timeout:   s.cfg.Timeout,
		Log:       s.cfg.Log,
	})
	ops := map[string]natsutil.Handler{
		"RegisterTaskDefinition":     s.register,
		"DescribeTaskDefinition":     s.describe,
		"ListTaskDefinitions":        s.list,
		"ListTaskDefinitionFamilies": s.listFamilies,
		"DeregisterTaskDefinition":   s.deregister,
		"DeleteTaskDefinitions":      s.delete,
	}
	for op, h := range ops {
		if err := api.Handle(op, h); err != nil {
			_ = svc.Stop()
			return fmt.Errorf("taskdefs: %w", err)
		}
	}
	internal := svc.AddGroup("berth.internal."+events.ServiceTaskDefs, micro.WithGroupQueueGroup(events.QueueGroup))
	for op, h := range map[string]natsutil.Handler{
		"TagResource":         s.tagResource,
		"UntagResource":       s.untagResource,
		"ListTagsForResource": s.listTags,
		// DescribeTaskDefinition is how other services (the scheduler)
		// resolve a task definition: the very answer of the public
		// operation, index roll-forward included.
		"DescribeTaskDefinition": s.describe,
	} {
		if err := internal.AddEndpoint(op, s.internalHandler(op, h)); err != nil {
			_ = svc.Stop()
			return fmt.Errorf("taskdefs: endpoint %s: %w", events.SubjInternal(events.ServiceTaskDefs, op), err)
		}
	}
	s.cfg.Log.Info("taskdefs serving", "bucket", events.BucketTaskDefs.Name)

	<-ctx.Done()
	stopErr := svc.Stop()
	api.Wait()
	s.waitInternal()
	if stopErr != nil {
		return fmt.Errorf("taskdefs: stop: %w", stopErr)
	}
	return nil
}

// internalHandler serves an internal subject (berth.internal.taskdefs.<op>)
// with the same contract as natsutil's API endpoints: AWS JSON in, AWS JSON
// out, errors as micro error headers mapped by natsutil.ErrorReply. At most
// maxInternalInFlight requests run at once: micro's delivery goroutine
// waits for a free slot before it starts another handler goroutine.
func (s *Service) internalHandler(op string, h natsutil.Handler) micro.Handler {
	return micro.HandlerFunc(func(r micro.Request) {
		select {
		case <-s.stopping:
			return // shutting down: the caller retries on another replica
		default:
		}
		select {
		case s.internalSlots <- struct{}{}:
		case <-s.stopping:
			return
		}
		go func() {
			defer func() { <-s.internalSlots }()
			s.serveInternal(op, h, r)
		}()
	})
}

// waitInternal stops new internal handlers and waits for the running ones:
// it holds every slot once they are all given back.
func (s *Service) waitInternal() {
	close(s.stopping)
	for range cap(s.internalSlots) {
		s.internalSlots <- struct{}{}
	}
}

func (s *Service) serveInternal(op string, h natsutil.Handler, r micro.Request) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	req := &natsutil.Request{Operation: op, Data: r.Data(), Headers: r.Headers()}
	resp, err := callSafe(ctx, h, req)
	var body []byte
	if err == nil {
		body, err = json.Marshal(resp)
	}
	if err != nil {
		code, msg, data := natsutil.ErrorReply(err, events.CodeServer)
		if _, ok := apierr.As(err); !ok {
			s.cfg.Log.Error("operation failed", "operation", op, "err", err)
		}
		// Not r.Error: it records the error in the request, which micro's
		// delivery goroutine reads for its stats once the callback returned,
		// concurrently with this goroutine (a data race). The reply is the
		// same: micro's error headers.
		hdr := micro.Headers{micro.ErrorHeader: {msg}, micro.ErrorCodeHeader: {string(code)}}
		if err := r.Respond(data, micro.WithHeaders(hdr)); err != nil {
			s.cfg.Log.Warn("respond error", "operation", op, "err", err)
		}
		return
	}
	if err := r.Respond(body); err != nil {
		s.cfg.Log.Warn("respond", "operation", op, "err", err)
	}
}

func callSafe(ctx context.Context, h natsutil.Handler, req *natsutil.Request) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in %s: %v", req.Operation, p)
		}
	}()
	return h(ctx, req)
}

// now is the registration clock, at the millisecond precision of the wire.
func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }
