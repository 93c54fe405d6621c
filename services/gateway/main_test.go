package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
)

// TestRun_Standalone runs the gateway main against an external NATS server,
// bootstraps the root key, checks it serves, and stops it.
func TestRun_Standalone(t *testing.T) {
	s := natstest.Start(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	var logs testenv.SafeBuffer
	awsDir := t.TempDir()
	args := []string{"--nats-url", s.ClientURL(), "--nats-creds", natstest.ContextFile(t, s.ClientURL(), "gateway"), "--addr", addr, "--bootstrap", "--aws-dir", awsDir}
	go func() { done <- run(ctx, args, func(string) string { return "" }, &logs) }()
	natstest.Eventually(t, 15*time.Second, 50*time.Millisecond, func() error {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("gateway did not stop")
	}
	cred, err := os.ReadFile(filepath.Join(awsDir, "credentials"))
	if err != nil {
		t.Fatalf("bootstrap wrote no credentials file: %v", err)
	}
	_, secret, ok := strings.Cut(string(cred), "aws_secret_access_key = ")
	secret = strings.TrimSpace(secret)
	if !ok || secret == "" {
		t.Fatalf("credentials file has no secret:\n%s", cred)
	}
	if fi, err := os.Stat(filepath.Join(awsDir, "credentials")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file mode: %v %v", fi.Mode(), err)
	}
	if strings.Contains(logs.String(), secret) || strings.Contains(logs.String(), "aws_secret_access_key") {
		t.Fatalf("the secret reached the log:\n%s", logs.String())
	}
}
