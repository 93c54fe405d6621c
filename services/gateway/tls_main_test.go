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

// TestRun_TLS runs the gateway main against a NATS server that requires
// TLS (--nats-ca from BERTH_NATS_CA) and serving HTTPS (--tls-cert and
// --tls-key): /healthz answers a client trusting the CA.
func TestRun_TLS(t *testing.T) {
	ca := tlstest.NewCA(t, "berth test CA")
	natsCert, natsKey := ca.Server(t, "nats")
	opts := natstest.Options(t)
	var err error
	if opts.TLSConfig, err = (tlsconf.Files{Cert: natsCert, Key: natsKey}).Server(); err != nil {
		t.Fatal(err)
	}
	s := natstest.StartWith(t, opts)
	cert, key := ca.Server(t, "gateway")
	addr := testenv.FreeAddr(t)
	env := map[string]string{"BERTH_NATS_URL": s.ClientURL(), "BERTH_NATS_CREDS": natstest.ContextFile(t, s.ClientURL(), "gateway"), "BERTH_NATS_CA": ca.File, "BERTH_TLS_CERT": cert, "BERTH_TLS_KEY": key}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	var logs testenv.SafeBuffer
	go func() {
		done <- run(ctx, []string{"--addr", addr, "--aws-dir", t.TempDir()}, func(k string) string { return env[k] }, &logs)
	}()
	ccfg, err := tlsconf.Client(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: ccfg}, Timeout: 5 * time.Second}
	natstest.Eventually(t, 15*time.Second, 50*time.Millisecond, func() error {
		select {
		case err := <-done:
			t.Fatalf("gateway exited: %v\n%s", err, logs.String())
		default:
		}
		resp, err := client.Get("https://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("gateway did not stop")
	}
}

// A certificate without its key stops the gateway before it serves.
func TestRun_TLSIncomplete(t *testing.T) {
	ca := tlstest.NewCA(t, "berth test CA")
	cert, _ := ca.Server(t, "gateway")
	s := natstest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var logs testenv.SafeBuffer
	err := run(ctx, []string{"--nats-url", s.ClientURL(), "--addr", testenv.FreeAddr(t), "--tls-cert", cert}, func(string) string { return "" }, &logs)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("run with --tls-cert only: %v", err)
	}
}
