package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/services/agent/agent"
	"github.com/berth-project/berth/services/agent/docker"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// Environment variables named like the ECS agent's configure the agent.
func TestFlags_FromEnvironment(t *testing.T) {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	cfg, finish := registerFlags(fs, envOf(map[string]string{
		"ECS_CLUSTER":                           "prod",
		"ECS_RESERVED_MEMORY":                   "256",
		"ECS_RESERVED_PORTS":                    "[22, 8080]",
		"ECS_RESERVED_PORTS_UDP":                "53",
		"ECS_INSTANCE_ATTRIBUTES":               `{"stack":"blue"}`,
		"ECS_IMAGE_PULL_BEHAVIOR":               "prefer-cached",
		"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION": "10m",
		"ECS_CONTAINER_STOP_TIMEOUT":            "5s",
		"ECS_DATADIR":                           "/tmp/agent-data",
		"ECS_DISABLE_IMAGE_CLEANUP":             "true",
		"ECS_AVAILABLE_LOGGING_DRIVERS":         `["json-file"]`,
		"DOCKER_HOST":                           "tcp://10.0.0.1:2375",
		"BERTH_AGENT_INTROSPECTION_ADDR":        "off",
	}))
	if err := fs.Parse([]string{"--owner=o1"}); err != nil {
		t.Fatal(err)
	}
	if err := finish(); err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster != "prod" || cfg.ReservedMemoryMiB != 256 || !slices.Equal(cfg.ReservedPorts, []int{22, 8080}) ||
		!slices.Equal(cfg.ReservedPortsUDP, []int{53}) || cfg.Attributes["stack"] != "blue" || cfg.PullBehavior != docker.PullPreferCached ||
		cfg.CleanupDelay != 10*time.Minute || cfg.StopTimeout != 5*time.Second || cfg.DataDir != "/tmp/agent-data" ||
		!cfg.ImageCleanup.Disabled || !slices.Equal(cfg.LoggingDrivers, []string{"json-file"}) || cfg.DockerHost != "tcp://10.0.0.1:2375" ||
		cfg.IntrospectionAddr != "off" || cfg.Owner != "o1" || cfg.MetadataAddr != agent.DefaultMetadataAddr || cfg.DisableMetadataBridge {
		t.Errorf("config %+v", cfg)
	}
}

func TestRun_BadArguments(t *testing.T) {
	for _, args := range [][]string{{"--image-pull-behavior=sometimes"}, {"--reserved-ports=[99999]"}, {"--instance-attributes=[1]"}, {"extra"}} {
		if err := run(t.Context(), args, envOf(nil), io.Discard); err == nil {
			t.Errorf("%v: want an error", args)
		}
	}
	if err := run(t.Context(), []string{"-h"}, envOf(nil), io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

// Without Docker the agent exits at once with a clear error.
func TestRun_NoDocker(t *testing.T) {
	s := natstest.Start(t)
	var stderr bytes.Buffer
	err := run(t.Context(), nil, envOf(map[string]string{
		"BERTH_NATS_URL":                 s.ClientURL(),
		"BERTH_JOIN_TOKEN":               "token",
		"DOCKER_HOST":                    "unix:///nonexistent/docker.sock",
		"ECS_DATADIR":                    t.TempDir(),
		"BERTH_AGENT_INTROSPECTION_ADDR": "127.0.0.1:0",
		"BERTH_AGENT_METADATA_ADDR":      "127.0.0.1:0",
	}), &stderr)
	if !errors.Is(err, agent.ErrNoDocker) || !strings.Contains(err.Error(), "unix:///nonexistent/docker.sock") {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
}
