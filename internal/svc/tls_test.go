package svc

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/micro"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/tlsconf"
	"github.com/berth-project/berth/internal/tlsconf/tlstest"
)

// tlsNATS starts a JetStream server that requires TLS with a certificate
// of ca.
func tlsNATS(t *testing.T, ca *tlstest.CA) *server.Server {
	t.Helper()
	cert, key := ca.Server(t, "nats")
	opts := natstest.Options(t)
	cfg, err := tlsconf.Files{Cert: cert, Key: key}.Server()
	if err != nil {
		t.Fatal(err)
	}
	opts.TLSConfig, opts.TLS = cfg, true
	return natstest.StartWith(t, opts)
}

func TestConnect_NATSCA(t *testing.T) {
	ca := tlstest.NewCA(t, "berth test CA")
	url := tlsNATS(t, ca).ClientURL()
	env := map[string]string{"BERTH_NATS_URL": url, "BERTH_NATS_CA": ca.File, "BERTH_NATS_CREDS": natstest.ContextFile(t, url, "taskdefs")}
	var c Common
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.Register(fs, func(k string) string { return env[k] })
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if c.NATSCA != ca.File {
		t.Fatalf("NATSCA %q from BERTH_NATS_CA, want %q", c.NATSCA, ca.File)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	nc, js, err := Connect(ctx, c, "tls-test", nil)
	if err != nil {
		t.Fatalf("connect with --nats-ca: %v", err)
	}
	defer nc.Close()
	if st, err := nc.TLSConnectionState(); err != nil || len(st.VerifiedChains) == 0 {
		t.Fatalf("not a verified TLS connection: %v", err)
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		t.Fatalf("JetStream over TLS: %v", err)
	}

	// Without the CA the connection never comes up (natsutil retries
	// until the context ends).
	short, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	c.NATSCA = ""
	if nc, _, err := Connect(short, c, "tls-test", nil); err == nil {
		nc.Close()
		t.Fatal("connected to a TLS server without its CA")
	}
	// A CA file that is not one stops at once.
	c.NATSCA = url // not a file
	if _, _, err := Connect(ctx, c, "tls-test", nil); err == nil || ctx.Err() != nil {
		t.Fatalf("bad --nats-ca: %v", err)
	}
}

func TestHealthcheck_TLS(t *testing.T) {
	ca := tlstest.NewCA(t, "berth test CA")
	s := tlsNATS(t, ca)
	url := s.ClientURL()
	tlsOpts, err := tlsconf.NATSOptions(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	nc := natstest.Connect(t, s, tlsOpts...)
	if _, err := micro.AddService(nc, micro.Config{Name: "taskdefs", Version: "0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	creds := natstest.ContextFile(t, url, "taskdefs")
	getenv := func(k string) string {
		switch k {
		case "BERTH_NATS_URL":
			return url
		case "BERTH_NATS_CREDS":
			return creds
		}
		return ""
	}
	if err := Healthcheck(ctx, "taskdefs", []string{"--nats-ca", ca.File}, getenv, io.Discard); err != nil {
		t.Fatalf("NATS ping over TLS: %v", err)
	}
	if err := Healthcheck(ctx, "taskdefs", []string{"--timeout", "500ms"}, getenv, io.Discard); err == nil {
		t.Fatal("NATS ping without the CA succeeded")
	}

	// HTTPS: --http-ca verifies the server.
	var f tlsconf.Files
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cert, key := ca.Server(t, "gateway")
	RegisterHTTPTLS(fs, func(k string) string { return map[string]string{"BERTH_TLS_CERT": cert}[k] }, &f)
	if err := fs.Parse([]string{"--tls-key", key}); err != nil {
		t.Fatal(err)
	}
	cfg, err := HTTPTLS(f)
	if cfg == nil || err != nil {
		t.Fatalf("HTTPTLS: %v %v", cfg, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(tls.NewListener(l, cfg)) }()
	defer srv.Close()
	u := "https://" + l.Addr().String() + "/healthz"
	none := func(string) string { return "" }
	if err := Healthcheck(ctx, "gateway", []string{"--http", u, "--http-ca", ca.File}, none, io.Discard); err != nil {
		t.Fatalf("https with --http-ca: %v", err)
	}
	if err := Healthcheck(ctx, "gateway", []string{"--http", u}, none, io.Discard); err == nil {
		t.Fatal("https without the CA succeeded")
	}
}

func TestHTTPTLS_Incomplete(t *testing.T) {
	if cfg, err := HTTPTLS(tlsconf.Files{}); cfg != nil || err != nil {
		t.Fatalf("no files: %v %v", cfg, err)
	}
	if _, err := HTTPTLS(tlsconf.Files{Cert: "cert.pem"}); !errors.Is(err, tlsconf.ErrIncomplete) {
		t.Fatalf("cert only: %v", err)
	}
}
