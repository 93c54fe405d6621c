package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natsauth"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/internal/tlsconf"
	"github.com/berth-project/berth/internal/tlsconf/tlstest"
)

// The TLS files come from flags or the environment; a certificate without
// its key, or a file that is not one, stops Berth at the flag parse.
func TestParseConfig_TLS(t *testing.T) {
	ca := tlstest.NewCA(t, "berth test CA")
	cert, key := ca.Server(t, "berth")
	env := map[string]string{"BERTH_TLS_CERT": cert, "BERTH_TLS_KEY": key}
	getenv := func(k string) string { return env[k] }
	c, err := parseConfig([]string{"--data", t.TempDir(), "--nats-tls-cert", cert, "--nats-tls-key", key}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := tlsconf.Files{Cert: cert, Key: key}
	if c.HTTPTLS != want || c.NATSTLS != want {
		t.Fatalf("HTTPTLS %+v NATSTLS %+v, want %+v", c.HTTPTLS, c.NATSTLS, want)
	}
	if c.httpScheme() != "https" || c.natsScheme() != "tls" {
		t.Fatalf("schemes %s %s", c.httpScheme(), c.natsScheme())
	}
	plain, err := parseConfig([]string{"--data", t.TempDir()}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if plain.HTTPTLS.Enabled() || plain.NATSTLS.Enabled() || plain.httpScheme() != "http" || plain.natsScheme() != "nats" {
		t.Fatalf("TLS without flags: %+v", plain)
	}

	none := func(string) string { return "" }
	for name, tc := range map[string]struct {
		args []string
		flag string
	}{
		"cert without key":      {[]string{"--tls-cert", cert}, "--tls-cert/--tls-key"},
		"key without cert":      {[]string{"--tls-key", key}, "--tls-cert/--tls-key"},
		"nats cert without key": {[]string{"--nats-tls-cert", cert}, "--nats-tls-cert/--nats-tls-key"},
		"missing file":          {[]string{"--tls-cert", cert + ".gone", "--tls-key", key}, "--tls-cert/--tls-key"},
		"key as certificate":    {[]string{"--nats-tls-cert", key, "--nats-tls-key", key}, "--nats-tls-cert/--nats-tls-key"},
	} {
		_, err := parseConfig(append([]string{"--data", t.TempDir()}, tc.args...), none, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%s: err %v, want one naming %s", name, err, tc.flag)
		}
	}
}

// applyNATSTLS makes the server require TLS with the certificate: a client
// trusting the CA connects over TLS, others are refused, and in-process
// connections (the all-in-one's services) still work.
func TestApplyNATSTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "berth test CA")
	cert, key := ca.Server(t, "nats")
	opts := natstest.Options(t)
	if err := applyNATSTLS(config{}, opts); err != nil || opts.TLSConfig != nil {
		t.Fatalf("no files: %v, TLS %v", err, opts.TLSConfig)
	}
	if err := applyNATSTLS(config{NATSTLS: tlsconf.Files{Cert: cert}}, opts); !errors.Is(err, tlsconf.ErrIncomplete) {
		t.Fatalf("cert without key: %v", err)
	}
	if err := applyNATSTLS(config{NATSTLS: tlsconf.Files{Cert: cert, Key: key}}, opts); err != nil {
		t.Fatal(err)
	}
	s := natstest.StartWith(t, opts)

	tlsOpts, err := tlsconf.NATSOptions(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	nc := natstest.Connect(t, s, tlsOpts...)
	if st, err := nc.TLSConnectionState(); err != nil || len(st.VerifiedChains) == 0 {
		t.Fatalf("not a verified TLS connection: %v", err)
	}
	if nc, err := nats.Connect(s.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("a client without the CA connected")
	}

	// In process: no TLS, and JetStream answers.
	// (as node.connect dials: with no URL; s.ClientURL() now says tls://,
	// which would make the client insist on TLS)
	ip, err := nats.Connect("", append(natstest.Admin(t), nats.InProcessServer(s))...)
	if err != nil {
		t.Fatalf("in-process connection: %v", err)
	}
	defer ip.Close()
	if _, err := ip.TLSConnectionState(); err == nil {
		t.Fatal("the in-process connection uses TLS")
	}
	js, _ := jetstream.New(ip)
	if _, err := natsutil.EnsureStream(t.Context(), js, events.StreamEvents, 1); err != nil {
		t.Fatalf("JetStream in process: %v", err)
	}

	// berth events --nats-ca follows the stream over TLS.
	publishEvent(t, js, events.SubjECSEvent("prod", events.KindTask, "t1"), events.DetailTaskStateChange, "e1")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	creds := natstest.ContextFile(t, s.ClientURL(), natsauth.Subscriber)
	args := []string{"events", "--nats-url", s.ClientURL(), "--nats-creds", creds, "--nats-ca", ca.File, "--all", "--count", "1"}
	if err := run(ctx, args, func(string) string { return "" }, &out, &errb); err != nil {
		t.Fatalf("berth events --nats-ca: %v (%s)", err, errb.String())
	}
	if !strings.Contains(out.String(), `"id":"e1"`) {
		t.Fatalf("berth events printed %q", out.String())
	}
	args = []string{"events", "--nats-url", s.ClientURL(), "--nats-creds", creds, "--all", "--count", "1"}
	if err := run(ctx, args, func(string) string { return "" }, &out, &errb); err == nil {
		t.Fatal("berth events without --nats-ca connected to a TLS server")
	}
}
