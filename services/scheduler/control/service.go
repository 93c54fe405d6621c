package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/members"
	"github.com/berth-project/berth/internal/natsutil"
)

// Version is the version the micro service announces.
const Version = "0.1.0"

// Config configures the scheduler's control service.
type Config struct {
	// Region and Account go into every ARN (account: 12 digits).
	Region  string
	Account string
	// Replicas of the buckets this service creates (1 on one machine, 3 in
	// a cluster).
	Replicas int
	// Instances, Tasks and Services count what a cluster holds, for its
	// counters and the DeleteCluster preconditions. Nil Instances and Tasks
	// count this service's own container instances and tasks; nil Services
	// counts none (the supervisor will provide one).
	Instances InstanceCounter
	Tasks     TaskCounter
	Services  ServiceCounter
	// HeartbeatTimeout is how long after its last heartbeat an agent counts
	// as disconnected (default events.HeartbeatTimeout).
	HeartbeatTimeout time.Duration
	// TaskRetention is how long a STOPPED task (and a deregistered
	// instance) stays describable before the janitor deletes it (default 1 h).
	TaskRetention time.Duration
	// TokenRetention is how long a RunTask clientToken is remembered
	// (default 1 h).
	TokenRetention time.Duration
	// JanitorInterval is how often the janitor looks for expired records
	// (default 1 min).
	JanitorInterval time.Duration
	// ReportWorkers is the number of agent reports a replica applies at
	// once (default 32: a report that stops a task waits for its cluster's
	// next batch, and more of them in flight make bigger batches);
	// ReportAckWait is the redelivery delay of a report a replica took and
	// did not acknowledge (default 30 s).
	ReportWorkers int
	ReportAckWait time.Duration
	// RelayGrace is how old a committed task or instance write must be
	// before the event relay (internal/outbox) looks at it (default 1 s);
	// RelayAckWait is when a write a replica took and did not relay goes to
	// another (default 30 s).
	RelayGrace   time.Duration
	RelayAckWait time.Duration
	// Auth, when set, makes this service admit agents: the NATS auth
	// callout and the join endpoint (agentauth.go).
	Auth *AgentAuth
	// MemberInterval is how often a replica re-writes its key in
	// events.BucketSchedMembers (default 1 s); a replica not heard of for
	// three intervals loses its placement shards to the others.
	MemberInterval time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	Log *slog.Logger
}

// Service answers the scheduler's ECS operations.
type Service struct {
	cfg Config
	nc  *nats.Conn
	js  jetstream.JetStream
	log *slog.Logger

	instances InstanceCounter
	tasks     TaskCounter
	services  ServiceCounter

	// clusters is set by Run before any endpoint is registered.
	clusters *clusterStore
	// taggers keeps the tags of the resource types this service owns, by
	// ARN resource type.
	taggers map[string]tagger
	// ready is closed once every endpoint is registered.
	ready chan struct{}

	// state reads and writes events.BucketECSState; set by Run.
	state *stateStore
	// cache mirrors the instance and task records of BucketECSState,
	// loaded by a KV watch and kept current by the feed; placement reads
	// it, commits make it safe.
	cache *cache
	// feed applies every replica's commits to the cache in stream order;
	// set by Run.
	feed *feed
	// hb tracks the agents' last heartbeats.
	hb *heartbeats
	// pub publishes the public events; set by Run.
	pub *publisher
	// bg runs the background loops (and the committers); bgCtx ends with
	// them. Set by Run.
	bg    *background
	bgCtx context.Context
	// members splits the instances among the live replicas; set by Run.
	members *members.Members
	// stats counts commits, lost races and placed tasks.
	stats placementStats
}

var accountRE = regexp.MustCompile(`^[0-9]{12}$`)

// New checks cfg and returns a service; Run starts it.
func New(cfg Config, nc *nats.Conn, js jetstream.JetStream) (*Service, error) {
	switch {
	case nc == nil || js == nil:
		return nil, errors.New("control: a NATS connection and its JetStream context are required")
	case cfg.Region == "":
		return nil, errors.New("control: region is empty")
	case !accountRE.MatchString(cfg.Account):
		return nil, fmt.Errorf("control: account %q is not 12 digits", cfg.Account)
	}
	if cfg.Replicas < 1 {
		cfg.Replicas = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = events.HeartbeatTimeout
	}
	if cfg.TaskRetention <= 0 {
		cfg.TaskRetention = time.Hour
	}
	if cfg.TokenRetention <= 0 {
		cfg.TokenRetention = time.Hour
	}
	if cfg.JanitorInterval <= 0 {
		cfg.JanitorInterval = time.Minute
	}
	if cfg.ReportWorkers <= 0 {
		cfg.ReportWorkers = 32
	}
	if cfg.ReportAckWait <= 0 {
		cfg.ReportAckWait = 30 * time.Second
	}
	if cfg.MemberInterval <= 0 {
		cfg.MemberInterval = time.Second
	}
	s := &Service{
		cfg:       cfg,
		nc:        nc,
		js:        js,
		log:       cfg.Log.With("component", "control"),
		instances: cfg.Instances,
		tasks:     cfg.Tasks,
		services:  cfg.Services,
		ready:     make(chan struct{}),
		cache:     newCache(cfg.Log.With("component", "control")),
		hb:        newHeartbeats(),
	}
	if s.instances == nil {
		s.instances = s.cache
	}
	if s.tasks == nil {
		s.tasks = s.cache
	}
	if s.services == nil {
		s.services = none{}
	}
	s.taggers = map[string]tagger{
		events.ResourceCluster:           clusterTagger{s},
		events.ResourceTask:              taskTagger{s},
		events.ResourceContainerInstance: instanceTagger{s},
	}
	return s, nil
}

