package agent

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/agentproto"
	"github.com/berth-project/berth/services/agent/docker"
	"github.com/berth-project/berth/services/agent/engine"
)

// Defaults.
const (
	DefaultCluster           = "default"
	DefaultIntrospectionAddr = "127.0.0.1:51678"
	DefaultMetadataAddr      = "127.0.0.1:51679"
	DefaultInstanceType      = "berth.host"
	DefaultResyncInterval    = time.Minute
	// Version is the agent version reported in versionInfo and /v1/metadata.
	Version = "0.1.0"
)

// DefaultReservedPorts are the TCP ports ECS reserves on every instance (SSH,
// the Docker daemon, the agent's introspection and metadata ports). The
// agent adds the ports it actually listens on.
var DefaultReservedPorts = []int{22, 2375, 2376, 51678, 51679}

// DefaultLoggingDrivers are the log drivers advertised as capabilities.
var DefaultLoggingDrivers = []string{"json-file", "awslogs", "none"}

// Config configures an Agent. The zero value works: every field has a
// default (see the constants and New).
type Config struct {
	// Cluster to join (ECS_CLUSTER); created if missing. Default "default".
	Cluster string
	// Region and Account go into the instance identity document; Region also
	// makes the default availability zone (<region>a).
	Region  string
	Account string

	// DockerHost is the Docker Engine address (DOCKER_HOST); empty means the
	// client default, unix:///var/run/docker.sock.
	DockerHost string
	// DataDir keeps the instance identity across restarts (ECS_DATADIR).
	// Empty: nothing is persisted; the identity is derived again (from
	// /etc/machine-id, Docker's engine ID and Owner) on every start.
	DataDir string
	// Owner is the io.berth.managed label of the containers this agent runs,
	// so several agents can share one Docker daemon. Default "berth".
	Owner string
	// InstanceID overrides the instance identity (tests, special setups).
	InstanceID string

	// ReservedMemoryMiB is kept out of the registered MEMORY (ECS_RESERVED_MEMORY).
	ReservedMemoryMiB int
	// ReservedPorts and ReservedPortsUDP are registered as PORTS / PORTS_UDP
	// (ECS_RESERVED_PORTS, ECS_RESERVED_PORTS_UDP). Nil: DefaultReservedPorts
	// and none.
	ReservedPorts    []int
	ReservedPortsUDP []int
	// AvailabilityZone and InstanceType become the ecs.availability-zone and
	// ecs.instance-type attributes. Defaults <region>a and "berth.host".
	AvailabilityZone string
	InstanceType     string
	// Attributes are custom attributes (ECS_INSTANCE_ATTRIBUTES).
	Attributes map[string]string
	// LoggingDrivers advertised (ECS_AVAILABLE_LOGGING_DRIVERS). Nil:
	// DefaultLoggingDrivers.
	LoggingDrivers []string

	// PullBehavior follows ECS_IMAGE_PULL_BEHAVIOR. Default "default".
	PullBehavior docker.PullBehavior
	// StopTimeout is the SIGTERM → SIGKILL grace for containers without
	// stopTimeout (ECS_CONTAINER_STOP_TIMEOUT). Default 30 s.
	StopTimeout time.Duration
	// CleanupDelay: stopped tasks' containers are removed after it
	// (ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION). Default 3 h.
	CleanupDelay time.Duration
	// InsightsInterval is the Container Insights sample interval while the
	// cluster has containerInsights enabled. Default 60 s.
	InsightsInterval time.Duration
	// ImageCleanup removes images the agent pulled once unused
	// (ECS_DISABLE_IMAGE_CLEANUP, ECS_IMAGE_CLEANUP_INTERVAL,
	// ECS_IMAGE_MINIMUM_CLEANUP_AGE, ECS_NUM_IMAGES_DELETE_PER_CYCLE).
	ImageCleanup engine.ImageCleanup

	// IntrospectionAddr serves /v1/metadata and /v1/tasks. Default
	// 127.0.0.1:51678; "off" disables it.
	IntrospectionAddr string
	// MetadataAddr serves the task metadata endpoint (v4 and v3). Default
	// 127.0.0.1:51679; "off" disables it. Containers in host network mode
	// reach it there (127.0.0.1 when the address is unspecified).
	MetadataAddr string
	// Listeners, when set, are served instead of listening on
	// IntrospectionAddr and MetadataAddr.
	Listeners Listeners
	// DisableMetadataBridge stops the agent from also serving the task
	// metadata endpoint on the Docker bridge gateway (docker0, usually
	// 172.17.0.1; same port when free), which is how bridge-mode containers
	// reach it. When disabled, bridge-mode containers get no
	// ECS_CONTAINER_METADATA_URI_V4.
	DisableMetadataBridge bool

	// AWSVPCSubnet turns on awsvpc network mode (BERTH_AGENT_AWSVPC_SUBNET,
	// --awsvpc-subnet): an IPv4 CIDR, /29 or larger, from which each awsvpc
	// task gets its own address, on a Docker bridge network the agent
	// creates (docker.AWSVPCNetworkName(Owner)). Empty: awsvpc tasks are
	// refused.
	AWSVPCSubnet string

	// JoinToken is the cluster join token; with Dial, the agent joins with
	// it (agentproto.Join) and then talks as its instance's own NATS
	// identity, on a connection Dial opens. Without it the agent registers
	// on the connection New was given.
	JoinToken string
	Dial      agentproto.Dial
	// RegistryHosts are extra registry hosts (host[:port]) that get the ECR
	// token, besides the proxyEndpoint host and its ECR-style aliases.
	RegistryHosts []string

	// HeartbeatInterval defaults to events.HeartbeatInterval.
	HeartbeatInterval time.Duration
	// ResyncInterval re-reads the whole desired state. Default 1 min.
	ResyncInterval time.Duration
	// EngineResyncInterval re-inspects every container. Default 1 min.
	EngineResyncInterval time.Duration
	// CallTimeout bounds each NATS request. Default 10 s.
	CallTimeout time.Duration

	// Logger; nil discards.
	Logger *slog.Logger
}

