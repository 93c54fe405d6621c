package control_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

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

// replicaProc is a scheduler replica running as its own process (the
// services/scheduler binary), so the test can kill -9 it: its connection
// drops with whatever it had in flight.
type replicaProc struct {
	cmd    *exec.Cmd
	logs   *testenv.SafeBuffer
	env    *testenv.Env
	exited chan struct{} // closed once the process is gone
	// cids are the process's own NATS connections: those named after the
	// service that appeared while it started (the test starts replicas
	// one at a time).
	cids []uint64
	// killedAt is when SIGKILL was sent (zero before).
	killedAt atomic.Pointer[time.Time]
}

// buildScheduler builds the services/scheduler binary into a temporary
// folder.
func buildScheduler(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "scheduler")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/berth-project/berth/services/scheduler").CombinedOutput()
	if err != nil {
		t.Fatalf("go build services/scheduler: %v\n%s", err, out)
	}
	return bin
}

// startProcReplica starts the scheduler binary against the test's NATS
// server, with the test timings, and waits until it serves.
func startProcReplica(t testing.TB, env *testenv.Env, bin string) *replicaProc {
	t.Helper()
	cfg := testConfig()
	cmd := exec.Command(bin, "--nats-url", env.Server.ClientURL(), "--nats-creds", natstest.ContextFile(t, env.Server.ClientURL(), events.ServiceScheduler), "--region", testenv.Region, "--account", testenv.Account,
		"--heartbeat-timeout", cfg.HeartbeatTimeout.String(), "--janitor-interval", cfg.JanitorInterval.String(),
		"--report-ack-wait", cfg.ReportAckWait.String())
	// The process dies with the test binary, even when a timeout kills it
	// before its cleanup runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &replicaProc{cmd: cmd, logs: &testenv.SafeBuffer{}, env: env, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	before, err := schedulerConns(env)
	must(t, err)
	must(t, cmd.Start())
	exited := p.exited
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	natstest.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		select {
		case <-exited:
			t.Fatalf("scheduler process exited:\n%s", p.logs.String())
		default:
		}
		if !strings.Contains(p.logs.String(), `"msg":"serving"`) {
			return errors.New("scheduler process not serving yet")
		}
		return nil
	})
	after, err := schedulerConns(env)
	must(t, err)
	for cid := range after {
		if !before[cid] {
			p.cids = append(p.cids, cid)
		}
	}
	if len(p.cids) == 0 {
		t.Fatal("the scheduler process serves but the server shows no new connection of it")
	}
	return p
}

// schedulerConns is the set of open connections named after the scheduler.
func schedulerConns(env *testenv.Env) (map[uint64]bool, error) {
	cz, err := env.Server.Connz(&server.ConnzOptions{Limit: 1 << 16})
	if err != nil {
		return nil, err
	}
	cids := map[uint64]bool{}
	for _, c := range cz.Conns {
		if c.Name == events.ServiceScheduler {
			cids[c.Cid] = true
		}
	}
	return cids, nil
}

// requests is how many RunTask requests the NATS server has delivered to
// the process's own connections.
func (p *replicaProc) requests() (int64, error) {
	subject := events.SubjAPI(events.APIECS, "RunTask")
	var n int64
	for _, cid := range p.cids {
		cz, err := p.env.Server.Connz(&server.ConnzOptions{CID: cid, SubscriptionsDetail: true})
		if err != nil {
			return 0, err
		}
		for _, c := range cz.Conns {
			for _, sub := range c.SubsDetail {
				if sub.Subject == subject {
					n += sub.Msgs
				}
			}
		}
	}
	return n, nil
}

// killWhenBusy waits until the server hands the process a RunTask request
// (its count grew since the previous look, a millisecond earlier: the
// request is almost surely still in its hands), then sends SIGKILL,
// records when, and makes sure the process died of it. It may run on any
// goroutine.
func (p *replicaProc) killWhenBusy() error {
	last, err := p.requests()
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		time.Sleep(time.Millisecond) // polling the server's counters
		n, err := p.requests()
		if err != nil {
			return err
		}
		if n > last {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the process received no RunTask request in 30 s (%d before)", n)
		}
	}
	now := time.Now()
	p.killedAt.Store(&now)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		return errors.New("the killed scheduler process did not exit")
	}
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return fmt.Errorf("scheduler process ended with %v, not by SIGKILL", p.cmd.ProcessState)
	}
	return nil
}

// loadRun is the outcome of many concurrent RunTask calls.
type loadRun struct {
	mu       sync.Mutex
	accepted map[string]string   // task ARN -> client token
	byToken  map[string]int      // client token -> tasks its answer listed
	attempts map[string][]string // client token -> what each attempt got
	calls    atomic.Int64
	retries  atomic.Int64
	// failed are the spans of the attempts that got no answer.
	failed []span
}

// span is when one RunTask attempt started and ended.
type span struct{ start, end time.Time }

