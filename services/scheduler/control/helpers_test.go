package control_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/services/scheduler/control"
)

// start runs a test environment (NATS, gateway) with one replica of the
// control service.
func start(t testing.TB, cfg control.Config) *testenv.Env {
	t.Helper()
	env := testenv.New(t)
	startReplica(t, env, cfg)
	return env
}

// startReplica runs one more replica of the control service on its own
// connection and waits until its endpoints are registered.
func startReplica(t testing.TB, env *testenv.Env, cfg control.Config) *control.Service {
	t.Helper()
	// The scheduler's own identity: its permissions are under test too.
	nc := natstest.Connect(t, env.Server, natstest.As(t, events.ServiceScheduler)...)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Region, cfg.Account = testenv.Region, testenv.Account
	svc, err := control.New(cfg, nc, js)
	if err != nil {
		t.Fatal(err)
	}
	env.Go(t, "scheduler", svc.Run)
	select {
	case <-svc.Ready():
	case <-time.After(15 * time.Second):
		t.Fatal("control service not ready")
	}
	return svc
}

func clusterARN(name string) string {
	return events.ClusterARN(testenv.Region, testenv.Account, name)
}

// wantAPIError fails unless err is an AWS error with code and message.
func wantAPIError(t testing.TB, err error, code events.Code, message string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want %s (%q), got %v", code, message, err)
	}
	if ae.ErrorCode() != string(code) || (message != "" && ae.ErrorMessage() != message) {
		t.Fatalf("want %s %q, got %s %q", code, message, ae.ErrorCode(), ae.ErrorMessage())
	}
}

// wantCode is wantAPIError without a message check.
func wantCode(t testing.TB, err error, code events.Code) { wantAPIError(t, err, code, "") }

// bucketState is every key of the clusters bucket with its revision and
// value: equal states mean nothing was written in between.
func bucketState(t testing.TB, env *testenv.Env) map[string]string {
	t.Helper()
	ctx := context.Background()
	kv, err := env.JS.KeyValue(ctx, events.BucketClusters.Name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return map[string]string{}
	}
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = fmt.Sprintf("rev %d: %s", e.Revision(), e.Value())
	}
	return out
}

// unchanged fails if the bucket differs from before.
func unchanged(t testing.TB, env *testenv.Env, before map[string]string, what string) {
	t.Helper()
	if after := bucketState(t, env); !maps.Equal(before, after) {
		t.Fatalf("%s changed the clusters bucket:\nbefore %v\nafter  %v", what, before, after)
	}
}

// record reads the stored record of a cluster.
func record(t testing.TB, env *testenv.Env, name string) events.ClusterRecord {
	t.Helper()
	kv, err := env.JS.KeyValue(context.Background(), events.BucketClusters.Name)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(context.Background(), events.ClusterKey(name))
	if err != nil {
		t.Fatalf("record %s: %v", name, err)
	}
	var c events.ClusterRecord
	if err := json.Unmarshal(e.Value(), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// cli runs the aws CLI and decodes its JSON output into out (if not nil),
// failing unless it exits 0.
func cli(t testing.TB, env *testenv.Env, out any, args ...string) {
	t.Helper()
	res := env.AWS(t, "", args...)
	if res.Exit != 0 {
		t.Fatalf("aws %s: exit %d: %s", strings.Join(args, " "), res.Exit, res.Stderr)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(res.Stdout), out); err != nil {
			t.Fatalf("aws %s: decode %q: %v", strings.Join(args, " "), res.Stdout, err)
		}
	}
}

// cliFails runs the aws CLI expecting a service error: exit 254 and
// "An error occurred (<code>) ... : <message>" on stderr.
func cliFails(t testing.TB, env *testenv.Env, code events.Code, message string, args ...string) {
	t.Helper()
	res := env.AWS(t, "", args...)
	if res.Exit != 254 {
		t.Fatalf("aws %s: want exit 254, got %d: %s%s", strings.Join(args, " "), res.Exit, res.Stdout, res.Stderr)
	}
	if !strings.Contains(res.Stderr, "("+string(code)+")") || !strings.Contains(res.Stderr, message) {
		t.Fatalf("aws %s: want %s %q, got %s", strings.Join(args, " "), code, message, res.Stderr)
	}
}

// fakeCounts is a settable InstanceCounter, TaskCounter and ServiceCounter.
type fakeCounts struct {
	mu        sync.Mutex
	instances map[string]control.InstanceCounts
	tasks     map[string]control.TaskCounts
	services  map[string]control.ServiceCounts
}

func newFakeCounts() *fakeCounts {
	return &fakeCounts{
		instances: map[string]control.InstanceCounts{},
		tasks:     map[string]control.TaskCounts{},
		services:  map[string]control.ServiceCounts{},
	}
}

func (f *fakeCounts) CountInstances(_ context.Context, c string) (control.InstanceCounts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.instances[c], nil
}

func (f *fakeCounts) CountTasks(_ context.Context, c string) (control.TaskCounts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tasks[c], nil
}

func (f *fakeCounts) CountServices(_ context.Context, c string) (control.ServiceCounts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.services[c], nil
}

func (f *fakeCounts) set(fn func(f *fakeCounts)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeCounts) config() control.Config {
	return control.Config{Instances: f, Tasks: f, Services: f}
}
