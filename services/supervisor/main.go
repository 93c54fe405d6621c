package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/svc"
	"github.com/berth-project/berth/services/supervisor/supervisor"
)

func main() { svc.Exec("supervisor", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	return svc.Main(ctx, events.ServiceSupervisor, args, getenv, stderr, nil,
		func(_ context.Context, c svc.Common, nc *nats.Conn, js jetstream.JetStream, log *slog.Logger) (svc.Runner, error) {
			return supervisor.New(supervisor.Config{
				Region: c.Region, Account: c.Account, Replicas: c.Replicas, Log: log,
				HealthyAfter: envDuration(getenv, "BERTH_SUPERVISOR_HEALTHY_AFTER"),
				BackoffBase:  envDuration(getenv, "BERTH_SUPERVISOR_BACKOFF"),
			}, nc, js)
		})
}

// envDuration reads a duration setting (0, the default, when unset or bad).
func envDuration(getenv func(string) string, name string) time.Duration {
	d, _ := time.ParseDuration(getenv(name))
	return d
}
