package control_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
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

// crashURLEnv makes TestOutboxCrashHelper a scheduler process connected to
// that NATS URL, which kills itself (SIGKILL) right after committing a new
// task, before publishing anything.
const crashURLEnv = "BERTH_TEST_OUTBOX_CRASH_NATS"

// crashAckWait is the relay's redelivery delay in these tests: the killed
// process had probably taken the write already.
const crashAckWait = 2 * time.Second

// TestOutboxCrashHelper is not a test: it is the process that
// TestOutbox_CrashBetweenCommitAndPublish starts and kills. Without
// crashURLEnv it returns at once.
func TestOutboxCrashHelper(t *testing.T) {
	url := os.Getenv(crashURLEnv)
	if url == "" {
		return
	}
	control.SetAfterCommit(func(writes []natsutil.KVWrite) {
		for _, w := range writes {
			if strings.HasPrefix(w.Key, "task.") && w.Revision == 0 && !w.AnyRevision {
				// A placement committed: die before announcing it.
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
	})
	nc, err := nats.Connect(url, natstest.As(t, events.ServiceScheduler)...)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Region, cfg.Account, cfg.RelayAckWait = testenv.Region, testenv.Account, crashAckWait
	svc, err := control.New(cfg, nc, js)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestOutbox_CrashBetweenCommitAndPublish runs the scheduler as a real
// process that is killed right after RunTask's placement is committed and
// before its events are published, then starts another replica: the
// task's "ECS Task State Change" (and the instance's change) appear in the
// EVENTS stream, exactly once each.
//
//   - relay: nothing touches the task again; the new replica's relay takes
//     the committed write and publishes its events.
//   - carry: the agent runs the task, so the new replica records PENDING
//     and RUNNING (replacing the committed write) before its relay would
//     look (a grace of a minute): the write that replaced the PROVISIONING
//     record carries its event.
func TestOutbox_CrashBetweenCommitAndPublish(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hold  bool
		grace time.Duration
	}{
		{name: "relay", hold: true, grace: 10 * time.Millisecond},
		{name: "carry", hold: false, grace: time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := testenv.New(t)
			startTaskDefs(t, env)
			proc := startCrashingScheduler(t, env)
			e := &schedEnv{Env: env, ecs: env.ECS(), cfg: testConfig()}
			e.cluster(t, "crash")
			e.agent(t, simagent.Config{Cluster: "crash", CPU: 4096, Memory: 4096, Hold: tc.hold, RunTime: time.Hour})
			td := e.taskDef(t, "crash", 128, 128)

			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			var out ecsapi.RunTaskResponse
			err := natsutil.Call(ctx, env.NC, events.SubjAPI(events.APIECS, "RunTask"),
				ecsapi.RunTaskRequest{Cluster: "crash", TaskDefinition: td, Count: awsjson.Int32(1)}, &out)
			cancel()
			if err == nil {
				t.Fatalf("RunTask answered %+v: the process should have died", out)
			}
			waitKilled(t, proc)

			task := onlyTask(t, env, "crash")
			taskSubj := events.SubjECSEvent("crash", events.KindTask, task.ID)
			first := events.ECSEventMsgID(task.ARN, 1)
			if ids := storedIDs(t, env.JS, taskSubj); len(ids) != 0 {
				t.Fatalf("events before the restart: %v (the process should have died before publishing)", ids)
			}

			cfg := testConfig()
			cfg.RelayGrace, cfg.RelayAckWait = tc.grace, crashAckWait
			startReplica(t, env, cfg)
			if !tc.hold {
				e.waitTask(t, "crash", task.ARN, events.TaskRunning)
			}
			natstest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
				if ids := storedIDs(t, env.JS, taskSubj); !contains(ids, first) {
					return fmt.Errorf("task events %v, waiting for %s", ids, first)
				}
				return nil
			})
			if tc.hold {
				waitRelayIdle(t, env.JS)
			}
			ids := storedIDs(t, env.JS, taskSubj)
			if n := count(ids, first); n != 1 {
				t.Fatalf("%s stored %d times: %v", first, n, ids)
			}
			if dup := duplicates(ids); len(dup) > 0 {
				t.Fatalf("events stored twice: %v", dup)
			}
			inst := onlyInstance(t, env, "crash")
			instIDs := storedIDs(t, env.JS, events.SubjECSEvent("crash", events.KindContainerInstance, inst.ID))
			if dup := duplicates(instIDs); len(dup) > 0 {
				t.Fatalf("instance events stored twice: %v", dup)
			}
			if tc.hold && count(instIDs, events.ECSEventMsgID(inst.ARN, inst.Version)) != 1 {
				t.Fatalf("instance events %v: want version %d once", instIDs, inst.Version)
			}
		})
	}
}

