package main

import (
	"crypto/tls"
	"flag"
	"fmt"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/berth-project/berth/internal/svc"
)

// registerTLSFlags adds the TLS flags of the all-in-one: --tls-cert and
// --tls-key for the HTTP ports (the AWS API, the registry, /metrics), and
// --nats-tls-cert and --nats-tls-key for the embedded NATS server's client
// port. The same files may serve both.
func registerTLSFlags(fs *flag.FlagSet, getenv func(string) string, c *config) {
	svc.RegisterHTTPTLS(fs, getenv, &c.HTTPTLS)
	svc.String(fs, getenv, &c.NATSTLS.Cert, "nats-tls-cert", "BERTH_NATS_TLS_CERT", "", "PEM certificate chain the NATS client port (--nats-addr) requires TLS with (with --nats-tls-key; empty: plain)")
	svc.String(fs, getenv, &c.NATSTLS.Key, "nats-tls-key", "BERTH_NATS_TLS_KEY", "", "PEM private key of --nats-tls-cert")
}

// checkTLS loads the TLS files given, so that a missing or bad one stops
// Berth before anything starts.
func (c config) checkTLS() error {
	if _, err := svc.HTTPTLS(c.HTTPTLS); err != nil {
		return err
	}
	_, err := c.natsTLS()
	return err
}

// natsTLS loads the NATS server's TLS configuration (nil without one).
func (c config) natsTLS() (*tls.Config, error) {
	cfg, err := c.NATSTLS.Server()
	if err != nil {
		return nil, fmt.Errorf("--nats-tls-cert/--nats-tls-key: %w", err)
	}
	return cfg, nil
}

// applyNATSTLS makes the embedded server require TLS on its client port
// when --nats-tls-cert and --nats-tls-key are given. In-process
// connections (the all-in-one's own services) are not affected: the server
// lets them in without TLS.
func applyNATSTLS(c config, opts *server.Options) error {
	cfg, err := c.natsTLS()
	if err != nil || cfg == nil {
		return err
	}
	opts.TLSConfig, opts.TLS = cfg, true
	return nil
}

// httpScheme is the scheme of the HTTP ports: https with --tls-cert.
func (c config) httpScheme() string {
	if c.HTTPTLS.Enabled() {
		return "https"
	}
	return "http"
}

// natsScheme is the scheme of the NATS URL clients use: tls with
// --nats-tls-cert (nats.go then insists on TLS).
func (c config) natsScheme() string {
	if c.NATSTLS.Enabled() {
		return "tls"
	}
	return "nats"
}
