package main

import (
	"context"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/internal/tlsconf/tlstest"
)

// TestRun_TLS runs the gateway main against a NATS server that requires
// TLS (--nats-ca from BERTH_NATS_CA) and serving HTTPS (--tls-cert and
// --tls-key): /healthz answers a client trusting the CA.
func TestRun_TLS(t *testing.T) {
	ca := tlstest.NewCA(t, "berth test CA")
	s := natstest.StartTLS(t, ca.ServerTLS(t, "nats"))
	cert, key := ca.Server(t, "gateway")
	addr := testenv.FreeAddr(t)
	env := map[string]string{"BERTH_NATS_URL": s.ClientURL(), "BERTH_NATS_CREDS": natstest.ContextFile(t, s.ClientURL(), "gateway"), "BERTH_NATS_CA": ca.File, "BERTH_TLS_CERT": cert, "BERTH_TLS_KEY": key}
	p := testenv.StartMain(t, "gateway", run, []string{"--addr", addr, "--aws-dir", t.TempDir()}, env)
	client := ca.HTTPClient()
	natstest.Eventually(t, 15*time.Second, 50*time.Millisecond, func() error {
		p.Running(t)
		resp, err := client.Get("https://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	p.Stop(t)
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
