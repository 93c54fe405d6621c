package svc

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Runner is a service that runs until ctx ends, then drains and returns.
type Runner interface {
	Run(ctx context.Context) error
}

// BuildFunc builds a service from the common settings and its connection.
type BuildFunc func(ctx context.Context, c Common, nc *nats.Conn, js jetstream.JetStream, log *slog.Logger) (Runner, error)

// Main is the body of a standalone service main: it parses the common flags
// (and those extra registers), builds the JSON logger, connects to NATS with
// retry, builds the service and runs it until ctx ends. The connection is
// drained after the service returns.
func Main(ctx context.Context, name string, args []string, getenv func(string) string, stderr io.Writer, extra func(fs *flag.FlagSet), build BuildFunc) error {
	var c Common
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.Register(fs, getenv)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	log := NewLogger(stderr, c.LogLevel, name)
	stopTracing, err := StartTracing(ctx, name, getenv, log)
	if err != nil {
		return err
	}
	defer stopTracing()
	nc, js, err := Connect(ctx, c, name, log)
	if err != nil {
		return err
	}
	defer nc.Drain()
	r, err := build(ctx, c, nc, js, log)
	if err != nil {
		return err
	}
	log.Info("starting", "nats", nc.ConnectedUrlRedacted())
	return r.Run(ctx)
}

// MainFunc is the run function of a standalone service main.
type MainFunc func(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error

// Exec is the whole of a service's main function: it runs run with a
// context cancelled by SIGINT or SIGTERM (so `docker compose stop` drains
// too), and exits 1 with the error on failure (0 after -h). With the
// first argument "healthcheck" it runs Healthcheck instead. The garbage
// collector runs at DefaultGOGC unless GOGC is set.
func Exec(name string, run MainFunc) {
	DefaultGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if len(os.Args) > 1 && os.Args[1] == HealthcheckCommand {
		run = func(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
			return Healthcheck(ctx, name, args[1:], getenv, stderr)
		}
	}
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