// startCrashingScheduler runs this test binary as a scheduler process that
// dies after its first placement commit.
func startCrashingScheduler(t *testing.T, env *testenv.Env) *exec.Cmd {
	t.Helper()
	var logs testenv.SafeBuffer
	cmd := exec.Command(os.Args[0], "-test.run=^TestOutboxCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashURLEnv+"="+env.Server.ClientURL())
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("scheduler process output:\n%s", logs.String())
		}
	})
	env.WaitFor(t, events.ServiceScheduler)
	return cmd
}

// waitKilled waits for the process to end and checks it killed itself.
func waitKilled(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the scheduler process did not die")
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the scheduler process ended with %v, want SIGKILL at the commit", cmd.ProcessState)
	}
}

func onlyTask(t *testing.T, env *testenv.Env, cluster string) *events.TaskRecord {
	t.Helper()
	recs := stateRecords[events.TaskRecord](t, env, events.TaskFilter(cluster))
	if len(recs) != 1 {
		t.Fatalf("%d task records, want the one committed", len(recs))
	}
	return recs[0]
}

func onlyInstance(t *testing.T, env *testenv.Env, cluster string) *events.InstanceRecord {
	t.Helper()
	recs := stateRecords[events.InstanceRecord](t, env, "inst."+events.Token(cluster)+".*")
	if len(recs) != 1 {
		t.Fatalf("%d instance records, want 1", len(recs))
	}
	return recs[0]
}

func stateRecords[T any](t *testing.T, env *testenv.Env, filter string) []*T {
	t.Helper()
	kv, err := env.JS.KeyValue(t.Context(), events.BucketECSState.Name)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv.Watch(t.Context(), filter, jetstream.IgnoreDeletes())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	var out []*T
	for e := range w.Updates() {
		if e == nil {
			break
		}
		v := new(T)
		if err := json.Unmarshal(e.Value(), v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

// storedIDs returns the Nats-Msg-Id of every event stored on subject.
func storedIDs(t *testing.T, js jetstream.JetStream, subject string) []string {
	t.Helper()
	st, err := js.Stream(t.Context(), events.StreamEvents.Name)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for seq := uint64(1); ; {
		m, err := st.GetMsg(t.Context(), seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return ids
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.Header.Get(jetstream.MsgIDHeader))
		seq = m.Sequence + 1
	}
}

// waitRelayIdle waits until the state relay has acknowledged every write.
func waitRelayIdle(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	natstest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		c, err := js.Consumer(t.Context(), "KV_"+events.BucketECSState.Name, "outbox")
		if err != nil {
			return err
		}
		info, err := c.Info(t.Context())
		if err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return fmt.Errorf("relay: %d pending, %d unacknowledged", info.NumPending, info.NumAckPending)
		}
		return nil
	})
}

func count(ids []string, id string) int {
	n := 0
	for _, x := range ids {
		if x == id {
			n++
		}
	}
	return n
}

func duplicates(ids []string) []string {
	seen := map[string]bool{}
	var dup []string
	for _, id := range ids {
		if seen[id] {
			dup = append(dup, id)
		}
		seen[id] = true
	}
	return dup
}
