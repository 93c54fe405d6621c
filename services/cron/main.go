package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"time"
	_ "time/tzdata" // time zones of ScheduleExpressionTimezone on a bare image

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/svc"
	"github.com/berth-project/berth/services/cron/cron"
)

func main() { svc.Exec("cron", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	var minute time.Duration
	var workers int
	var ackWait time.Duration
	extra := func(fs *flag.FlagSet) {
		def := time.Minute
		if v, err := time.ParseDuration(getenv("BERTH_CRON_MINUTE")); err == nil {
			def = v
		}
		fs.DurationVar(&minute, "minute", def, "length of a minute in rate expressions (tests; env BERTH_CRON_MINUTE)")
		svc.Int(fs, getenv, &workers, "workers", "BERTH_CRON_WORKERS", 64, "invocations run at once by this replica")
		fs.DurationVar(&ackWait, "ack-wait", 30*time.Second, "how long an invocation may take before another replica takes it over")
	}
	return svc.Main(ctx, events.ServiceCron, args, getenv, stderr, extra,
		func(_ context.Context, c svc.Common, nc *nats.Conn, js jetstream.JetStream, log *slog.Logger) (svc.Runner, error) {
			return cron.New(cron.Config{Region: c.Region, Account: c.Account, Replicas: c.Replicas, Minute: minute, Workers: workers, AckWait: ackWait, Log: log}, nc, js)
		})
}
