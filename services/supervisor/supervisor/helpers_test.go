package supervisor_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/simagent"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/services/scheduler/control"
	"github.com/berth-project/berth/services/supervisor/supervisor"
	"github.com/berth-project/berth/services/taskdefs/taskdefs"
)

// svcEnv is NATS, the gateway, taskdefs, the scheduler and supervisors.
type svcEnv struct {
	*testenv.Env
	ecs *ecs.Client
}

// testConfig is the supervisor configuration of the tests: fast clocks.
func testConfig() supervisor.Config {
	return supervisor.Config{
		HealthyAfter: 300 * time.Millisecond, BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second,
		PlaceRetry: 300 * time.Millisecond, Resync: 3 * time.Second, Tick: 100 * time.Millisecond,
	}
}

func start(t testing.TB, supervisors int) *svcEnv {
	t.Helper()
	env := testenv.New(t)
	e := &svcEnv{Env: env, ecs: env.ECS()}
	e.startTaskDefs(t)
	e.startScheduler(t)
	for range supervisors {
		e.startSupervisor(t, testConfig())
	}
	return e
}

func (e *svcEnv) conn(t testing.TB) jetstream.JetStream {
	t.Helper()
	nc := natstest.Connect(t, e.Server)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func (e *svcEnv) startTaskDefs(t testing.TB) {
	nc := natstest.Connect(t, e.Server)
	js, _ := jetstream.New(nc)
	svc, err := taskdefs.New(taskdefs.Config{Region: testenv.Region, Account: testenv.Account}, nc, js)
	if err != nil {
		t.Fatal(err)
	}
	e.Go(t, "taskdefs", svc.Run)
	e.WaitFor(t, events.ServiceTaskDefs)
}

func (e *svcEnv) startScheduler(t testing.TB) {
	nc := natstest.Connect(t, e.Server)
	js, _ := jetstream.New(nc)
	svc, err := control.New(control.Config{
		Region: testenv.Region, Account: testenv.Account, HeartbeatTimeout: time.Second,
		JanitorInterval: 200 * time.Millisecond, ReportAckWait: 2 * time.Second, Services: control.AskSupervisor(nc),
	}, nc, js)
	if err != nil {
		t.Fatal(err)
	}
	e.Go(t, "scheduler", svc.Run)
	<-svc.Ready()
}

func (e *svcEnv) startSupervisor(t testing.TB, cfg supervisor.Config) {
	nc := natstest.Connect(t, e.Server)
	js, _ := jetstream.New(nc)
	cfg.Region, cfg.Account = testenv.Region, testenv.Account
	svc, err := supervisor.New(cfg, nc, js)
	if err != nil {
		t.Fatal(err)
	}
	e.Go(t, "supervisor", svc.Run)
	select {
	case <-svc.Ready():
	case <-time.After(15 * time.Second):
		t.Fatal("supervisor not ready")
	}
}

func (e *svcEnv) cluster(t testing.TB, name string) {
	t.Helper()
	if _, err := e.ecs.CreateCluster(context.Background(), &ecs.CreateClusterInput{ClusterName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
}

// taskDef registers a one-container task definition and returns family:rev.
func (e *svcEnv) taskDef(t testing.TB, family, image string) string {
	t.Helper()
	out, err := e.ecs.RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String(image), Cpu: 128, Memory: aws.Int32(128),
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s:%d", family, out.TaskDefinition.Revision)
}

// agents starts n simulated instances of cluster.
func (e *svcEnv) agents(t testing.TB, cluster string, n int, mutate func(i int, c *simagent.Config)) []*simagent.Agent {
	t.Helper()
	var out []*simagent.Agent
	for i := range n {
		cfg := simagent.Config{Cluster: cluster, HeartbeatInterval: 100 * time.Millisecond, PullTime: 20 * time.Millisecond}
		if mutate != nil {
			mutate(i, &cfg)
		}
		ctx, cancel := context.WithCancel(context.Background())
		a, err := simagent.Start(ctx, natstest.Connect(t, e.Server), cfg)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		t.Cleanup(func() { cancel(); a.Wait() })
		out = append(out, a)
	}
	return out
}

func (e *svcEnv) describe(t testing.TB, cluster, name string) types.Service {
	t.Helper()
	out, err := e.ecs.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{name}, Include: []types.ServiceField{types.ServiceFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Services) != 1 {
		t.Fatalf("describe %s: %+v", name, out.Failures)
	}
	return out.Services[0]
}

// waitStable waits with the SDK's services-stable waiter.
func (e *svcEnv) waitStable(t testing.TB, cluster string, names ...string) {
	t.Helper()
	w := ecs.NewServicesStableWaiter(e.ecs, func(o *ecs.ServicesStableWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 200*time.Millisecond
	})
	if err := w.Wait(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: names}, 60*time.Second); err != nil {
		for _, n := range names {
			s := e.describe(t, cluster, n)
			t.Logf("%s: running %d desired %d deployments %d events %v", n, s.RunningCount, s.DesiredCount, len(s.Deployments), messages(s))
		}
		t.Fatalf("services-stable: %v", err)
	}
}

// tasks lists a service's tasks (desiredStatus RUNNING) and describes them.
func (e *svcEnv) tasks(t testing.TB, cluster, name string) []types.Task {
	t.Helper()
	ctx := context.Background()
	list, err := e.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(cluster), ServiceName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.TaskArns) == 0 {
		return nil
	}
	out, err := e.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: list.TaskArns})
	if err != nil {
		t.Fatal(err)
	}
	return out.Tasks
}

func messages(s types.Service) []string {
	var out []string
	for _, e := range s.Events {
		out = append(out, aws.ToString(e.Message))
	}
	return out
}

func wantCode(t testing.TB, err error, code events.Code, message string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want %s, got %v", code, err)
	}
	if ae.ErrorCode() != string(code) || (message != "" && ae.ErrorMessage() != message) {
		t.Fatalf("want %s %q, got %s %q", code, message, ae.ErrorCode(), ae.ErrorMessage())
	}
}
