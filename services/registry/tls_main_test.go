package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/internal/tlsconf"
	"github.com/berth-project/berth/internal/tlsconf/tlstest"
)

// TestRun_TLS runs the registry main against a NATS server that requires
// TLS (--nats-ca) and serving HTTPS (--tls-cert, --tls-key): /v2/ answers a
// client trusting the CA with a challenge whose realm is https.
func TestRun_TLS(t *testing.T) {
	ca := tlstest.NewCA(t, "berth test CA")
	natsCert, natsKey := ca.Server(t, "nats")
	opts := natstest.Options(t)
	var err error
	if opts.TLSConfig, err = (tlsconf.Files{Cert: natsCert, Key: natsKey}).Server(); err != nil {
		t.Fatal(err)
	}
	s := natstest.StartWith(t, opts)
	cert, key := ca.Server(t, "registry")
	addr := testenv.FreeAddr(t)
	args := []string{"--nats-url", s.ClientURL(), "--nats-creds", natstest.ContextFile(t, s.ClientURL(), "registry"), "--nats-ca", ca.File, "--addr", addr, "--tls-cert", cert, "--tls-key", key}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	var logs testenv.SafeBuffer
	go func() { done <- run(ctx, args, func(string) string { return "" }, &logs) }()
	ccfg, err := tlsconf.Client(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: ccfg}, Timeout: 5 * time.Second}
	var challenge string
	natstest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		select {
		case err := <-done:
			t.Fatalf("registry exited: %v\n%s", err, logs.String())
		default:
		}
		resp, err := client.Get("https://" + addr + "/v2/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		challenge = resp.Header.Get("WWW-Authenticate")
		return nil
	})
	if want := `Basic realm="https://` + addr + `/",service="ecr.amazonaws.com"`; challenge != want {
		t.Fatalf("challenge %q, want %q", challenge, want)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("registry did not stop")
	}
}