// Run ensures the service's buckets, registers its endpoints and serves
// until ctx is done; then it stops taking requests, waits for those in
// flight and returns.
func (s *Service) Run(ctx context.Context) error {
	kv, err := natsutil.EnsureKV(ctx, s.js, events.BucketClusters, s.cfg.Replicas)
	if err != nil {
		return err
	}
	s.clusters = &clusterStore{kv: kv}
	bg, err := s.startState(ctx)
	if err != nil {
		return err
	}
	defer bg.stop()

	svc, err := micro.AddService(s.nc, micro.Config{
		Name:        events.ServiceScheduler,
		Version:     Version,
		Description: "ECS clusters, container instances and tasks",
		QueueGroup:  events.QueueGroup,
	})
	if err != nil {
		return fmt.Errorf("control: add micro service: %w", err)
	}
	api := natsutil.NewAPI(svc, natsutil.APIConfig{API: events.APIECS, FaultCode: events.CodeServer, Log: s.log})
	for op, h := range s.handlers() {
		if err := api.Handle(op, h); err != nil {
			return errors.Join(err, svc.Stop())
		}
	}
	if s.cfg.Auth != nil {
		stopAuth, err := s.serveAgentAuth(ctx, svc)
		if err != nil {
			return errors.Join(err, svc.Stop())
		}
		defer stopAuth()
	}
	// Make sure the server has our subscriptions before we say we are ready.
	if err := s.nc.FlushTimeout(10 * time.Second); err != nil {
		return errors.Join(fmt.Errorf("control: flush: %w", err), svc.Stop())
	}
	close(s.ready)
	s.log.Info("serving", "service", events.ServiceScheduler, "bucket", events.BucketClusters.Name)

	<-ctx.Done()
	err = svc.Stop()
	api.Wait()
	bg.stop()
	if err != nil {
		return fmt.Errorf("control: stop micro service: %w", err)
	}
	return nil
}

// Ready is closed once Run has registered every endpoint (a PING answers a
// little earlier, as soon as the micro service exists). Run must be called
// at most once.
func (s *Service) Ready() <-chan struct{} { return s.ready }

// handlers lists every operation this service answers.
func (s *Service) handlers() map[string]natsutil.Handler {
	return map[string]natsutil.Handler{
		"CreateCluster":         decoded(s.createCluster),
		"DescribeClusters":      decoded(s.describeClusters),
		"ListClusters":          decoded(s.listClusters),
		"DeleteCluster":         decoded(s.deleteCluster),
		"UpdateCluster":         decoded(s.updateCluster),
		"UpdateClusterSettings": decoded(s.updateClusterSettings),
		"TagResource":           s.tagResource,
		"UntagResource":         s.untagResource,
		"ListTagsForResource":   s.listTagsForResource,

		"PutClusterCapacityProviders": decoded(s.putClusterCapacityProviders),
		"DescribeCapacityProviders":   decoded(s.describeCapacityProviders),

		"RegisterContainerInstance":     decoded(s.registerContainerInstance),
		"DeregisterContainerInstance":   decoded(s.deregisterContainerInstance),
		"DescribeContainerInstances":    decoded(s.describeContainerInstances),
		"ListContainerInstances":        decoded(s.listContainerInstances),
		"UpdateContainerInstancesState": decoded(s.updateContainerInstancesState),
		"PutAttributes":                 decoded(s.putAttributes),
		"ListAttributes":                decoded(s.listAttributes),
		"DeleteAttributes":              decoded(s.deleteAttributes),

		"RunTask":       decoded(s.runTask),
		"StartTask":     decoded(s.startTask),
		"StopTask":      decoded(s.stopTask),
		"DescribeTasks": decoded(s.describeTasks),
		"ListTasks":     decoded(s.listTasks),

		"SubmitTaskStateChange":      decoded(s.submitTaskStateChange),
		"SubmitContainerStateChange": decoded(s.submitContainerStateChange),

		"PutAccountSetting":        decoded(s.putAccountSetting),
		"PutAccountSettingDefault": decoded(s.putAccountSettingDefault),
		"ListAccountSettings":      decoded(s.listAccountSettings),
		"DeleteAccountSetting":     decoded(s.deleteAccountSetting),
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
