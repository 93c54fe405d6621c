package control_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/simagent"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/services/scheduler/control"
	"github.com/berth-project/berth/services/taskdefs/taskdefs"
)

// Test timings: agents heartbeat every 100 ms and count as disconnected
// after a second of silence.
const (
	testHeartbeat        = 100 * time.Millisecond
	testHeartbeatTimeout = time.Second
)

// schedEnv is a test environment with the taskdefs service, scheduler
// replicas and simulated agents.
type schedEnv struct {
	*testenv.Env
	ecs *ecs.Client
	cfg control.Config
	// replicas are the in-process scheduler replicas, in start order.
	replicas []*control.Service
}

// testConfig is the scheduler configuration the task tests use.
func testConfig() control.Config {
	return control.Config{HeartbeatTimeout: testHeartbeatTimeout, JanitorInterval: 200 * time.Millisecond, ReportAckWait: 2 * time.Second}
}

// startSched starts NATS, the gateway, the taskdefs service and replicas
// scheduler replicas.
func startSched(t testing.TB, replicas int, cfg control.Config) *schedEnv {
	t.Helper()
	return startSchedOn(t, testenv.New(t), replicas, cfg)
}

// startSchedOn is startSched on an existing environment.
func startSchedOn(t testing.TB, env *testenv.Env, replicas int, cfg control.Config) *schedEnv {
	t.Helper()
	startTaskDefs(t, env)
	e := &schedEnv{Env: env, ecs: env.ECS(), cfg: cfg}
	for range replicas {
		e.replicas = append(e.replicas, startReplica(t, env, cfg))
	}
	return e
}

// startTaskDefs runs the real taskdefs service, which owns the task
// definitions the scheduler reads.
func startTaskDefs(t testing.TB, env *testenv.Env) {
	t.Helper()
	nc := natstest.Connect(t, env.Server)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := taskdefs.New(taskdefs.Config{Region: testenv.Region, Account: testenv.Account}, nc, js)
	if err != nil {
		t.Fatal(err)
	}
	env.Go(t, "taskdefs", svc.Run)
	env.WaitFor(t, events.ServiceTaskDefs)
}

// cluster creates a cluster.
func (e *schedEnv) cluster(t testing.TB, name string) {
	t.Helper()
	if _, err := e.ecs.CreateCluster(context.Background(), &ecs.CreateClusterInput{ClusterName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
}

// taskDef registers a one-container task definition (memory MiB, cpu
// units, port mappings as container:host pairs, host 0 = dynamic) and
// returns its family:revision.
func (e *schedEnv) taskDef(t testing.TB, family string, cpu, memory int32, ports ...[2]int32) string {
	t.Helper()
	cd := types.ContainerDefinition{Name: aws.String("app"), Image: aws.String("nginx:1.27"), Cpu: cpu, Memory: aws.Int32(memory)}
	for _, p := range ports {
		cd.PortMappings = append(cd.PortMappings, types.PortMapping{ContainerPort: aws.Int32(p[0]), HostPort: aws.Int32(p[1])})
	}
	return e.registerTD(t, &ecs.RegisterTaskDefinitionInput{Family: aws.String(family), ContainerDefinitions: []types.ContainerDefinition{cd}})
}

func (e *schedEnv) registerTD(t testing.TB, in *ecs.RegisterTaskDefinitionInput) string {
	t.Helper()
	out, err := e.ecs.RegisterTaskDefinition(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s:%d", aws.ToString(out.TaskDefinition.Family), out.TaskDefinition.Revision)
}

// agent starts a simulated instance that runs until the test ends.
func (e *schedEnv) agent(t testing.TB, cfg simagent.Config) *simagent.Agent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = testHeartbeat
	}
	a, err := simagent.Start(ctx, natstest.Connect(t, e.Server), cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); a.Wait() })
	return a
}

// fleet starts n simulated instances that run until the test ends.
func (e *schedEnv) fleet(t testing.TB, fc simagent.FleetConfig) *simagent.Fleet {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if fc.Template.HeartbeatInterval == 0 {
		fc.Template.HeartbeatInterval = testHeartbeat
	}
	f, err := simagent.StartFleet(ctx, natstest.Connect(t, e.Server), fc)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); f.Wait() })
	return f
}

// describeTask returns one task.
func (e *schedEnv) describeTask(t testing.TB, cluster, task string) types.Task {
	t.Helper()
	out, err := e.ecs.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: []string{task}, Include: []types.TaskField{types.TaskFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Tasks) != 1 {
		t.Fatalf("describe %s: %+v", task, out.Failures)
	}
	return out.Tasks[0]
}

// waitTask waits until a task's lastStatus is status.
func (e *schedEnv) waitTask(t testing.TB, cluster, task, status string) types.Task {
	t.Helper()
	var got types.Task
	natstest.Eventually(t, 15*time.Second, 20*time.Millisecond, func() error {
		got = e.describeTask(t, cluster, task)
		if aws.ToString(got.LastStatus) != status {
			return fmt.Errorf("task %s is %s, want %s", task, aws.ToString(got.LastStatus), status)
		}
		return nil
	})
	return got
}

// describeInstance returns one container instance.
func (e *schedEnv) describeInstance(t testing.TB, cluster, ref string) types.ContainerInstance {
	t.Helper()
	out, err := e.ecs.DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: []string{ref}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ContainerInstances) != 1 {
		t.Fatalf("describe instance %s: %+v", ref, out.Failures)
	}
	return out.ContainerInstances[0]
}

