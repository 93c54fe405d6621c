package gateway_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/internal/accesskeys"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/internal/tlsconf"
	"github.com/berth-project/berth/internal/tlsconf/tlstest"
	"github.com/berth-project/berth/services/gateway/gateway"
)

// startTLSGateway starts a gateway serving HTTPS with a certificate of ca
// on env's NATS and returns its https:// endpoint.
func startTLSGateway(t *testing.T, env *testenv.Env, ca *tlstest.CA) string {
	t.Helper()
	cert, key := ca.Server(t, "gateway")
	cfg, err := tlsconf.Files{Cert: cert, Key: key}.Server()
	if err != nil {
		t.Fatal(err)
	}
	nc := natstest.Connect(t, env.Server)
	js, _ := jetstream.New(nc)
	keys, err := accesskeys.Watch(env.Ctx, js, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Config{Keys: keys, TLS: cfg}, nc)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env.Go(t, "tls gateway", func(ctx context.Context) error { return g.Serve(ctx, l) })
	return "https://" + l.Addr().String()
}

// TestGateway_TLS: a gateway given a certificate serves the AWS API over
// HTTPS. The Go SDK with an HTTP client trusting the CA, and the aws CLI
// with --ca-bundle, make signed calls; clients that do not trust the CA
// fail the handshake, and plain HTTP is not served.
func TestGateway_TLS(t *testing.T) {
	env := withScheduler(t)
	ca := tlstest.NewCA(t, "berth test CA")
	endpoint := startTLSGateway(t, env, ca)

	ccfg, err := tlsconf.Client(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: ccfg}}
	client := ecs.NewFromConfig(env.AWSConfig(), func(o *ecs.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.HTTPClient = trusting
	})
	out, err := client.CreateCluster(t.Context(), &ecs.CreateClusterInput{ClusterName: aws.String("over-tls")})
	if err != nil {
		t.Fatalf("CreateCluster over HTTPS: %v", err)
	}
	if !strings.HasSuffix(aws.ToString(out.Cluster.ClusterArn), ":cluster/over-tls") {
		t.Fatalf("cluster %s", aws.ToString(out.Cluster.ClusterArn))
	}

	// The SDK with its default client (system CAs) refuses the certificate.
	plain := ecs.NewFromConfig(env.AWSConfig(), func(o *ecs.Options) { o.BaseEndpoint = aws.String(endpoint) })
	_, err = plain.ListClusters(t.Context(), &ecs.ListClustersInput{})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("SDK not trusting the CA: %v, want an unknown authority error", err)
	}
	// Plain HTTP to the HTTPS port is not served.
	resp, err := http.Get("http://" + strings.TrimPrefix(endpoint, "https://") + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP was served on the HTTPS port")
		}
	}

	cli := testenv.CLI{Endpoint: endpoint, AWSDir: env.AWSDir}
	res := cli.Run(t, "", "--ca-bundle", ca.File, "ecs", "list-clusters")
	if res.Exit != 0 || !strings.Contains(res.Stdout, ":cluster/over-tls") {
		t.Fatalf("aws --ca-bundle ecs list-clusters: exit %d\n%s\n%s", res.Exit, res.Stdout, res.Stderr)
	}
	res = cli.Run(t, "", "ecs", "list-clusters")
	if res.Exit == 0 || !strings.Contains(res.Stderr, "CERTIFICATE_VERIFY_FAILED") {
		t.Fatalf("aws without the CA: exit %d\n%s\n%s", res.Exit, res.Stdout, res.Stderr)
	}
}
