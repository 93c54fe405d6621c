package main

import (
	"testing"
	"time"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/internal/tlsconf/tlstest"
)

// TestRun_TLS runs the registry main against a NATS server that requires
// TLS (--nats-ca) and serving HTTPS (--tls-cert, --tls-key): /v2/ answers a
// client trusting the CA with a challenge whose realm is https.
func TestRun_TLS(t *testing.T) {
	ca := tlstest.NewCA(t, "berth test CA")
	s := natstest.StartTLS(t, ca.ServerTLS(t, "nats"))
	cert, key := ca.Server(t, "registry")
	addr := testenv.FreeAddr(t)
	args := []string{"--nats-url", s.ClientURL(), "--nats-creds", natstest.ContextFile(t, s.ClientURL(), "registry"), "--nats-ca", ca.File, "--addr", addr, "--tls-cert", cert, "--tls-key", key}
	p := testenv.StartMain(t, "registry", run, args, nil)
	client := ca.HTTPClient()
	var challenge string
	natstest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		p.Running(t)
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
	p.Stop(t)
}