const addrOff = "off"

func (c Config) withDefaults() Config {
	if c.Cluster == "" {
		c.Cluster = DefaultCluster
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.Owner == "" {
		c.Owner = docker.DefaultOwner
	}
	if c.IntrospectionAddr == "" {
		c.IntrospectionAddr = DefaultIntrospectionAddr
	}
	if c.MetadataAddr == "" {
		c.MetadataAddr = DefaultMetadataAddr
	}
	if c.ReservedPorts == nil {
		c.ReservedPorts = slices.Clone(DefaultReservedPorts)
	}
	if c.AvailabilityZone == "" {
		c.AvailabilityZone = c.Region + "a"
	}
	if c.InstanceType == "" {
		c.InstanceType = DefaultInstanceType
	}
	if c.LoggingDrivers == nil {
		c.LoggingDrivers = slices.Clone(DefaultLoggingDrivers)
	}
	if c.PullBehavior == "" {
		c.PullBehavior = docker.PullDefault
	}
	if c.ResyncInterval <= 0 {
		c.ResyncInterval = DefaultResyncInterval
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	if _, err := docker.ParsePullBehavior(string(c.PullBehavior)); err != nil {
		return err
	}
	if c.ReservedMemoryMiB < 0 {
		return fmt.Errorf("reserved memory %d MiB: must not be negative", c.ReservedMemoryMiB)
	}
	for _, p := range append(slices.Clone(c.ReservedPorts), c.ReservedPortsUDP...) {
		if p < 1 || p > 65535 {
			return fmt.Errorf("reserved port %d: want 1..65535", p)
		}
	}
	if n := len(c.ReservedPorts); n > 100 {
		return fmt.Errorf("%d reserved ports: ECS allows at most 100", n)
	}
	if c.AWSVPCSubnet != "" {
		if _, err := ParseAWSVPCSubnet(c.AWSVPCSubnet); err != nil {
			return err
		}
	}
	return nil
}

// ParseAWSVPCSubnet reads the awsvpc subnet: an IPv4 CIDR of /29 or larger
// ("10.200.0.0/16").
func ParseAWSVPCSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil || !p.Addr().Is4() || p.Bits() > 29 {
		return netip.Prefix{}, fmt.Errorf("awsvpc subnet %q: want an IPv4 CIDR of /29 or larger, such as 10.200.0.0/16", s)
	}
	return p.Masked(), nil
}

// ParsePorts reads a port list as ECS_RESERVED_PORTS spells it (a JSON
// array, "[22, 2375]") or as a comma-separated list ("22,2375"). Empty gives
// nil.
func ParsePorts(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []int
	if strings.HasPrefix(s, "[") {
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			return nil, fmt.Errorf("port list %q: %w", s, err)
		}
	} else {
		for f := range strings.SplitSeq(s, ",") {
			p, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return nil, fmt.Errorf("port list %q: %q is not a port", s, f)
			}
			out = append(out, p)
		}
	}
	for _, p := range out {
		if p < 1 || p > 65535 {
			return nil, fmt.Errorf("port list %q: %d is not in 1..65535", s, p)
		}
	}
	if out == nil {
		out = []int{}
	}
	return out, nil
}

// ParseAttributes reads ECS_INSTANCE_ATTRIBUTES: a JSON object of string
// values, {"stack": "prod"}.
func ParseAttributes(s string) (map[string]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out map[string]string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("instance attributes %q: want a JSON object of strings: %w", s, err)
	}
	for k := range out {
		if k == "" || len(k) > 128 {
			return nil, fmt.Errorf("instance attributes: name %q: want 1..128 characters", k)
		}
	}
	return out, nil
}

// ParseStringList reads a JSON array of strings ('["json-file","none"]', as
// ECS_AVAILABLE_LOGGING_DRIVERS) or a comma-separated list. Empty gives nil.
func ParseStringList(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []string
	if strings.HasPrefix(s, "[") {
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			return nil, fmt.Errorf("list %q: %w", s, err)
		}
		return out, nil
	}
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out, nil
}
