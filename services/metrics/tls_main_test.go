package main

import (
	"crypto/x509"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/internal/tlsconf/tlstest"
)

// TestRun_MetricsTLS: with --tls-cert and --tls-key the exporter serves
// /metrics over HTTPS; a client that does not trust the CA is refused.
func TestRun_MetricsTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "berth test CA")
	cert, key := ca.Server(t, "metrics")
	s := natstest.Start(t)
	addr := testenv.FreeAddr(t)
	args := []string{"--nats-url", s.ClientURL(), "--nats-creds", natstest.ContextFile(t, s.ClientURL(), "metrics"), "--metrics-addr", addr, "--tls-cert", cert, "--tls-key", key}
	p := testenv.StartMain(t, "metrics", run, args, nil)
	client := ca.HTTPClient()
	natstest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		p.Running(t)
		resp, err := client.Get("https://" + addr + "/metrics")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/metrics: %s", resp.Status)
		}
		return nil
	})
	var unknown x509.UnknownAuthorityError
	if _, err := (&http.Client{Timeout: 5 * time.Second}).Get("https://" + addr + "/metrics"); !errors.As(err, &unknown) {
		t.Fatalf("without the CA: %v, want an unknown authority error", err)
	}
	p.Stop(t)
}
