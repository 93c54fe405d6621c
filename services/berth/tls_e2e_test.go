package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/internal/tlsconf"
	"github.com/berth-project/berth/internal/tlsconf/tlstest"
)

// startBerthTLS starts bin with --tls-cert and --tls-key from ca and
// /metrics on (without the local agent unless extra names its owner), and
// waits for /healthz over HTTPS.
func startBerthTLS(t *testing.T, bin string, ca *tlstest.CA, extra ...string) (*berthProc, string) {
	t.Helper()
	cert, key := ca.Server(t, "berth")
	api, natsAddr, registryAddr, metricsAddr := testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)
	data := t.TempDir()
	args := append([]string{"--data", data, "--api-addr", api, "--nats-addr", natsAddr, "--registry-addr", registryAddr,
		"--metrics-addr", metricsAddr, "--account", testenv.Account, "--region", testenv.Region, "--tls-cert", cert, "--tls-key", key}, extra...)
	if !slices.Contains(extra, "--agent-owner") {
		args = append(args, "--no-agent")
	}
	cmd := exec.Command(bin, args...)
	logs := &testenv.SafeBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = append(os.Environ(), "BERTH_DATA=", "DOCKER_HOST=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &berthProc{cmd: cmd, logs: logs, api: api, nats: natsAddr, registry: registryAddr, data: data,
		cli: testenv.CLI{Endpoint: "https://" + api, AWSDir: filepath.Join(data, "aws")}}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	client := trustingClient(t, ca)
	natstest.Eventually(t, 60*time.Second, 100*time.Millisecond, func() error {
		if cmd.ProcessState != nil {
			return fmt.Errorf("berth exited:\n%s", logs.String())
		}
		resp, err := client.Get("https://" + api + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("healthz %s", resp.Status)
		}
		return nil
	})
	return p, metricsAddr
}

func trustingClient(t *testing.T, ca *tlstest.CA) *http.Client {
	t.Helper()
	cfg, err := tlsconf.Client(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
}

// TestBerth_HTTPS runs the all-in-one binary with --tls-cert and --tls-key:
// the AWS API, the registry and /metrics serve HTTPS with the certificate.
// The aws CLI with --ca-bundle and the Go SDK with a client trusting the CA
// make calls; GetAuthorizationToken's proxyEndpoint and the registry's
// challenge say https; clients that do not trust the CA are refused.
func TestBerth_HTTPS(t *testing.T) {
	testenv.RequireTool(t, "aws")
	t.Parallel()
	bin := buildBerth(t)
	ca := tlstest.NewCA(t, "berth test CA")
	p, metricsAddr := startBerthTLS(t, bin, ca)
	client := trustingClient(t, ca)

	res := p.cli.Run(t, "", "--ca-bundle", ca.File, "ecs", "create-cluster", "--cluster-name", "secure")
	if res.Exit != 0 {
		t.Fatalf("aws --ca-bundle ecs create-cluster: exit %d\n%s", res.Exit, res.Stderr)
	}
	res = p.cli.Run(t, "", "--ca-bundle", ca.File, "ecr", "get-authorization-token")
	var tok struct {
		AuthorizationData []struct{ ProxyEndpoint string } `json:"authorizationData"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &tok); res.Exit != 0 || err != nil || len(tok.AuthorizationData) != 1 {
		t.Fatalf("aws ecr get-authorization-token: exit %d %v\n%s\n%s", res.Exit, err, res.Stdout, res.Stderr)
	}
	if got := tok.AuthorizationData[0].ProxyEndpoint; got != "https://"+p.registry {
		t.Fatalf("proxyEndpoint %q, want https://%s", got, p.registry)
	}
	if res := p.cli.Run(t, "", "ecs", "list-clusters"); res.Exit == 0 || !strings.Contains(res.Stderr, "CERTIFICATE_VERIFY_FAILED") {
		t.Fatalf("aws without --ca-bundle: exit %d\n%s", res.Exit, res.Stderr)
	}

	// The Go SDK, with the credentials the first start wrote.
	cfg, err := awsconfig.LoadDefaultConfig(t.Context(), awsconfig.WithRegion(testenv.Region),
		awsconfig.WithSharedCredentialsFiles([]string{filepath.Join(p.data, "aws", "credentials")}),
		awsconfig.WithSharedConfigProfile("berth"), awsconfig.WithRetryMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	endpoint := aws.String("https://" + p.api)
	out, err := ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint, o.HTTPClient = endpoint, client }).
		ListClusters(t.Context(), &ecs.ListClustersInput{})
	if err != nil || len(out.ClusterArns) != 1 || !strings.HasSuffix(out.ClusterArns[0], ":cluster/secure") {
		t.Fatalf("SDK ListClusters over HTTPS: %v %v", out, err)
	}
	_, err = ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = endpoint }).
		ListClusters(t.Context(), &ecs.ListClustersInput{})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("SDK not trusting the CA: %v, want an unknown authority error", err)
	}

	// The registry's challenge names its https realm; /metrics is HTTPS too.
	resp, err := client.Get("https://" + p.registry + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := `Basic realm="https://` + p.registry + `/"`; resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), want) {
		t.Fatalf("registry /v2/: %s %q, want 401 and %s", resp.Status, resp.Header.Get("WWW-Authenticate"), want)
	}
	resp, err = client.Get("https://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(body) == 0 {
		t.Fatalf("/metrics over HTTPS: %s", resp.Status)
	}
	for _, addr := range []string{p.api, p.registry, metricsAddr} {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+addr+"/", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil || !errors.As(err, &unknown) {
			if resp != nil {
				resp.Body.Close()
			}
			t.Errorf("https://%s without the CA: %v, want an unknown authority error", addr, err)
		}
		cancel()
	}
	p.stop(t, syscall.SIGTERM)
}
