package svc

import (
	"crypto/tls"
	"flag"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/internal/tlsconf"
)

// RegisterHTTPTLS adds --tls-cert and --tls-key (BERTH_TLS_CERT,
// BERTH_TLS_KEY): the certificate and key an HTTP listener serves HTTPS
// with.
func RegisterHTTPTLS(fs *flag.FlagSet, getenv func(string) string, f *tlsconf.Files) {
	String(fs, getenv, &f.Cert, "tls-cert", "BERTH_TLS_CERT", "", "PEM certificate chain to serve HTTPS with (with --tls-key; empty: plain HTTP)")
	String(fs, getenv, &f.Key, "tls-key", "BERTH_TLS_KEY", "", "PEM private key of --tls-cert")
}

// HTTPTLS loads the files of RegisterHTTPTLS: nil, nil when none is given.
func HTTPTLS(f tlsconf.Files) (*tls.Config, error) {
	cfg, err := f.Server()
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	return cfg, nil
}

// natsTLS returns the options that make the NATS connection use TLS and
// verify the server with --nats-ca (none without it).
func (c *Common) natsTLS() ([]nats.Option, error) {
	opts, err := tlsconf.NATSOptions(c.NATSCA)
	if err != nil {
		return nil, fmt.Errorf("--nats-ca: %w", err)
	}
	return opts, nil
}