// failedSince counts the attempts that failed after t: with a replica
// killed at t, the calls it held then, and those NATS still routed to it
// before the server noticed it was gone, cost an answer.
func (lr *loadRun) failedSince(t time.Time) int {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	n := 0
	for _, s := range lr.failed {
		if s.end.After(t) {
			n++
		}
	}
	return n
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
					start := time.Now()
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					err := natsutil.Call(ctx, nc, events.SubjAPI(events.APIECS, "RunTask"), req, &out)
					cancel()
					lr.mu.Lock()
					if err != nil {
						lr.failed = append(lr.failed, span{start, time.Now()})
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
	// Let the agents finish their tasks and the reports drain (minutes
	// under -race on a busy machine).
	natstest.Eventually(t, 5*time.Minute, 200*time.Millisecond, func() error {
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

// concurrencySetup is three replicas (when killable, one in the test's
// process and two separate processes the test can kill -9), fifty
// simulated instances in three zones and three task definitions, two with
// host ports.
func concurrencySetup(t *testing.T, killable bool) (*schedEnv, *simagent.Fleet, []string, *errorCounter, []*replicaProc) {
	errs := &errorCounter{}
	cfg := testConfig()
	cfg.Log = slog.New(errs)
	var bin string
	if killable {
		bin = buildScheduler(t)
	}
	var procs []*replicaProc
	var e *schedEnv
	if killable {
		// One in-process replica and two processes, started one at a
		// time (startProcReplica tells a process's connections by that).
		e = startSched(t, 1, cfg)
		procs = append(procs, startProcReplica(t, e.Env, bin), startProcReplica(t, e.Env, bin))
	} else {
		e = startSched(t, 2, cfg)
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
	return e, fleet, tds, errs, procs
}

// TestConcurrency_ReplicasNeverOversubscribe: three replicas, fifty
// instances, 2,000 tasks requested by twenty concurrent clients.
func TestConcurrency_ReplicasNeverOversubscribe(t *testing.T) {
	e, fleet, tds, errs, _ := concurrencySetup(t, false)
	lr := runLoad(t, natstest.Connect(t, e.Server), "load", tds, 20, 10, nil)
	checkLoad(t, e, "load", lr, fleet, errs)
}

// TestConcurrency_LostDigests: the same load with every feed digest lost,
// so each replica learns the others' commits (instances registered,
// tasks placed) only by reading the state stream, up to a second late.
// A stale cache must cost retries, never a release: a STOPPED report
// handled by a replica that had not heard of the task's instance yet
// used to record the task stopped without giving its resources back.
func TestConcurrency_LostDigests(t *testing.T) {
	control.SetLoseDigests(true)
	t.Cleanup(func() { control.SetLoseDigests(false) })
	e, fleet, tds, errs, _ := concurrencySetup(t, false)
	lr := runLoad(t, natstest.Connect(t, e.Server), "load", tds, 20, 10, nil)
	checkLoad(t, e, "load", lr, fleet, errs)
	var reads int64
	for _, r := range e.replicas {
		reads += r.Stats().FeedReads
	}
	if reads == 0 {
		t.Fatal("no replica read a hole in the feed from the stream")
	}
}

// TestConcurrency_ReplicaKilled kills -9 two of three replicas, real
// processes, one after the other, while twenty clients are calling: the
// calls each held get no answer and are retried with their clientToken,
// and nothing is lost or placed twice. Each kill lands the moment the NATS
// server has handed that process a RunTask request. The test fails when
// the kills did not land mid-run with work in flight: at least one call
// must have got no answer after the first kill and been retried.
func TestConcurrency_ReplicaKilled(t *testing.T) {
	e, fleet, tds, errs, procs := concurrencySetup(t, true)
	nc := natstest.Connect(t, e.Server)
	var kills sync.WaitGroup
	var firstErr, secondErr error
	firstDone := make(chan struct{})
	lr := runLoad(t, nc, "load", tds, 20, 10, func(calls int64) {
		switch calls {
		case 60: // a third of the way through
			kills.Go(func() {
				defer close(firstDone)
				firstErr = procs[0].killWhenBusy()
			})
		case 120: // and again, with one replica left
			kills.Go(func() {
				<-firstDone
				secondErr = procs[1].killWhenBusy()
			})
		}
	})
	loadEnded := time.Now()
	kills.Wait()
	must(t, firstErr)
	must(t, secondErr)
	for i, p := range procs {
		if at := p.killedAt.Load(); at == nil || !at.Before(loadEnded) {
			t.Fatalf("process %d was not killed while the load ran", i)
		}
	}
	at := procs[0].killedAt.Load()
	checkLoad(t, e, "load", lr, fleet, errs)
	if n := lr.failedSince(*at); n == 0 || lr.retries.Load() == 0 {
		t.Fatalf("the kills cost no call an answer (%d failed after them, %d retries): they tested nothing", n, lr.retries.Load())
	}
	t.Logf("%d calls got no answer after the kills and were retried", lr.failedSince(*at))
}
