package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natsauth"
	"github.com/berth-project/berth/internal/svc"
	"github.com/berth-project/berth/services/scheduler/control"
)

func main() { svc.Exec("scheduler", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	var cfg control.Config
	var secretsFile, joinTokenFile string
	flags := func(fs *flag.FlagSet) {
		svc.String(fs, getenv, &secretsFile, "nats-secrets", "BERTH_NATS_SECRETS", "",
			"Berth's NATS secrets file (nats-secrets.json): with --join-token-file, this replica admits agents (NATS auth callout)")
		svc.String(fs, getenv, &joinTokenFile, "join-token-file", "BERTH_JOIN_TOKEN_FILE", "",
			"file holding the cluster join token agents present (read at every join, so rewriting it rotates the token)")
		duration(fs, getenv, &cfg.HeartbeatTimeout, "heartbeat-timeout", "BERTH_HEARTBEAT_TIMEOUT",
			"how long after its last heartbeat an agent counts as disconnected (0: the default, "+events.HeartbeatTimeout.String()+")")
		duration(fs, getenv, &cfg.JanitorInterval, "janitor-interval", "BERTH_JANITOR_INTERVAL",
			"how often expired records are cleaned up (0: the default, 1m)")
		duration(fs, getenv, &cfg.ReportAckWait, "report-ack-wait", "BERTH_REPORT_ACK_WAIT",
			"redelivery delay of an agent report a replica took and did not finish (0: the default, 30s)")
	}
	return svc.Main(ctx, events.ServiceScheduler, args, getenv, stderr, flags,
		func(_ context.Context, c svc.Common, nc *nats.Conn, js jetstream.JetStream, log *slog.Logger) (svc.Runner, error) {
			cfg.Region, cfg.Account, cfg.Replicas, cfg.Log = c.Region, c.Account, c.Replicas, log
			if secretsFile != "" || joinTokenFile != "" {
				auth, err := agentAuth(secretsFile, joinTokenFile)
				if err != nil {
					return nil, err
				}
				cfg.Auth = auth
			}
			return control.New(cfg, nc, js)
		})
}

// duration registers a duration flag defaulting to env var env, then 0.
func duration(fs *flag.FlagSet, getenv func(string) string, p *time.Duration, name, env, usage string) {
	def, _ := time.ParseDuration(getenv(env))
	fs.DurationVar(p, name, def, usage)
}

// agentAuth loads what admitting agents takes.
func agentAuth(secretsFile, joinTokenFile string) (*control.AgentAuth, error) {
	if secretsFile == "" || joinTokenFile == "" {
		return nil, errors.New("--nats-secrets and --join-token-file go together")
	}
	sec, err := natsauth.Load(secretsFile)
	if err != nil {
		return nil, err
	}
	if _, err := natsauth.ReadJoinToken(joinTokenFile); err != nil {
		return nil, fmt.Errorf("--join-token-file: %w", err)
	}
	return &control.AgentAuth{IssuerSeed: sec.IssuerSeed, JoinToken: func() (string, error) { return natsauth.ReadJoinToken(joinTokenFile) }}, nil
}
