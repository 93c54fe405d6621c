package svc

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/internal/natsauth"
	"github.com/berth-project/berth/internal/tlsconf"
)

// HealthcheckCommand is the first argument that turns any service binary
// into its own container health check (`<service> healthcheck`): images are
// built FROM scratch, so there is no shell or curl to run one.
const HealthcheckCommand = "healthcheck"

// Healthcheck checks that service name is up and returns nil if it is.
// With --http it GETs that URL and wants a 2xx answer (the gateway's
// /healthz, the agent's introspection API); otherwise it connects to NATS
// (--nats-url, BERTH_NATS_URL) and wants at least one answer to
// `$SRV.PING.<name>` (--name overrides the micro service name).
func Healthcheck(ctx context.Context, name string, args []string, getenv func(string) string, stderr io.Writer) error {
	var c Common
	var url, caFile string
	var timeout time.Duration
	fs := flag.NewFlagSet(name+" "+HealthcheckCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.Register(fs, getenv)
	fs.StringVar(&url, "http", "", "GET this URL and want a 2xx answer, instead of the NATS ping")
	fs.StringVar(&name, "name", name, "micro service name to ping")
	fs.StringVar(&caFile, "http-ca", "", "PEM CA file to verify an https --http URL with (default: the system CAs)")
	fs.DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if url != "" {
		return checkHTTP(ctx, url, caFile)
	}
	return pingService(ctx, c, name)
}

func checkHTTP(ctx context.Context, url, caFile string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	client := http.DefaultClient
	if caFile != "" {
		cfg, err := tlsconf.Client(caFile)
		if err != nil {
			return fmt.Errorf("--http-ca: %w", err)
		}
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

func pingService(ctx context.Context, c Common, name string) error {
	opts := []nats.Option{nats.Name(name + "-healthcheck")}
	if c.NATSCreds != "" {
		creds, err := natsauth.CredsOptions(c.NATSCreds)
		if err != nil {
			return fmt.Errorf("--nats-creds: %w", err)
		}
		opts = append(opts, creds...)
	}
	tlsOpts, err := c.natsTLS()
	if err != nil {
		return err
	}
	nc, err := nats.Connect(c.NATSURL, append(opts, tlsOpts...)...)
	if err != nil {
		return fmt.Errorf("connect to NATS: %w", err)
	}
	defer nc.Close()
	if _, err := nc.RequestWithContext(ctx, "$SRV.PING."+name, nil); err != nil {
		return fmt.Errorf("ping %s: %w", name, err)
	}
	return nil
}
