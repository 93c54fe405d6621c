package main

import (
	"encoding/base64"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/internal/tlsconf/tlstest"
)

// TestE2E_TaskImageOverHTTPS: with --tls-cert the local agent still runs a
// task whose image is in Berth's own registry, now served over HTTPS (the
// Docker engine pulls from 127.0.0.1:<port> with the token of
// GetAuthorizationToken; loopback registries are not verified by Docker).
// The image is pushed with go-containerregistry trusting the CA, and every
// API call is made over HTTPS with the Go SDK.
func TestE2E_TaskImageOverHTTPS(t *testing.T) {
	requireDocker(t)
	t.Parallel()
	bin := buildBerth(t)
	owner := e2eOwner(t)
	ca := tlstest.NewCA(t, "berth test CA")
	p, _ := startBerthTLS(t, bin, ca, "--agent-introspection-addr", testenv.FreeAddr(t), "--agent-metadata-addr", testenv.FreeAddr(t),
		"--agent-owner", owner, "--agent-task-cleanup-wait", e2eCleanupWait.String())
	client := trustingClient(t, ca)
	id, secret := p.key(t)
	cfg, err := awsconfig.LoadDefaultConfig(t.Context(), awsconfig.WithRegion(testenv.Region),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, secret, "")))
	if err != nil {
		t.Fatal(err)
	}
	endpoint := aws.String("https://" + p.api)
	// The client goes into each service's options: AWS_CA_BUNDLE, when
	// set, makes LoadDefaultConfig refuse a custom *http.Client.
	c := ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint, o.HTTPClient = endpoint, client })
	registry := ecr.NewFromConfig(cfg, func(o *ecr.Options) { o.BaseEndpoint, o.HTTPClient = endpoint, client })
	waitInstances(t, c, "default", 1)

	if _, err := registry.CreateRepository(t.Context(), &ecr.CreateRepositoryInput{RepositoryName: aws.String("busybox")}); err != nil {
		t.Fatal(err)
	}
	tok, err := registry.GetAuthorizationToken(t.Context(), &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(tok.AuthorizationData[0].ProxyEndpoint); got != "https://"+p.registry {
		t.Fatalf("proxyEndpoint %q", got)
	}
	raw, _ := base64.StdEncoding.DecodeString(aws.ToString(tok.AuthorizationData[0].AuthorizationToken))
	user, password, _ := strings.Cut(string(raw), ":")
	image := p.registry + "/busybox:tls"
	ref, err := name.ParseReference(image) // https only
	if err != nil {
		t.Fatal(err)
	}
	auth := remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: user, Password: password}))
	if err := remote.Write(ref, busyboxImage(t), auth, remote.WithTransport(client.Transport)); err != nil {
		t.Fatalf("push over HTTPS: %v", err)
	}
	t.Cleanup(func() { removeImage(t, image) })

	reg, err := c.RegisterTaskDefinition(t.Context(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("tls-sleep"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name: aws.String("sleep"), Image: aws.String(image), Memory: aws.Int32(32), StopTimeout: aws.Int32(2),
			Essential: aws.Bool(true), Command: []string{"sleep", "360"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	run, err := c.RunTask(t.Context(), &ecs.RunTaskInput{TaskDefinition: reg.TaskDefinition.TaskDefinitionArn})
	if err != nil || len(run.Tasks) != 1 {
		t.Fatalf("RunTask: %v %+v", err, run)
	}
	arn := aws.ToString(run.Tasks[0].TaskArn)
	waitTask(t, c, arn, 2*time.Minute, status("RUNNING"))
	if _, err := c.StopTask(t.Context(), &ecs.StopTaskInput{Task: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	waitTask(t, c, arn, time.Minute, status("STOPPED"))
	p.stop(t, syscall.SIGTERM)
}
