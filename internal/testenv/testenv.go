package testenv

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/accesskeys"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/services/gateway/gateway"
)

// Region and Account are what every test environment uses.
const (
	Region  = "us-east-1"
	Account = "123456789012"
)

// Env is one running test environment.
type Env struct {
	Server   *server.Server
	NC       *nats.Conn
	JS       jetstream.JetStream
	Key      events.AccessKey
	Endpoint string // http://127.0.0.1:<port>
	AWSDir   string // holds the credentials and config files (profile berth)
	Ctx      context.Context
}

// New starts NATS, the root key and one gateway.
func New(t testing.TB) *Env {
	t.Helper()
	s := natstest.Start(t)
	return NewOn(t, s)
}

// NewOn builds an environment on an existing server.
func NewOn(t testing.TB, s *server.Server) *Env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	nc, js := natstest.JetStream(t, s)
	key, _, err := accesskeys.Bootstrap(ctx, js, 1)
	if err != nil {
		t.Fatalf("testenv: bootstrap key: %v", err)
	}
	e := &Env{Server: s, NC: nc, JS: js, Key: key, Ctx: ctx, AWSDir: t.TempDir()}
	if _, _, err := accesskeys.WriteAWSFiles(e.AWSDir, key, Region); err != nil {
		t.Fatalf("testenv: aws files: %v", err)
	}
	e.Endpoint = e.StartGateway(t)
	return e
}

// StartGateway starts one more gateway replica on its own connection and
// returns its endpoint URL.
func (e *Env) StartGateway(t testing.TB) string {
	t.Helper()
	nc := natstest.Connect(t, e.Server, natstest.As(t, events.ServiceGateway)...)
	js, _ := jetstream.New(nc)
	keys, err := accesskeys.Watch(e.Ctx, js, 1, nil)
	if err != nil {
		t.Fatalf("testenv: key cache: %v", err)
	}
	g, err := gateway.New(gateway.Config{Keys: keys}, nc)
	if err != nil {
		t.Fatalf("testenv: gateway: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: listen: %v", err)
	}
	e.Go(t, "gateway", func(ctx context.Context) error { return g.Serve(ctx, l) })
	return "http://" + l.Addr().String()
}

// Go runs a service until the test ends; the test fails if it returns an
// error before then. At cleanup the service's context is cancelled and Go
// waits for it to return.
func (e *Env) Go(t testing.TB, name string, run func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(e.Ctx)
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("testenv: %s: %v", name, err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("testenv: %s did not stop", name)
		}
	})
}

// WaitFor waits until every named micro service answers its PING.
func (e *Env) WaitFor(t testing.TB, services ...string) {
	t.Helper()
	for _, svc := range services {
		natstest.Eventually(t, 15*time.Second, 20*time.Millisecond, func() error {
			_, err := e.NC.Request("$SRV.PING."+svc, nil, time.Second)
			return err
		})
	}
}

// AWSConfig returns an SDK configuration signed with the root key. Its
// clients do not retry what Berth answers (a throttle or a 5xx fails the
// test), only a call whose connection the client itself closed under it,
// once (see ClientClosedConn).
func (e *Env) AWSConfig() aws.Config {
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(e.Key.AccessKeyID, e.Key.SecretAccessKey, "")),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 2
				o.RateLimiter = ratelimit.None
				o.Retryables = []retry.IsErrorRetryable{retry.IsErrorRetryableFunc(ClientClosedConn)}
			})
		}),
	)
	if err != nil {
		panic(err)
	}
	return cfg
}

// ClientClosedConn is whether err is a read or write on a connection the
// client's own transport had closed (net.ErrClosed, "use of closed network
// connection"), as the SDK's HTTP client sometimes does under a call it
// has already got a status for (aws/aws-sdk-go-v2#2737; the SDK's default
// retryer retries it, aws/aws-sdk-go-v2#2949). One CI run showed it twice,
// on 200 answers of DescribeTasks and ListTaskDefinitions. Nothing the
// server sent causes it, so the test clients retry it (a mutating call
// may then apply twice, as under the SDK's default retryer).
func ClientClosedConn(err error) aws.Ternary {
	return aws.BoolTernary(errors.Is(err, net.ErrClosed))
}

// ECS returns an ECS client for the gateway at endpoint (default: the first).
func (e *Env) ECS(endpoint ...string) *ecs.Client {
	ep := e.Endpoint
	if len(endpoint) > 0 {
		ep = endpoint[0]
	}
	return ecs.NewFromConfig(e.AWSConfig(), func(o *ecs.Options) { o.BaseEndpoint = aws.String(ep) })
}

// ECR returns an ECR client for the gateway.
func (e *Env) ECR() *ecr.Client {
	return ecr.NewFromConfig(e.AWSConfig(), func(o *ecr.Options) { o.BaseEndpoint = aws.String(e.Endpoint) })
}

// CLIResult is the outcome of one aws CLI run.
type CLIResult struct {
	Stdout, Stderr string
	Exit           int
}

// AWS runs the Debian aws CLI (v2) against the gateway with profile berth,
// from dir (for file:// arguments; "" = the current directory).
func (e *Env) AWS(t testing.TB, dir string, args ...string) CLIResult {
	t.Helper()
	return CLI{Endpoint: e.Endpoint, AWSDir: e.AWSDir}.Run(t, dir, args...)
}

// CLI runs the Debian aws CLI against one Berth endpoint with the profile
// berth from the credentials and config files in AWSDir.
type CLI struct {
	Endpoint string
	AWSDir   string
}

// Run runs aws with args from dir and returns its output and exit code.
func (c CLI) Run(t testing.TB, dir string, args ...string) CLIResult {
	t.Helper()
	bin := RequireTool(t, "aws")
	full := append([]string{"--endpoint-url", c.Endpoint, "--profile", "berth", "--output", "json"}, args...)
	cmd := exec.Command(bin, full...)
	cmd.Dir = dir
	// The region comes from the profile: an empty AWS_DEFAULT_REGION would
	// be taken as region "" (and the gateway checks the signed region), so
	// it is removed rather than cleared.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_DEFAULT_REGION=") && !strings.HasPrefix(kv, "AWS_REGION=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env,
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(c.AWSDir, "credentials"),
		"AWS_CONFIG_FILE="+filepath.Join(c.AWSDir, "config"),
		"AWS_PAGER=",
		"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_PROFILE=",
	)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := CLIResult{Stdout: out.String(), Stderr: errb.String()}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		res.Exit = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("testenv: run aws: %v", err)
	}
	return res
}

// Required reports whether missing tools fail tests instead of skipping them.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("BERTH_REQUIRE_DOCKER") == "1"
}

// RequireTool returns the path of a tool the test needs. For "aws" it wants
// the Debian CLI v2 at /usr/bin/aws (a pip-installed v1 may shadow it on
// PATH).
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	candidates := []string{name}
	if name == "aws" {
		candidates = []string{"/usr/bin/aws"}
	}
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if Required() {
		t.Fatalf("testenv: %s is required (CI=true or BERTH_REQUIRE_DOCKER=1) but not installed", name)
	}
	t.Skipf("testenv: %s not installed", name)
	return ""
}
