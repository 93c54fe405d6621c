package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/internal/accesskeys"
	"github.com/berth-project/berth/internal/natsauth"
	"github.com/berth-project/berth/logs"
	"github.com/berth-project/berth/metrics"
	"github.com/berth-project/berth/registry"
	"github.com/berth-project/berth/services/agent/agent"
	"github.com/berth-project/berth/services/cron/cron"
	"github.com/berth-project/berth/services/gateway/gateway"
	"github.com/berth-project/berth/services/scheduler/control"
	"github.com/berth-project/berth/services/supervisor/supervisor"
	"github.com/berth-project/berth/services/taskdefs/taskdefs"
)

// components wires every service of the all-in-one, each on its own
// in-process connection. It returns notes for the banner (for example why
// there is no local agent).
func (n *node) components(ctx context.Context) ([]component, []string, error) {
	c := n.cfg
	comps, exp, err := n.frontDoors(ctx)
	if err != nil {
		return nil, nil, err
	}
	log := func(name string) *slog.Logger { return n.log.With("component", name) }
	// The local agent joins once the scheduler admits agents.
	var schedReady <-chan struct{}
	services := []struct {
		name  string
		build func(nc *nats.Conn, js jetstream.JetStream) (runner, error)
	}{
		{"taskdefs", func(nc *nats.Conn, js jetstream.JetStream) (runner, error) {
			return taskdefs.New(taskdefs.Config{Region: c.Region, Account: c.Account, Replicas: 1, Log: log("taskdefs")}, nc, js)
		}},
		{"scheduler", func(nc *nats.Conn, js jetstream.JetStream) (runner, error) {
			auth := &control.AgentAuth{IssuerSeed: n.secrets.IssuerSeed, JoinToken: func() (string, error) { return natsauth.ReadJoinToken(joinTokenPath(c)) }}
			sched, err := control.New(control.Config{Region: c.Region, Account: c.Account, Replicas: 1, Services: control.AskSupervisor(nc), Auth: auth, Log: log("scheduler")}, nc, js)
			if err != nil {
				return nil, err
			}
			schedReady = sched.Ready()
			return sched, nil
		}},
		{"supervisor", func(nc *nats.Conn, js jetstream.JetStream) (runner, error) {
			return supervisor.New(supervisor.Config{Region: c.Region, Account: c.Account, Replicas: 1, HealthyAfter: c.ServiceHealthyAfter, Log: log("supervisor")}, nc, js)
		}},
		{"cron", func(nc *nats.Conn, js jetstream.JetStream) (runner, error) {
			return cron.New(cron.Config{Region: c.Region, Account: c.Account, Replicas: 1, Minute: c.CronMinute, Log: log("cron")}, nc, js)
		}},
		{"logs", func(nc *nats.Conn, js jetstream.JetStream) (runner, error) {
			return logs.New(logs.Config{Region: c.Region, Account: c.Account, Replicas: 1, Log: log("logs")}, nc, js)
		}},
		{"metrics", func(nc *nats.Conn, js jetstream.JetStream) (runner, error) {
			cfg := metrics.Config{Region: c.Region, Account: c.Account, Replicas: 1, CountsInterval: c.AgentInsightsInterval, Log: log("metrics")}
			if exp != nil {
				cfg.Observer = exp
				if err := exp.RegisterNATSHealth(js); err != nil {
					return nil, err
				}
			}
			return metrics.New(cfg, nc, js)
		}},
	}
	for _, sv := range services {
		nc, js, err := n.connect(sv.name)
		if err != nil {
			return nil, nil, err
		}
		r, err := sv.build(nc, js)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", sv.name, err)
		}
		comps = append(comps, component{name: sv.name, stage: 1, run: r.Run})
	}
	var notes []string
	switch ag, note, err := n.localAgent(ctx); {
	case err != nil:
		return nil, nil, err
	case ag != nil:
		comps = append(comps, component{name: "agent", stage: 1, run: func(ctx context.Context) error {
			select {
			case <-schedReady:
			case <-ctx.Done():
				return nil
			}
			return ag.Run(ctx)
		}})
	default:
		notes = append(notes, note)
	}
	return comps, notes, nil
}

// runner is a service of the all-in-one.
type runner interface {
	Run(ctx context.Context) error
}

