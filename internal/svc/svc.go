package svc

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/internal/natsauth"
	"github.com/berth-project/berth/internal/natsutil"
)

// Common holds the settings every service takes.
type Common struct {
	NATSURL   string
	NATSCreds string
	Region    string
	Account   string
	Replicas  int
	LogLevel  string

	// NATSCA is the CA file the NATS server's certificate must chain to;
	// set, the connection uses TLS.
	NATSCA string
}

// DefaultAccount is the account id used when none is configured.
const DefaultAccount = "000000000000"

// Register adds the common flags to fs; each defaults to its environment
// variable, then to the built-in default.
func (c *Common) Register(fs *flag.FlagSet, getenv func(string) string) {
	String(fs, getenv, &c.NATSURL, "nats-url", "BERTH_NATS_URL", "nats://127.0.0.1:4222", "NATS server URL(s), comma-separated")
	String(fs, getenv, &c.NATSCreds, "nats-creds", "BERTH_NATS_CREDS", "", "NATS credentials: a context file (JSON with user, password, inbox_prefix, as Berth writes them) or a JWT .creds file")
	String(fs, getenv, &c.NATSCA, "nats-ca", "BERTH_NATS_CA", "", "PEM CA file to verify the NATS server with; set, NATS connections use TLS")
	String(fs, getenv, &c.Region, "region", "BERTH_REGION", "us-east-1", "AWS region used in ARNs")
	String(fs, getenv, &c.Account, "account", "BERTH_ACCOUNT", DefaultAccount, "12-digit AWS account id used in ARNs")
	Int(fs, getenv, &c.Replicas, "replicas", "BERTH_REPLICAS", 1, "JetStream replicas for streams and buckets (3 in a cluster)")
	String(fs, getenv, &c.LogLevel, "log-level", "BERTH_LOG_LEVEL", "info", "debug, info, warn or error")
}

var accountRE = regexp.MustCompile(`^[0-9]{12}$`)

// Validate checks the common settings.
func (c *Common) Validate() error {
	if !accountRE.MatchString(c.Account) {
		return fmt.Errorf("--account %q: want 12 digits", c.Account)
	}
	if c.Region == "" {
		return fmt.Errorf("--region is empty")
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		return fmt.Errorf("--replicas %d: want 1..5", c.Replicas)
	}
	return nil
}

// String registers a string flag defaulting to env var env, then def.
func String(fs *flag.FlagSet, getenv func(string) string, p *string, name, env, def, usage string) {
	if v := getenv(env); v != "" {
		def = v
	}
	fs.StringVar(p, name, def, usage+" (env "+env+")")
}

// Int registers an int flag defaulting to env var env, then def.
func Int(fs *flag.FlagSet, getenv func(string) string, p *int, name, env string, def int, usage string) {
	if v, err := strconv.Atoi(getenv(env)); err == nil {
		def = v
	}
	fs.IntVar(p, name, def, usage+" (env "+env+")")
}

// Bool registers a bool flag defaulting to env var env, then def.
func Bool(fs *flag.FlagSet, getenv func(string) string, p *bool, name, env string, def bool, usage string) {
	if v, err := strconv.ParseBool(getenv(env)); err == nil {
		def = v
	}
	fs.BoolVar(p, name, def, usage+" (env "+env+")")
}

// NewLogger returns the JSON logger of a service.
func NewLogger(w io.Writer, level, service string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})).With("service", service)
}

// Client keepalive of a standalone service: a server that stops answering
// (a partitioned or frozen NATS node) is left for another one of the URL
// list after about PingInterval*(MaxPingsOut+1), not nats.go's default of
// minutes, during which the service would serve no one.
const (
	PingInterval = 3 * time.Second
	MaxPingsOut  = 2
)

// Connect connects to NATS as client name and waits for JetStream.
func Connect(ctx context.Context, c Common, name string, log *slog.Logger, extra ...nats.Option) (*nats.Conn, jetstream.JetStream, error) {
	extra = append([]nats.Option{nats.PingInterval(PingInterval), nats.MaxPingsOutstanding(MaxPingsOut)}, extra...)
	if c.NATSCreds != "" {
		creds, err := natsauth.CredsOptions(c.NATSCreds)
		if err != nil {
			return nil, nil, fmt.Errorf("--nats-creds: %w", err)
		}
		extra = append(creds, extra...)
	}
	tlsOpts, err := c.natsTLS()
	if err != nil {
		return nil, nil, err
	}
	extra = append(tlsOpts, extra...)
	nc, err := natsutil.Connect(ctx, c.NATSURL, name, log, extra...)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	if err := natsutil.WaitJetStream(ctx, js); err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("wait for JetStream: %w", err)
	}
	return nc, js, nil
}
