package simagent

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/agentproto"
	"github.com/berth-project/berth/internal/jsonx"
)

// FleetConfig describes many simulated instances of one cluster.
type FleetConfig struct {
	// Template is every instance's configuration; HostID is replaced by
	// HostPrefix-<n>.
	Template Config
	// Count is the number of instances.
	Count int
	// HostPrefix names the hosts (default "sim").
	HostPrefix string
	// Configure, when set, adjusts instance n's configuration (to vary
	// zones, instance types, sizes ...).
	Configure func(n int, c *Config)
	// Parallel bounds concurrent registrations (default 16).
	Parallel int
}

// Fleet is many simulated instances sharing one assignment watcher and one
// heartbeat loop.
type Fleet struct {
	agents []*Agent
	byID   map[string]*Agent
	wg     sync.WaitGroup
}

// StartFleet registers fc.Count instances and runs them until ctx ends.
func StartFleet(ctx context.Context, nc *nats.Conn, fc FleetConfig) (*Fleet, error) {
	if fc.HostPrefix == "" {
		fc.HostPrefix = "sim"
	}
	if fc.Parallel <= 0 {
		fc.Parallel = 16
	}
	f := &Fleet{agents: make([]*Agent, fc.Count), byID: map[string]*Agent{}}
	sem := make(chan struct{}, fc.Parallel)
	errs := make(chan error, fc.Count)
	var wg sync.WaitGroup
	for n := range fc.Count {
		cfg := fc.Template
		cfg.HostID = fmt.Sprintf("%s-%d", fc.HostPrefix, n)
		if fc.Configure != nil {
			fc.Configure(n, &cfg)
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			a, err := register(ctx, nc, cfg)
			if err != nil {
				errs <- err
				return
			}
			f.agents[n] = a
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	cluster := events.Token(f.agents[0].Cluster())
	for _, a := range f.agents {
		f.byID[a.InstanceID()] = a
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	kv, err := agentproto.OpenKV(ctx, js, events.BucketECSState.Name, fc.Template.withDefaults().Log)
	if err != nil {
		return nil, err
	}
	f.wg.Add(2)
	go func() {
		defer f.wg.Done()
		f.heartbeats(ctx, fc.Template.withDefaults().HeartbeatInterval)
	}()
	go func() {
		defer f.wg.Done()
		f.watch(ctx, kv, "asg."+cluster+".>", fc.Template.withDefaults())
	}()
	return f, nil
}

// Agents returns every instance, in registration order.
func (f *Fleet) Agents() []*Agent { return f.agents }

// Agent returns the instance with container instance id id.
func (f *Fleet) Agent(id string) *Agent { return f.byID[id] }

// Running counts the fleet's tasks that have not stopped.
func (f *Fleet) Running() int {
	n := 0
	for _, a := range f.agents {
		n += a.Running()
	}
	return n
}

// Wait blocks until the fleet's goroutines have ended (after its context).
func (f *Fleet) Wait() {
	f.wg.Wait()
	for _, a := range f.agents {
		a.Wait()
	}
}

// heartbeats publishes every instance's heartbeat once per interval.
func (f *Fleet) heartbeats(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for _, a := range f.agents {
			if ctx.Err() != nil {
				return
			}
			a.sendHeartbeat(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// watch follows every assignment of the cluster with one watcher and hands
// each change to its instance (asg.<cluster>.<instanceID>.<taskID>). After
// a watcher failure it starts over from the current values, which the
// instances take as they would after a reconnect.
func (f *Fleet) watch(ctx context.Context, kv jetstream.KeyValue, filter string, cfg Config) {
	for ctx.Err() == nil {
		if err := f.watchOnce(ctx, kv, filter); err != nil && ctx.Err() == nil {
			cfg.Log.Warn("simagent: fleet watch restarting", "err", err)
			sleep(ctx, nil, 500*time.Millisecond)
		}
	}
}

func (f *Fleet) watchOnce(ctx context.Context, kv jetstream.KeyValue, filter string) error {
	w, err := kv.Watch(ctx, filter)
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("watcher closed")
			}
			if e == nil {
				continue
			}
			parts := strings.Split(e.Key(), ".")
			if len(parts) != 4 {
				continue
			}
			a := f.byID[parts[2]]
			if a == nil {
				continue
			}
			u := agentproto.Update{TaskID: parts[3]}
			if e.Operation() != jetstream.KeyValuePut {
				u.Deleted = true
			} else if err := jsonx.Unmarshal(e.Value(), &u.Assignment); err != nil {
				continue
			}
			a.apply(u)
		}
	}
}
