package control_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/internal/simagent"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/services/scheduler/control"
)

// errorCounter is a slog handler that counts error records, so a test can
// require that no replica ever found an instance that does not hold a task
// it placed (the trace a double placement would leave).
type errorCounter struct {
	n atomic.Int64
}

func (h *errorCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (h *errorCounter) Handle(_ context.Context, r slog.Record) error {
	h.n.Add(1)
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		msg += " " + a.String()
		return true
	})
	fmt.Println("replica error:", msg)
	return nil
}
func (h *errorCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *errorCounter) WithGroup(string) slog.Handler      { return h }

// killableReplica starts a scheduler replica on its own connection that
// the test can kill abruptly: its connection is closed under it while
// calls are in flight, then its Run is cancelled.
func killableReplica(t testing.TB, env *testenv.Env, cfg control.Config) (kill func()) {
	t.Helper()
	nc := natstest.Connect(t, env.Server)
	js, err := jetstream.New(nc)
	must(t, err)
	cfg.Region, cfg.Account = testenv.Region, testenv.Account
	svc, err := control.New(cfg, nc, js)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = svc.Run(ctx) // it dies with an error: its connection is gone
	}()
	select {
	case <-svc.Ready():
	case <-time.After(15 * time.Second):
		t.Fatal("killable replica not ready")
	}
	var once sync.Once
	kill = func() {
		once.Do(func() {
			nc.Close()
			cancel()
			<-done
		})
	}
	t.Cleanup(kill)
	return kill
}

// loadRun is the outcome of many concurrent RunTask calls.
type loadRun struct {
	mu       sync.Mutex
	accepted map[string]string   // task ARN -> client token
	byToken  map[string]int      // client token -> tasks its answer listed
	attempts map[string][]string // client token -> what each attempt got
	calls    atomic.Int64
	retries  atomic.Int64
}

// runLoad sends clients×perClient RunTask calls of count 10 straight over
// NATS, each with its own clientToken, retrying a call with the same token
// until it gets an answer.
func runLoad(t testing.TB, nc *nats.Conn, cluster string, tds []string, clients, perClient int, onCall func(calls int64)) *loadRun {
	t.Helper()
	lr := &loadRun{accepted: map[string]string{}, byToken: map[string]int{}, attempts: map[string][]string{}}
	strategies := [][]ecsapi.PlacementStrategy{
		{{Type: "binpack", Field: "memory"}},
		{{Type: "spread", Field: "instanceId"}},
		{{Type: "random"}},
		{{Type: "spread", Field: "attribute:ecs.availability-zone"}, {Type: "binpack", Field: "cpu"}},
	}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				token := fmt.Sprintf("c%d-%d", c, i)
				req := ecsapi.RunTaskRequest{
					Cluster: cluster, TaskDefinition: tds[(c+i)%len(tds)], Count: awsjson.Int32(10),
					ClientToken: token, PlacementStrategy: strategies[(c+i)%len(strategies)],
				}
				if i%5 == 0 {
					req.Group = fmt.Sprintf("distinct-%d", c)
					req.PlacementConstraints = []ecsapi.PlacementConstraint{{Type: "distinctInstance"}}
				}
				var out ecsapi.RunTaskResponse
				for attempt := 0; ; attempt++ {
					if n := lr.calls.Add(1); onCall != nil {
						onCall(n)
					}
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					err := natsutil.Call(ctx, nc, events.SubjAPI(events.APIECS, "RunTask"), req, &out)
					cancel()
					lr.mu.Lock()
					if err != nil {
						lr.attempts[token] = append(lr.attempts[token], err.Error())
					} else {
						lr.attempts[token] = append(lr.attempts[token], fmt.Sprintf("%d tasks", len(out.Tasks)))
					}
					lr.mu.Unlock()
					if err == nil {
						break
					}
					if attempt > 50 {
						t.Errorf("RunTask %s: giving up: %v", token, err)
						return
					}
					lr.retries.Add(1)
					time.Sleep(time.Duration(50+rand.IntN(100)) * time.Millisecond)
				}
				lr.mu.Lock()
				lr.byToken[token] = len(out.Tasks)
				for _, tk := range out.Tasks {
					lr.accepted[tk.TaskArn] = token
				}
				lr.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return lr
}