// frontDoors builds the HTTP front doors (the gateway and the registry, stage
// 0, on the listeners bound at start; they share the access keys) and the
// metrics exporter.
func (n *node) frontDoors(ctx context.Context) ([]component, *metrics.Exporter, error) {
	c := n.cfg
	var comps []component
	gwNC, gwJS, err := n.connect("gateway")
	if err != nil {
		return nil, nil, err
	}
	keys, err := accesskeys.Watch(ctx, gwJS, 1, n.log.With("component", "accesskeys"))
	if err != nil {
		return nil, nil, err
	}
	exp, expComp, err := n.exporter(ctx)
	if err != nil {
		return nil, nil, err
	}
	if expComp != nil {
		comps = append(comps, *expComp)
	}
	trComp, err := n.tracer(ctx)
	if err != nil {
		return nil, nil, err
	}
	if trComp != nil {
		comps = append(comps, *trComp)
	}
	gwCfg := gateway.Config{Addr: c.APIAddr, Keys: keys, Region: c.Region, Log: n.log.With("component", "gateway"), TLS: n.ls.tls}
	if exp != nil {
		gwCfg.Meter = exp.Meter()
	}
	gw, err := gateway.New(gwCfg, gwNC)
	if err != nil {
		return nil, nil, err
	}
	comps = append(comps, component{name: "gateway", stage: 0, run: func(ctx context.Context) error { return gw.Serve(ctx, n.ls.api) }})

	rgNC, rgJS, err := n.connect("registry")
	if err != nil {
		return nil, nil, err
	}
	rg, err := registry.New(registry.Config{
		Addr: c.RegistryAddr, Region: c.Region, Account: c.Account, Replicas: 1,
		CreateOnPush: c.CreateOnPush, Keys: keys, Log: n.log.With("component", "registry"), TLS: n.ls.tls,
	}, rgNC, rgJS)
	if err != nil {
		return nil, nil, err
	}
	// The registry serves HTTP (a front door) and ECR operations; it stops
	// with the front doors, after its in-flight pushes and pulls.
	comps = append(comps, component{name: "registry", stage: 0, run: func(ctx context.Context) error { return rg.Serve(ctx, n.ls.registry) }})
	return comps, exp, nil
}

// agentNote probes the local Docker engine and explains why there will be
// no local agent ("" when there will be one): the all-in-one keeps working
// without one (API and registry up, no container instances).
func agentNote(ctx context.Context, c config, log *slog.Logger) (string, error) {
	if c.NoAgent {
		return "no local agent (--no-agent): the cluster has no container instances, so tasks cannot run.", nil
	}
	if err := agent.Probe(ctx, c.DockerHost); err != nil {
		if errors.Is(err, agent.ErrNoDocker) {
			log.Warn("no local agent", "err", err)
			return fmt.Sprintf("no local agent: %v. The API and the registry work; the cluster has no container instances, so tasks cannot run. Start Docker (or set --docker-host) and restart Berth.", err), nil
		}
		return "", err
	}
	return "", nil
}

// localAgent builds the agent for the local Docker engine on the listeners
// bound for it, or returns the note saying why there is none.
func (n *node) localAgent(_ context.Context) (*agent.Agent, string, error) {
	c := n.cfg
	if n.agentNote != "" {
		return nil, n.agentNote, nil
	}
	token, err := natsauth.ReadJoinToken(joinTokenPath(c))
	if err != nil {
		return nil, "", err
	}
	// The local agent joins as any agent does: with the join token, then
	// as its instance's own identity.
	dial := func(_ context.Context, user, password, inbox string) (*nats.Conn, error) {
		return n.dial(user, password, inbox)
	}
	ag, err := agent.New(agent.Config{
		JoinToken: token, Dial: dial,
		Region: c.Region, Account: c.Account, DockerHost: c.DockerHost,
		Listeners: agent.Listeners{Introspection: n.ls.introspection, Metadata: n.ls.metadata},

		DataDir:           filepath.Join(c.Data, "agent"),
		IntrospectionAddr: c.AgentIntrospectionAddr,
		MetadataAddr:      c.AgentMetadataAddr,
		CleanupDelay:      c.AgentTaskCleanupWait,
		Owner:             c.AgentOwner,
		AWSVPCSubnet:      c.AgentAWSVPCSubnet,
		InsightsInterval:  c.AgentInsightsInterval,
		Logger:            n.log,
	}, nil)
	if err != nil {
		return nil, "", err
	}
	return ag, "", nil
}
