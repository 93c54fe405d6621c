package logship

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/moby/moby/client"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/services/agent/docker"
)

// Defaults.
const (
	DefaultFlushInterval = 250 * time.Millisecond
	DefaultMaxBatch      = 5000
	maxBatchBytes        = 512 << 10
	resyncInterval       = 10 * time.Second
)

// ShipFunc sends one batch to the logs service.
type ShipFunc func(ctx context.Context, req events.LogShipRequest) (events.LogShipResponse, error)

// Config configures a Shipper.
type Config struct {
	// Docker lists and watches containers; its API client reads their logs.
	Docker *docker.Client
	// Owner is the io.berth.managed label value of this agent's containers.
	Owner string
	// DataDir holds the checkpoints (DataDir/logship); empty keeps them in
	// memory only (a restart then relies on the logs service's de-duplication
	// and re-reads each log from its start).
	DataDir string
	Ship    ShipFunc
	Log     *slog.Logger
	// FlushInterval bounds how long a line waits before it is shipped.
	FlushInterval time.Duration
	// MaxBatch is the most lines per batch.
	MaxBatch int
}

// Shipper follows awslogs containers and ships their output.
type Shipper struct {
	cfg Config
	api *client.Client
	cps *checkpoints
	log *slog.Logger

	mu        sync.Mutex
	following map[string]bool
	wg        sync.WaitGroup
}

// New returns a Shipper; Run starts it.
func New(cfg Config) (*Shipper, error) {
	if cfg.Docker == nil || cfg.Ship == nil {
		return nil, errors.New("logship: Docker and Ship are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	cps, err := openCheckpoints(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	return &Shipper{cfg: cfg, api: cfg.Docker.API(), cps: cps, log: cfg.Log.With("component", "logship"), following: map[string]bool{}}, nil
}

// Run follows containers until ctx ends, then waits for the followers
// (which flush what they have read).
func (s *Shipper) Run(ctx context.Context) error {
	labels := map[string]string{docker.LabelManaged: s.cfg.Owner, docker.LabelAWSLogs: ""}
	evs := s.cfg.Docker.Events(ctx, labels)
	s.resync(ctx, labels)
	t := time.NewTicker(resyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.wg.Wait()
			return nil
		case ev, ok := <-evs:
			if !ok {
				s.wg.Wait()
				return nil
			}
			switch ev.Action {
			case docker.ActionStart:
				s.follow(ctx, ev.ContainerID, ev.Labels)
			case docker.ActionReconnected:
				s.resync(ctx, labels)
			case docker.ActionDestroy:
				s.cps.forget(ev.ContainerID)
			}
		case <-t.C:
			s.resync(ctx, labels)
		}
	}
}

func (s *Shipper) resync(ctx context.Context, labels map[string]string) {
	cs, err := s.cfg.Docker.ListContainers(ctx, labels)
	if err != nil {
		s.log.Warn("list containers", "err", err)
		return
	}
	for _, c := range cs {
		if c.State == "created" {
			continue // not started: nothing to read yet
		}
		s.follow(ctx, c.ID, c.Labels)
	}
}

// follow starts a follower for the container unless one runs or its output
// was shipped completely.
func (s *Shipper) follow(ctx context.Context, id string, labels map[string]string) {
	if s.cps.get(id).Done {
		return
	}
	opts, err := docker.ParseAWSLogs(labels[docker.LabelAWSLogs])
	if err != nil {
		s.log.Warn("bad awslogs label", "container_id", id, "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.following[id] {
		return
	}
	s.following[id] = true
	f := &follower{
		s: s, id: id, opts: opts,
		group:  opts.Group,
		stream: opts.StreamName(labels[docker.LabelContainerName], labels[docker.LabelTaskARN], id),
	}
	s.wg.Go(func() {
		defer func() {
			s.mu.Lock()
			delete(s.following, id)
			s.mu.Unlock()
		}()
		f.run(ctx)
	})
}
