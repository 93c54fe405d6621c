package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/agentproto"
	"github.com/berth-project/berth/internal/natsauth"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/internal/svc"
	"github.com/berth-project/berth/services/agent/agent"
	"github.com/berth-project/berth/services/agent/docker"
)

// DefaultDataDir keeps the agent's identity (ECS_DATADIR).
const DefaultDataDir = "/var/lib/berth/agent"

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	var common svc.Common
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	common.Register(fs, getenv)
	cfg, finish := registerFlags(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := common.Validate(); err != nil {
		return err
	}
	if err := finish(); err != nil {
		return err
	}
	cfg.Region, cfg.Account = common.Region, common.Account
	log := svc.NewLogger(stderr, common.LogLevel, events.ServiceAgent)
	cfg.Logger = log
	stopTracing, err := svc.StartTracing(ctx, events.ServiceAgent, getenv, log)
	if err != nil {
		return err
	}
	defer stopTracing()
	var nc *nats.Conn
	if cfg.JoinToken != "" {
		// Join with the token, then talk as the instance's own identity.
		cfg.Dial = dialer(common, log)
	} else {
		if nc, _, err = svc.Connect(ctx, common, events.ServiceAgent, log); err != nil {
			return err
		}
		defer nc.Drain()
	}
	a, err := agent.New(*cfg, nc)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// registerFlags adds the agent's flags; finish parses the structured ones
// after fs.Parse.
func registerFlags(fs *flag.FlagSet, getenv func(string) string) (*agent.Config, func() error) {
	cfg := &agent.Config{}
	var pull, ports, portsUDP, attrs, drivers, hosts string
	str := func(p *string, name, env, def, usage string) { svc.String(fs, getenv, p, name, env, def, usage) }
	dur := func(p *time.Duration, name, env string, def time.Duration, usage string) {
		if v, err := time.ParseDuration(getenv(env)); err == nil {
			def = v
		}
		fs.DurationVar(p, name, def, usage+" (env "+env+")")
	}

	str(&cfg.Cluster, "cluster", "ECS_CLUSTER", agent.DefaultCluster, "cluster to join (created if missing)")
	str(&cfg.DockerHost, "docker-host", "DOCKER_HOST", "", "Docker Engine address (default unix:///var/run/docker.sock)")
	str(&cfg.DataDir, "data", "ECS_DATADIR", DefaultDataDir, "data folder keeping the instance identity")
	str(&cfg.Owner, "owner", "BERTH_AGENT_OWNER", docker.DefaultOwner, "io.berth.managed label of the agent's containers (distinct per agent sharing a Docker daemon)")
	svc.Int(fs, getenv, &cfg.ReservedMemoryMiB, "reserved-memory", "ECS_RESERVED_MEMORY", 0, "MiB of host memory not offered to tasks")
	str(&ports, "reserved-ports", "ECS_RESERVED_PORTS", "[22, 2375, 2376, 51678, 51679]", "reserved TCP ports, JSON array or comma list (the agent's own ports are added)")
	str(&portsUDP, "reserved-ports-udp", "ECS_RESERVED_PORTS_UDP", "", "reserved UDP ports, JSON array or comma list")
	str(&cfg.AvailabilityZone, "availability-zone", "BERTH_AGENT_AVAILABILITY_ZONE", "", "ecs.availability-zone attribute (default <region>a)")
	str(&cfg.InstanceType, "instance-type", "BERTH_AGENT_INSTANCE_TYPE", agent.DefaultInstanceType, "ecs.instance-type attribute")
	str(&attrs, "instance-attributes", "ECS_INSTANCE_ATTRIBUTES", "", `custom attributes, JSON object: {"stack":"prod"}`)
	str(&drivers, "logging-drivers", "ECS_AVAILABLE_LOGGING_DRIVERS", `["json-file","awslogs","none"]`, "log drivers advertised as capabilities")
	str(&pull, "image-pull-behavior", "ECS_IMAGE_PULL_BEHAVIOR", string(docker.PullDefault), "default, always, once or prefer-cached")
	dur(&cfg.StopTimeout, "container-stop-timeout", "ECS_CONTAINER_STOP_TIMEOUT", 30*time.Second, "grace between SIGTERM and SIGKILL for containers without stopTimeout")
	dur(&cfg.CleanupDelay, "task-cleanup-wait", "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", 3*time.Hour, "how long stopped tasks' containers are kept")
	svc.Bool(fs, getenv, &cfg.ImageCleanup.Disabled, "image-cleanup-disabled", "ECS_DISABLE_IMAGE_CLEANUP", false, "never remove pulled images")
	dur(&cfg.ImageCleanup.Interval, "image-cleanup-interval", "ECS_IMAGE_CLEANUP_INTERVAL", 30*time.Minute, "time between image cleanup cycles")
	dur(&cfg.ImageCleanup.MinAge, "image-minimum-cleanup-age", "ECS_IMAGE_MINIMUM_CLEANUP_AGE", 3*time.Hour, "an unused pulled image is removed once pulled and last used this long ago")
	svc.Int(fs, getenv, &cfg.ImageCleanup.MaxPerCycle, "images-delete-per-cycle", "ECS_NUM_IMAGES_DELETE_PER_CYCLE", 5, "images removed per cleanup cycle at most")
	str(&cfg.IntrospectionAddr, "introspection-addr", "BERTH_AGENT_INTROSPECTION_ADDR", agent.DefaultIntrospectionAddr, `introspection API address ("off" disables)`)
	str(&cfg.MetadataAddr, "metadata-addr", "BERTH_AGENT_METADATA_ADDR", agent.DefaultMetadataAddr, `task metadata endpoint address ("off" disables)`)
	var bridge bool
	svc.Bool(fs, getenv, &bridge, "metadata-bridge", "BERTH_AGENT_METADATA_BRIDGE", true, "also serve task metadata on the Docker bridge gateway, for bridge-mode containers")
	str(&cfg.AWSVPCSubnet, "awsvpc-subnet", "BERTH_AGENT_AWSVPC_SUBNET", "", "IPv4 CIDR awsvpc tasks get their addresses from, on a Docker network the agent creates (empty: awsvpc refused)")
	str(&hosts, "registry-hosts", "BERTH_AGENT_REGISTRY_HOSTS", "", "extra registry hosts (comma list) that get the registry token")
	dur(&cfg.HeartbeatInterval, "heartbeat-interval", "BERTH_AGENT_HEARTBEAT_INTERVAL", events.HeartbeatInterval, "time between heartbeats")
	dur(&cfg.ResyncInterval, "resync-interval", "BERTH_AGENT_RESYNC_INTERVAL", agent.DefaultResyncInterval, "time between full re-reads of the desired state")

	var tokenFile string
	str(&cfg.JoinToken, "join-token", "BERTH_JOIN_TOKEN", "", "cluster join token (prefer --join-token-file)")
	str(&tokenFile, "join-token-file", "BERTH_JOIN_TOKEN_FILE", "", "file holding the cluster join token (the all-in-one writes <data>/secrets/join-token)")
	finish := func() error {
		cfg.DisableMetadataBridge = !bridge
		var err error
		if cfg.JoinToken == "" && tokenFile != "" {
			if cfg.JoinToken, err = natsauth.ReadJoinToken(tokenFile); err != nil {
				return fmt.Errorf("--join-token-file: %w", err)
			}
		}
		if cfg.PullBehavior, err = docker.ParsePullBehavior(pull); err != nil {
			return fmt.Errorf("--image-pull-behavior: %w", err)
		}
		if cfg.ReservedPorts, err = agent.ParsePorts(ports); err != nil {
			return fmt.Errorf("--reserved-ports: %w", err)
		}
		if cfg.ReservedPortsUDP, err = agent.ParsePorts(portsUDP); err != nil {
			return fmt.Errorf("--reserved-ports-udp: %w", err)
		}
		if cfg.Attributes, err = agent.ParseAttributes(attrs); err != nil {
			return fmt.Errorf("--instance-attributes: %w", err)
		}
		if cfg.LoggingDrivers, err = agent.ParseStringList(drivers); err != nil {
			return fmt.Errorf("--logging-drivers: %w", err)
		}
		if cfg.RegistryHosts, err = agent.ParseStringList(hosts); err != nil {
			return fmt.Errorf("--registry-hosts: %w", err)
		}
		return nil
	}
	return cfg, finish
}

// dialer connects to the control plane's NATS as a given user, failing at
// once when refused; once connected it reconnects forever.
func dialer(c svc.Common, log *slog.Logger) agentproto.Dial {
	return func(ctx context.Context, user, password, inbox string) (*nats.Conn, error) {
		opts := []nats.Option{nats.UserInfo(user, password), nats.CustomInboxPrefix(inbox),
			nats.PingInterval(svc.PingInterval), nats.MaxPingsOutstanding(svc.MaxPingsOut),
			nats.Timeout(natsauth.ConnectTimeout)}
		if c.NATSCreds != "" {
			// TLS or other settings from a context file; its user is
			// replaced by the join identities.
			extra, err := natsauth.CredsOptions(c.NATSCreds)
			if err != nil {
				return nil, err
			}
			opts = append(extra, opts...)
		}
		return natsutil.Dial(c.NATSURL, "agent", log, opts...)
	}
}
