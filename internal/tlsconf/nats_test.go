package tlsconf_test

import (
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/tlsconf"
	"github.com/berth-project/berth/internal/tlsconf/tlstest"
)

// TestNATSOptions connects to a NATS server that requires TLS: with the
// options for the CA the connection is TLS and verified; without them, or
// with another CA, it is refused.
func TestNATSOptions(t *testing.T) {
	ca := tlstest.NewCA(t, "berth test CA")
	cert, key := ca.Server(t, "nats")
	opts := natstest.Options(t)
	var err error
	if opts.TLSConfig, err = (tlsconf.Files{Cert: cert, Key: key}).Server(); err != nil {
		t.Fatal(err)
	}
	opts.TLS = true
	s := natstest.StartWith(t, opts)

	tlsOpts, err := tlsconf.NATSOptions(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	nc := natstest.Connect(t, s, tlsOpts...)
	if !nc.TLSRequired() {
		t.Fatal("the server does not require TLS")
	}
	state, err := nc.TLSConnectionState()
	if err != nil || !state.HandshakeComplete || len(state.VerifiedChains) == 0 {
		t.Fatalf("connection state %+v %v: want a verified TLS connection", state, err)
	}
	if _, err := nc.Request("$JS.API.INFO", nil, 5*time.Second); err != nil {
		t.Fatalf("request over TLS: %v", err)
	}

	var unknown x509.UnknownAuthorityError
	if nc, err := nats.Connect(s.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("connected without the CA")
	} else if !errors.As(err, &unknown) {
		t.Fatalf("without the CA: %v, want an unknown authority", err)
	}
	other := tlstest.NewCA(t, "other CA")
	otherOpts, _ := tlsconf.NATSOptions(other.File)
	if nc, err := nats.Connect(s.ClientURL(), otherOpts...); err == nil {
		nc.Close()
		t.Fatal("connected trusting another CA")
	}
}

// TestNATSOptions_PlainServer: a client told to verify the server with a CA
// does not fall back to plain text when the server offers no TLS.
func TestNATSOptions_PlainServer(t *testing.T) {
	ca := tlstest.NewCA(t, "berth test CA")
	s := natstest.Start(t)
	tlsOpts, _ := tlsconf.NATSOptions(ca.File)
	if nc, err := nats.Connect(s.ClientURL(), tlsOpts...); err == nil {
		nc.Close()
		t.Fatal("a TLS client connected to a plain server")
	}
}