// checkLoad verifies the end state of a load run: every accepted task
// exists exactly once and belongs to the call that reported it, no call
// created more tasks than its answer listed, no instance is or ever was
// over its CPU, memory or ports, and the instance records agree with the
// tasks.
func checkLoad(t testing.TB, e *schedEnv, cluster string, lr *loadRun, fleet *simagent.Fleet, errs *errorCounter) {
	t.Helper()
	// Let the agents finish their tasks and the reports drain.
	natstest.Eventually(t, 2*time.Minute, 200*time.Millisecond, func() error {
		insts, tasks := records(t, e.JS, cluster)
		live := 0
		for _, tk := range tasks {
			if tk.Holding {
				live++
			}
		}
		held := 0
		for _, r := range insts {
			held += r.Tasks
		}
		if live != 0 || held != 0 {
			byStatus := map[string]int{}
			for _, tk := range tasks {
				if tk.Holding {
					byStatus[tk.LastStatus]++
				}
			}
			diag := ""
			if ci, err := e.JS.Consumer(context.Background(), events.StreamAgentReports.Name, "scheduler"); err == nil {
				if info, err := ci.Info(context.Background()); err == nil {
					diag = fmt.Sprintf("reports pending %d, ack pending %d, redelivered %d", info.NumPending, info.NumAckPending, info.NumRedelivered)
				}
			}
			return errorf("%d tasks still hold resources (%v), instances count %d; fleet runs %d; %s", live, byStatus, held, fleet.Running(), diag)
		}
		return nil
	})
	insts, tasks := records(t, e.JS, cluster)
	checkAccounting(t, insts, tasks)
	perToken := map[string]int{}
	for id, tk := range tasks {
		token, ok := lr.accepted[tk.ARN]
		if !ok {
			t.Fatalf("task %s (token %q) exists but no answer listed it; the calls got %q", id, tk.ClientToken, lr.attempts[tk.ClientToken])
		}
		if tk.ClientToken != token {
			t.Fatalf("task %s has token %q, answered to %q", id, tk.ClientToken, token)
		}
		if tk.LastStatus != events.TaskStopped {
			t.Fatalf("task %s is %s", id, tk.LastStatus)
		}
		perToken[token]++
	}
	if len(tasks) != len(lr.accepted) {
		t.Fatalf("%d accepted tasks, %d exist", len(lr.accepted), len(tasks))
	}
	for token, n := range lr.byToken {
		if perToken[token] != n {
			t.Fatalf("call %s: answer listed %d tasks, %d exist", token, n, perToken[token])
		}
	}
	for _, a := range fleet.Agents() {
		cpu, mem, conflicts := a.Peak()
		ci := a.Registered()
		if cpu > int64(*ci.RegisteredResources[0].IntegerValue) || mem > int64(*ci.RegisteredResources[1].IntegerValue) || conflicts != 0 {
			t.Fatalf("instance %s ran %d CPU / %d MiB at once (%d port conflicts), registered %d / %d",
				a.InstanceID(), cpu, mem, conflicts, *ci.RegisteredResources[0].IntegerValue, *ci.RegisteredResources[1].IntegerValue)
		}
	}
	if n := errs.n.Load(); n != 0 {
		t.Fatalf("replicas logged %d errors", n)
	}
	t.Logf("%d calls (%d retries), %d tasks accepted of %d requested", lr.calls.Load(), lr.retries.Load(), len(lr.accepted), 10*len(lr.byToken))
}

// concurrencySetup is three replicas (a fourth, killable, when asked),
// fifty simulated instances in three zones and two task definitions, one
// with a static host port.
func concurrencySetup(t *testing.T, killable bool) (*schedEnv, *simagent.Fleet, []string, *errorCounter, func()) {
	errs := &errorCounter{}
	cfg := testConfig()
	cfg.Log = slog.New(errs)
	e := startSched(t, 2, cfg)
	kill := func() {}
	if killable {
		// The killed replica's own errors (its connection is gone) are
		// expected; only the survivors' count.
		kcfg := cfg
		kcfg.Log = nil
		kill = killableReplica(t, e.Env, kcfg)
	} else {
		startReplica(t, e.Env, cfg)
	}
	e.cluster(t, "load")
	fleet := e.fleet(t, simagent.FleetConfig{
		Count:    50,
		Template: simagent.Config{Cluster: "load", CPU: 2048, Memory: 4096, PullTime: 20 * time.Millisecond, RunTime: 150 * time.Millisecond},
		Configure: func(n int, c *simagent.Config) {
			c.AvailabilityZone = []string{"us-east-1a", "us-east-1b", "us-east-1c"}[n%3]
		},
	})
	tds := []string{e.taskDef(t, "small", 64, 128), e.taskDef(t, "medium", 128, 256, [2]int32{80, 0}), e.taskDef(t, "static", 32, 64, [2]int32{80, 8080})}
	return e, fleet, tds, errs, kill
}

// TestConcurrency_ReplicasNeverOversubscribe: three replicas, fifty
// instances, 2,000 tasks requested by twenty concurrent clients.
func TestConcurrency_ReplicasNeverOversubscribe(t *testing.T) {
	e, fleet, tds, errs, _ := concurrencySetup(t, false)
	lr := runLoad(t, natstest.Connect(t, e.Server), "load", tds, 20, 10, nil)
	checkLoad(t, e, "load", lr, fleet, errs)
}

// TestConcurrency_ReplicaKilled kills one of three replicas (its
// connection closed under it) while clients are calling: calls retried
// with their clientToken lose nothing and place nothing twice.
func TestConcurrency_ReplicaKilled(t *testing.T) {
	e, fleet, tds, errs, kill := concurrencySetup(t, true)
	nc := natstest.Connect(t, e.Server)
	// Kill it a third of the way through, with calls in flight everywhere.
	lr := runLoad(t, nc, "load", tds, 20, 10, func(calls int64) {
		if calls == 70 {
			go kill()
		}
	})
	checkLoad(t, e, "load", lr, fleet, errs)
	if lr.retries.Load() == 0 {
		t.Log("note: no call had to be retried")
	}
}
