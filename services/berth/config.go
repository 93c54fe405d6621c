package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-project/berth/internal/svc"
	"github.com/berth-project/berth/internal/tlsconf"
	"github.com/berth-project/berth/services/agent/docker"
)

// config is the all-in-one's configuration.
type config struct {
	Data         string
	APIAddr      string
	RegistryAddr string
	NATSAddr     string
	Region       string
	Account      string
	LogLevel     string
	MaxMemory    int
	CreateOnPush bool
	DockerHost   string
	NoAgent      bool
	// AgentIntrospectionAddr and AgentMetadataAddr are the local agent's
	// endpoints ("off" disables one).
	AgentIntrospectionAddr string
	AgentMetadataAddr      string
	// AgentTaskCleanupWait is how long the local agent keeps a stopped
	// task's containers (ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION).
	AgentTaskCleanupWait time.Duration
	// AgentOwner is the io.berth.managed label of the local agent's
	// containers: distinct per Berth sharing one Docker daemon.
	AgentOwner string
	// AgentAWSVPCSubnet turns on awsvpc tasks on the local agent: the IPv4
	// CIDR their addresses come from ("" leaves awsvpc off).
	AgentAWSVPCSubnet string
	// ServiceHealthyAfter is how long a RUNNING service task without a
	// health check waits before it counts as healthy (ECS: 40 s).
	ServiceHealthyAfter time.Duration
	// CronMinute is the length of a minute in rate expressions (tests
	// shorten it).
	CronMinute time.Duration
	// AgentInsightsInterval is the local agent's Container Insights sample
	// interval.
	AgentInsightsInterval time.Duration
	// MetricsAddr serves Prometheus /metrics ("" = off).
	MetricsAddr string
	// MetricsPublic allows MetricsAddr on a non-loopback address.
	MetricsPublic bool
	// OTLPEndpoint receives OTLP/HTTP metrics ("" = off).
	OTLPEndpoint string
	// HTTPTLS are the certificate and key the HTTP ports serve HTTPS with;
	// NATSTLS those the NATS client port requires TLS with (none: plain).
	HTTPTLS, NATSTLS tlsconf.Files
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("berth", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { printUsage(fs.Output(), fs) }
	home, _ := os.UserHomeDir()
	svc.String(fs, getenv, &c.Data, "data", "BERTH_DATA", filepath.Join(home, ".berth"), "data folder (NATS storage, generated AWS credentials)")
	svc.String(fs, getenv, &c.APIAddr, "api-addr", "BERTH_API_ADDR", "127.0.0.1:4566", "AWS API (gateway) listen address")
	svc.String(fs, getenv, &c.RegistryAddr, "registry-addr", "BERTH_REGISTRY_ADDR", "127.0.0.1:5000", "OCI registry listen address")
	svc.String(fs, getenv, &c.NATSAddr, "nats-addr", "BERTH_NATS_ADDR", "", "embedded NATS client port, e.g. 127.0.0.1:4222 (empty: none; the services connect in-process). Clients need the credentials in <data>/aws/nats-*.json")
	svc.String(fs, getenv, &c.Region, "region", "BERTH_REGION", "us-east-1", "AWS region used in ARNs and the generated config")
	svc.String(fs, getenv, &c.Account, "account", "BERTH_ACCOUNT", svc.DefaultAccount, "12-digit AWS account id used in ARNs")
	svc.String(fs, getenv, &c.LogLevel, "log-level", "BERTH_LOG_LEVEL", "info", "debug, info, warn or error")
	svc.Int(fs, getenv, &c.MaxMemory, "js-max-memory-mib", "BERTH_JS_MAX_MEMORY_MIB", 256, "JetStream memory storage limit in MiB")
	svc.Bool(fs, getenv, &c.CreateOnPush, "create-on-push", "BERTH_CREATE_ON_PUSH", false, "create ECR repositories on first push")
	svc.String(fs, getenv, &c.DockerHost, "docker-host", "DOCKER_HOST", "", "Docker Engine for the local agent (default: the Docker client default)")
	svc.Bool(fs, getenv, &c.NoAgent, "no-agent", "BERTH_NO_AGENT", false, "do not start the local agent")
	svc.String(fs, getenv, &c.AgentIntrospectionAddr, "agent-introspection-addr", "BERTH_AGENT_INTROSPECTION_ADDR", "127.0.0.1:51678", "local agent's introspection endpoint (off disables)")
	svc.String(fs, getenv, &c.AgentMetadataAddr, "agent-metadata-addr", "BERTH_AGENT_METADATA_ADDR", "127.0.0.1:51679", "local agent's task metadata endpoint (off disables)")
	cleanup := 3 * time.Hour
	if v, err := time.ParseDuration(getenv("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION")); err == nil {
		cleanup = v
	}
	fs.DurationVar(&c.AgentTaskCleanupWait, "agent-task-cleanup-wait", cleanup, "how long the local agent keeps stopped tasks' containers (env ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION)")
	svc.String(fs, getenv, &c.AgentOwner, "agent-owner", "BERTH_AGENT_OWNER", docker.DefaultOwner, "io.berth.managed label of the local agent's containers (distinct per Berth sharing a Docker daemon)")
	svc.String(fs, getenv, &c.AgentAWSVPCSubnet, "agent-awsvpc-subnet", "BERTH_AGENT_AWSVPC_SUBNET", "", "IPv4 CIDR the local agent's awsvpc tasks get addresses from (empty: awsvpc off)")
	fs.DurationVar(&c.ServiceHealthyAfter, "service-healthy-after", envDuration(getenv, "BERTH_SERVICE_HEALTHY_AFTER", 40*time.Second), "how long a RUNNING service task without a health check waits before it counts as healthy (env BERTH_SERVICE_HEALTHY_AFTER)")
	fs.DurationVar(&c.CronMinute, "cron-minute", envDuration(getenv, "BERTH_CRON_MINUTE", time.Minute), "length of a minute in rate schedule expressions, for tests (env BERTH_CRON_MINUTE)")
	fs.DurationVar(&c.AgentInsightsInterval, "agent-insights-interval", envDuration(getenv, "BERTH_AGENT_INSIGHTS_INTERVAL", time.Minute), "how often the local agent samples containers for Container Insights (clusters with containerInsights enabled; env BERTH_AGENT_INSIGHTS_INTERVAL)")
	svc.String(fs, getenv, &c.MetricsAddr, "metrics-addr", "BERTH_METRICS_ADDR", "", "Prometheus /metrics listen address (empty: off; a non-loopback address also needs --metrics-public)")
	svc.Bool(fs, getenv, &c.MetricsPublic, "metrics-public", "BERTH_METRICS_PUBLIC", false, "allow --metrics-addr on a non-loopback address")
	svc.String(fs, getenv, &c.OTLPEndpoint, "otlp-endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", "", "OTLP/HTTP endpoint for metrics, e.g. http://127.0.0.1:4318 (empty: off)")
	registerTLSFlags(fs, getenv, &c)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	common := svc.Common{Region: c.Region, Account: c.Account, Replicas: 1}
	if err := common.Validate(); err != nil {
		return c, err
	}
	for name, addr := range map[string]string{"--api-addr": c.APIAddr, "--registry-addr": c.RegistryAddr, "--nats-addr": c.NATSAddr} {
		if addr == "" && name == "--nats-addr" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return c, fmt.Errorf("%s %q: %w", name, addr, err)
		}
	}
	if err := c.checkTLS(); err != nil {
		return c, err
	}
	abs, err := filepath.Abs(c.Data)
	if err != nil {
		return c, err
	}
	c.Data = abs
	return c, nil
}

// envDuration reads a duration from the environment (def when unset or bad).
func envDuration(getenv func(string) string, name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(getenv(name)); err == nil {
		return v
	}
	return def
}
