package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/svc"
	"github.com/berth-project/berth/metrics"
)

func main() { svc.Exec("metrics", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	return svc.Main(ctx, events.ServiceMetrics, args, getenv, stderr, nil,
		func(_ context.Context, c svc.Common, nc *nats.Conn, js jetstream.JetStream, log *slog.Logger) (svc.Runner, error) {
			return metrics.New(metrics.Config{Region: c.Region, Account: c.Account, Replicas: c.Replicas, Log: log}, nc, js)
		})
}