// resource returns an integer resource of a container instance.
func resource(rs []types.Resource, name string) int32 {
	for _, r := range rs {
		if aws.ToString(r.Name) == name {
			return r.IntegerValue
		}
	}
	return -1
}

// ports returns a STRINGSET resource.
func ports(rs []types.Resource, name string) []string {
	for _, r := range rs {
		if aws.ToString(r.Name) == name {
			return r.StringSetValue
		}
	}
	return nil
}

// runTask runs tasks and fails the test on an error.
func (e *schedEnv) runTask(t testing.TB, in *ecs.RunTaskInput) *ecs.RunTaskOutput {
	t.Helper()
	out, err := e.ecs.RunTask(context.Background(), in)
	if err != nil {
		t.Fatalf("run task: %v", err)
	}
	return out
}

// records reads every instance and task record of a cluster straight from
// the bucket.
func records(t testing.TB, js jetstream.JetStream, cluster string) (map[string]events.InstanceRecord, map[string]events.TaskRecord) {
	t.Helper()
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, events.BucketECSState.Name)
	if err != nil {
		t.Fatal(err)
	}
	insts, tasks := map[string]events.InstanceRecord{}, map[string]events.TaskRecord{}
	w, err := kv.WatchFiltered(ctx, []string{events.InstanceFilter(cluster), events.TaskFilter(cluster)}, jetstream.IgnoreDeletes())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	for e := range w.Updates() {
		if e == nil {
			break
		}
		if strings.HasPrefix(e.Key(), "inst.") {
			r, err := control.DecodeInstance(e.Value())
			must(t, err)
			insts[r.ID] = *r
		} else {
			var r events.TaskRecord
			must(t, json.Unmarshal(e.Value(), &r))
			tasks[r.ID] = r
		}
	}
	return insts, tasks
}

// checkAccounting verifies that no instance is over its CPU, memory or
// ports, and that every instance record holds exactly what its unstopped
// tasks hold.
func checkAccounting(t testing.TB, insts map[string]events.InstanceRecord, tasks map[string]events.TaskRecord) {
	t.Helper()
	type sum struct {
		cpu, mem int64
		tcp      []int
		tasks    int
	}
	held := map[string]*sum{}
	for _, r := range insts {
		held[r.ID] = &sum{}
	}
	for _, tk := range tasks {
		if !tk.Holding {
			continue
		}
		s := held[tk.ContainerInstanceID]
		if s == nil {
			t.Fatalf("task %s holds resources on unknown instance %s", tk.ID, tk.ContainerInstanceID)
		}
		s.cpu += tk.Held.CPU
		s.mem += tk.Held.Memory
		for _, p := range tk.Held.TCPPorts {
			if slices.Contains(s.tcp, p) {
				t.Fatalf("port %d held twice on %s", p, tk.ContainerInstanceID)
			}
			s.tcp = append(s.tcp, p)
		}
		s.tasks++
	}
	for id, r := range insts {
		s := held[id]
		if r.RemainingCPU < 0 || r.RemainingMemory < 0 {
			t.Fatalf("instance %s oversubscribed: %d CPU, %d MiB remain", id, r.RemainingCPU, r.RemainingMemory)
		}
		if s.cpu > r.RegisteredCPU || s.mem > r.RegisteredMemory {
			t.Fatalf("instance %s: tasks hold %d CPU / %d MiB of %d / %d", id, s.cpu, s.mem, r.RegisteredCPU, r.RegisteredMemory)
		}
		if r.RegisteredCPU-r.RemainingCPU != s.cpu || r.RegisteredMemory-r.RemainingMemory != s.mem {
			t.Fatalf("instance %s: record holds %d CPU / %d MiB, tasks %d / %d", id, r.RegisteredCPU-r.RemainingCPU, r.RegisteredMemory-r.RemainingMemory, s.cpu, s.mem)
		}
		want := append(slices.Clone(r.RegisteredTCP), s.tcp...)
		slices.Sort(want)
		if !slices.Equal(want, r.ReservedTCP) {
			t.Fatalf("instance %s: reserved ports %v, want %v", id, r.ReservedTCP, want)
		}
		if r.Tasks != s.tasks {
			t.Fatalf("instance %s: counts %d tasks, %d hold resources", id, r.Tasks, s.tasks)
		}
	}
}

// eventLog collects the ECS events published on the EVENTS stream.
type eventLog struct {
	mu  sync.Mutex
	evs []events.Event
	sub *nats.Subscription
}

func collectEvents(t testing.TB, env *testenv.Env, filter string) *eventLog {
	t.Helper()
	l := &eventLog{}
	sub, err := natstest.Connect(t, env.Server).Subscribe(filter, func(m *nats.Msg) {
		var ev events.Event
		if json.Unmarshal(m.Data, &ev) == nil {
			l.mu.Lock()
			l.evs = append(l.evs, ev)
			l.mu.Unlock()
		}
	})
	must(t, err)
	l.sub = sub
	return l
}

func (l *eventLog) all() []events.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.evs)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// isAPIError reports whether err carries an AWS error code.
func isAPIError(err error, code events.Code) bool {
	var ae interface{ ErrorCode() string }
	return errors.As(err, &ae) && ae.ErrorCode() == string(code)
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
