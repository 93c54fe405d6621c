package logs

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
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natsutil"
)

// Version is the micro service version the service registers.
const Version = "0.1.0"

// minPayload is the smallest NATS max_payload the service runs with: one
// PutLogEvents batch (1 MiB of messages) is stored as one message.
const minPayload = 2 << 20

// Config configures the service.
type Config struct {
	// Region and Account go into ARNs: arn:aws:logs:<region>:<account>:...
	Region  string
	Account string
	// Replicas is the JetStream replica count of the bucket and stream when
	// this service creates them.
	Replicas int
	// Timeout bounds each API call (default 60 s).
	Timeout time.Duration
	// RetentionInterval is how often events past a group's retention are
	// purged (default 1 min).
	RetentionInterval time.Duration
	Log               *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Service answers the CloudWatch Logs operations.
type Service struct {
	cfg    Config
	nc     *nats.Conn
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	stream jetstream.Stream

	internalWG sync.WaitGroup
}

// New returns a service on nc and js. Nothing happens until Run.
func New(cfg Config, nc *nats.Conn, js jetstream.JetStream) (*Service, error) {
	if nc == nil || js == nil {
		return nil, errors.New("logs: nil NATS connection")
	}
	if cfg.Region == "" || cfg.Account == "" {
		return nil, errors.New("logs: region and account are required")
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.RetentionInterval <= 0 {
		cfg.RetentionInterval = time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg, nc: nc, js: js}, nil
}

// Run ensures the bucket and the stream, serves the API until ctx ends,
// then stops taking requests and waits for the calls in flight.
func (s *Service) Run(ctx context.Context) error {
	if err := s.open(ctx); err != nil {
		return err
	}
	svc, err := micro.AddService(s.nc, micro.Config{
		Name:        events.ServiceLogs,
		Version:     Version,
		Description: "CloudWatch Logs",
		QueueGroup:  events.QueueGroup,
	})
	if err != nil {
		return fmt.Errorf("logs: add service: %w", err)
	}
	api := natsutil.NewAPI(svc, natsutil.APIConfig{
		API:       events.APILogs,
		FaultCode: events.CodeServiceUnavailable,
		Timeout:   s.cfg.Timeout,
		Log:       s.cfg.Log,
	})
	for op, h := range s.operations() {
		if err := api.Handle(op, h); err != nil {
			_ = svc.Stop()
			return fmt.Errorf("logs: %w", err)
		}
	}
	internal := svc.AddGroup("berth.internal."+events.ServiceLogs, micro.WithGroupQueueGroup(events.QueueGroup))
	if err := internal.AddEndpoint("Ship", s.internalHandler("Ship", s.ship)); err != nil {
		_ = svc.Stop()
		return fmt.Errorf("logs: endpoint %s: %w", events.SubjInternal(events.ServiceLogs, "Ship"), err)
	}
	s.cfg.Log.Info("logs serving", "bucket", events.BucketLogs.Name, "stream", events.StreamLogs.Name)

	var wg sync.WaitGroup
	wg.Go(func() { s.runRetention(ctx) })
	<-ctx.Done()
	stopErr := svc.Stop()
	api.Wait()
	s.internalWG.Wait()
	wg.Wait()
	if stopErr != nil {
		return fmt.Errorf("logs: stop: %w", stopErr)
	}
	return nil
}

func (s *Service) open(ctx context.Context) error {
	if s.nc.MaxPayload() < minPayload {
		return fmt.Errorf("logs: the NATS max_payload of %d bytes is too small (need %d)", s.nc.MaxPayload(), minPayload)
	}
	kv, err := natsutil.EnsureKV(ctx, s.js, events.BucketLogs, s.cfg.Replicas)
	if err != nil {
		return fmt.Errorf("logs: %w", err)
	}
	st, err := natsutil.EnsureStream(ctx, s.js, events.StreamLogs, s.cfg.Replicas)
	if err != nil {
		return fmt.Errorf("logs: %w", err)
	}
	s.kv, s.stream = kv, st
	return nil
}

// Operations lists the AWS operations the service implements.
func Operations() []string {
	ops := make([]string, 0, 20)
	for op := range (&Service{}).operations() {
		ops = append(ops, op)
	}
	return ops
}

func (s *Service) operations() map[string]natsutil.Handler {
	return map[string]natsutil.Handler{
		"CreateLogGroup":        s.createLogGroup,
		"DeleteLogGroup":        s.deleteLogGroup,
		"DescribeLogGroups":     s.describeLogGroups,
		"CreateLogStream":       s.createLogStream,
		"DeleteLogStream":       s.deleteLogStream,
		"DescribeLogStreams":    s.describeLogStreams,
		"PutLogEvents":          s.putLogEvents,
		"GetLogEvents":          s.getLogEvents,
		"FilterLogEvents":       s.filterLogEvents,
		"PutRetentionPolicy":    s.putRetentionPolicy,
		"DeleteRetentionPolicy": s.deleteRetentionPolicy,
		"TagLogGroup":           s.tagLogGroup,
		"UntagLogGroup":         s.untagLogGroup,
		"ListTagsLogGroup":      s.listTagsLogGroup,
		"TagResource":           s.tagResource,
		"UntagResource":         s.untagResource,
		"ListTagsForResource":   s.listTagsForResource,
	}
}

// internalHandler serves berth.internal.logs.<op> with the contract of the
// API endpoints: JSON in, JSON out, errors as micro error headers.
func (s *Service) internalHandler(op string, h natsutil.Handler) micro.Handler {
	return micro.HandlerFunc(func(r micro.Request) {
		s.internalWG.Add(1)
		go func() {
			defer s.internalWG.Done()
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
			defer cancel()
			req := &natsutil.Request{Operation: op, Data: r.Data(), Headers: r.Headers()}
			resp, err := callSafe(ctx, h, req)
			var body []byte
			if err == nil {
				body, err = json.Marshal(resp)
			}
			if err != nil {
				code, msg, data := natsutil.ErrorReply(err, events.CodeServiceUnavailable)
				if _, ok := apierr.As(err); !ok {
					s.cfg.Log.Error("operation failed", "operation", op, "err", err)
				}
				hdr := micro.Headers{micro.ErrorHeader: {msg}, micro.ErrorCodeHeader: {string(code)}}
				_ = r.Respond(data, micro.WithHeaders(hdr))
				return
			}
			if err := r.Respond(body); err != nil {
				s.cfg.Log.Warn("respond", "operation", op, "err", err)
			}
		}()
	})
}

func callSafe(ctx context.Context, h natsutil.Handler, req *natsutil.Request) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in %s: %v", req.Operation, p)
		}
	}()
	return h(ctx, req)
}

// nowMS is the clock in epoch milliseconds.
func (s *Service) nowMS() int64 { return s.cfg.Now().UnixMilli() }
