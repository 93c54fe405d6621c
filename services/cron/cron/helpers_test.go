package cron_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/simagent"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/services/cron/cron"
	"github.com/berth-project/berth/services/scheduler/control"
	"github.com/berth-project/berth/services/taskdefs/taskdefs"
)

// testMinute is the length of a rate minute in these tests.
const testMinute = time.Second

// world is a test environment: NATS, a gateway, taskdefs, the scheduler,
// simulated container instances and cron replicas.
type world struct {
	*testenv.Env
	t testing.TB
}

// newWorld starts everything with one cron replica configured by cfg and
// n simulated instances in the default cluster.
func newWorld(t testing.TB, cfg cron.Config, instances int) *world {
	t.Helper()
	w := newBaseWorld(t)
	w.startCron(cfg)
	w.WaitFor(t, "cron")
	for i := range instances {
		w.addAgent(simagent.Config{HostID: fmt.Sprintf("sim-%d", i)})
	}
	return w
}

// newBaseWorld starts NATS, a gateway, taskdefs and the scheduler, and
// creates the default cluster: no cron replica, no instance.
func newBaseWorld(t testing.TB) *world {
	t.Helper()
	env := testenv.New(t)
	w := &world{Env: env, t: t}

	tdNC := natstest.Connect(t, env.Server)
	tdJS, _ := jetstream.New(tdNC)
	td, err := taskdefs.New(taskdefs.Config{Region: testenv.Region, Account: testenv.Account}, tdNC, tdJS)
	if err != nil {
		t.Fatal(err)
	}
	env.Go(t, "taskdefs", td.Run)

	scNC := natstest.Connect(t, env.Server)
	scJS, _ := jetstream.New(scNC)
	sc, err := control.New(control.Config{Region: testenv.Region, Account: testenv.Account}, scNC, scJS)
	if err != nil {
		t.Fatal(err)
	}
	env.Go(t, "scheduler", sc.Run)
	<-sc.Ready()

	env.WaitFor(t, "taskdefs", "scheduler")
	if _, err := env.ECS().CreateCluster(context.Background(), &ecs.CreateClusterInput{ClusterName: aws.String("default")}); err != nil {
		t.Fatal(err)
	}
	return w
}

// addAgent starts one simulated container instance (large, so placement
// never runs out).
func (w *world) addAgent(cfg simagent.Config) {
	w.t.Helper()
	cfg.CPU, cfg.Memory = 1<<20, 1<<20
	ctx, cancel := context.WithCancel(w.Ctx)
	ag, err := simagent.Start(ctx, natstest.Connect(w.t, w.Server), cfg)
	if err != nil {
		cancel()
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { cancel(); ag.Wait() })
}

// startCron runs one more cron replica.
func (w *world) startCron(cfg cron.Config) {
	w.t.Helper()
	nc := natstest.Connect(w.t, w.Server)
	js, _ := jetstream.New(nc)
	cfg.Region, cfg.Account = testenv.Region, testenv.Account
	if cfg.Minute == 0 {
		cfg.Minute = testMinute
	}
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = 50 * time.Millisecond
	}
	svc, err := cron.New(cfg, nc, js)
	if err != nil {
		w.t.Fatal(err)
	}
	w.Go(w.t, "cron", svc.Run)
}

// cli runs the aws CLI and decodes its JSON output; it fails the test on a
// non-zero exit.
func (w *world) cli(args ...string) map[string]any {
	w.t.Helper()
	res := w.AWS(w.t, "", args...)
	if res.Exit != 0 {
		w.t.Fatalf("aws %v: exit %d\n%s", args, res.Exit, res.Stderr)
	}
	out := map[string]any{}
	if strings.TrimSpace(res.Stdout) != "" {
		if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
			w.t.Fatalf("aws %v: %v\n%s", args, err, res.Stdout)
		}
	}
	return out
}

// cliErr runs the aws CLI expecting a service error (exit 254) whose text
// contains want.
func (w *world) cliErr(want string, args ...string) {
	w.t.Helper()
	res := w.AWS(w.t, "", args...)
	if res.Exit != 254 || !strings.Contains(res.Stderr, want) {
		w.t.Fatalf("aws %v: exit %d, stderr %q; want 254 and %q", args, res.Exit, res.Stderr, want)
	}
}

// file writes v as JSON to a temp file and returns file://<path>.
func (w *world) file(v any) string {
	w.t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		w.t.Fatal(err)
	}
	p := filepath.Join(w.t.TempDir(), "in.json")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		w.t.Fatal(err)
	}
	return "file://" + p
}

// registerFamily registers a one-container task definition and returns its
// ARN.
func (w *world) registerFamily(family string) string {
	w.t.Helper()
	out, err := w.ECS().RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name: aws.String("main"), Image: aws.String("busybox"), Memory: aws.Int32(4), Essential: aws.Bool(true),
		}},
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn)
}

// tasks lists the task ARNs of the default cluster started by startedBy
// (running and stopped).
func (w *world) tasks(startedBy string) []string {
	w.t.Helper()
	arns, err := w.listTasks(startedBy)
	if err != nil {
		w.t.Fatal(err)
	}
	return arns
}

// listTasks is tasks returning its error (for polls: a loaded machine may
// drop a connection now and then); startedBy "" lists every task.
func (w *world) listTasks(startedBy string) ([]string, error) {
	var arns []string
	for _, desired := range []ecstypes.DesiredStatus{ecstypes.DesiredStatusRunning, ecstypes.DesiredStatusStopped} {
		in := &ecs.ListTasksInput{DesiredStatus: desired}
		if startedBy != "" {
			in.StartedBy = aws.String(startedBy)
		}
		p := ecs.NewListTasksPaginator(w.ECS(), in)
		for p.HasMorePages() {
			out, err := p.NextPage(context.Background())
			if err != nil {
				return nil, err
			}
			arns = append(arns, out.TaskArns...)
		}
	}
	return arns, nil
}

// waitTasks waits until startedBy has at least n tasks and returns them.
func (w *world) waitTasks(startedBy string, n int, timeout time.Duration) []string {
	w.t.Helper()
	var arns []string
	natstest.Eventually(w.t, timeout, 100*time.Millisecond, func() error {
		var err error
		if arns, err = w.listTasks(startedBy); err != nil {
			return err
		}
		if len(arns) < n {
			return fmt.Errorf("%d tasks started by %s, want %d", len(arns), startedBy, n)
		}
		return nil
	})
	return arns
}

// scheduler returns a Scheduler SDK client for the gateway.
func (w *world) scheduler() *scheduler.Client {
	return scheduler.NewFromConfig(w.AWSConfig(), func(o *scheduler.Options) { o.BaseEndpoint = aws.String(w.Endpoint) })
}

func clusterARN() string {
	return "arn:aws:ecs:" + testenv.Region + ":" + testenv.Account + ":cluster/default"
}

const roleARN = "arn:aws:iam::" + testenv.Account + ":role/scheduler"

func ecsDescribe(arn string) *ecs.DescribeTasksInput {
	return &ecs.DescribeTasksInput{Tasks: []string{arn}}
}

func ecsDesired(s string) ecstypes.DesiredStatus { return ecstypes.DesiredStatus(s) }
