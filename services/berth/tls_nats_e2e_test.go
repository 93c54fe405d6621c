package main

import (
	"crypto/x509"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/internal/natsauth"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/internal/tlsconf"
	"github.com/berth-project/berth/internal/tlsconf/tlstest"
)

// TestBerth_NATSTLS runs the binary with --nats-tls-cert and --nats-tls-key
// (and --tls-cert, --tls-key): its NATS client port requires TLS with the
// certificate (a client without the CA fails the handshake, one with it
// gets past it), while its own services, connected in process, keep
// answering the AWS API. The banner gives the https and tls URLs.
func TestBerth_NATSTLS(t *testing.T) {
	testenv.RequireTool(t, "aws")
	t.Parallel()
	bin := buildBerth(t)
	ca := tlstest.NewCA(t, "berth test CA")
	cert, key := ca.Server(t, "nats")
	p, _ := startBerthTLS(t, bin, ca, "--nats-tls-cert", cert, "--nats-tls-key", key)
	if res := p.cli.Run(t, "", "--ca-bundle", ca.File, "ecs", "create-cluster", "--cluster-name", "nats-tls"); res.Exit != 0 {
		t.Fatalf("aws ecs create-cluster: exit %d\n%s", res.Exit, res.Stderr)
	}

	url := "nats://" + p.nats
	var unknown x509.UnknownAuthorityError
	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Fatal("a NATS client without the CA connected")
	} else if !errors.As(err, &unknown) {
		t.Fatalf("without the CA: %v, want an unknown authority error", err)
	}
	opts, err := tlsconf.NATSOptions(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	// With the CA and the event subscriber's credentials (the context file
	// Berth wrote, whose url says tls://), a verified TLS connection.
	ctxFile := filepath.Join(p.data, "aws", "nats-events.json")
	creds, err := natsauth.CredsOptions(ctxFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, append(opts, creds...)...)
	if err != nil {
		t.Fatalf("with the CA and credentials: %v", err)
	}
	st, err := nc.TLSConnectionState()
	nc.Close()
	if err != nil || len(st.VerifiedChains) == 0 {
		t.Fatalf("not a verified TLS connection: %v", err)
	}
	if c, _ := natsauth.ReadContext(ctxFile); !strings.HasPrefix(c.URL, "tls://") {
		t.Errorf("context url %q, want tls://", c.URL)
	}
	for _, want := range []string{"tls://" + p.nats, "https://" + p.api} {
		if !strings.Contains(p.logs.String(), want) {
			t.Errorf("the banner does not give %s:\n%s", want, p.logs.String())
		}
	}
	p.stop(t, syscall.SIGTERM)
}
