package metrics_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/metrics"
)

// env is NATS, a gateway and one metrics replica.
type env struct {
	*testenv.Env
	cw *cloudwatch.Client
}

func newEnv(t testing.TB, cfg metrics.Config) *env {
	t.Helper()
	e := testenv.New(t)
	startMetrics(t, e, cfg)
	return &env{Env: e, cw: cloudwatch.NewFromConfig(e.AWSConfig(), func(o *cloudwatch.Options) { o.BaseEndpoint = aws.String(e.Endpoint) })}
}

func startMetrics(t testing.TB, e *testenv.Env, cfg metrics.Config) {
	t.Helper()
	cfg.Region, cfg.Account = testenv.Region, testenv.Account
	if cfg.CountsInterval == 0 {
		cfg.CountsInterval = -1
	}
	svc, err := metrics.New(cfg, e.NC, e.JS)
	if err != nil {
		t.Fatal(err)
	}
	e.Go(t, "metrics", svc.Run)
	e.WaitFor(t, events.ServiceMetrics)
}

// cli runs the Debian CLI (query protocol) and decodes its JSON output.
func (e *env) cli(t *testing.T, out any, args ...string) testenv.CLIResult {
	t.Helper()
	// testenv's CLI clears AWS_DEFAULT_REGION (to an empty value, which the
	// query-protocol signer takes as the region): name it.
	res := e.AWS(t, "", append([]string{"--region", testenv.Region, "cloudwatch"}, args...)...)
	if out != nil && res.Exit == 0 {
		if err := json.Unmarshal([]byte(res.Stdout), out); err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, res.Stdout)
		}
	}
	return res
}

func ctx(t *testing.T) context.Context { return t.Context() }
