package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/natsauth"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/services/agent/docker"
)

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// agentBinary builds services/agent once per test process.
func agentBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "berth-agent-test-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "agent")
		goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goTool); err != nil {
			goTool = "go"
		}
		out, err := exec.Command(goTool, "build", "-o", binPath, "github.com/berth-project/berth/services/agent").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// agentProc is the agent binary running as a subprocess.
type agentProc struct {
	cmd *exec.Cmd
	log string
}

func (e *env) startProc(dataDir string) *agentProc {
	e.t.Helper()
	bin := agentBinary(e.t)
	logPath := filepath.Join(e.t.TempDir(), "agent.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"BERTH_NATS_URL="+e.srv.ClientURL(),
		"BERTH_NATS_CREDS="+natstest.ContextFile(e.t, e.srv.ClientURL(), natsauth.Admin),
		"BERTH_REGION="+testRegion,
		"BERTH_ACCOUNT="+testAccount,
		"BERTH_LOG_LEVEL=debug",
		"ECS_CLUSTER="+e.cluster,
		"ECS_DATADIR="+dataDir,
		"BERTH_AGENT_OWNER="+e.owner,
		"BERTH_AGENT_INTROSPECTION_ADDR=127.0.0.1:0",
		"BERTH_AGENT_METADATA_ADDR=127.0.0.1:0",
		"ECS_IMAGE_PULL_BEHAVIOR=prefer-cached",
		"ECS_CONTAINER_STOP_TIMEOUT=1s",
		"ECS_DISABLE_IMAGE_CLEANUP=true",
		"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=1h",
		"BERTH_AGENT_HEARTBEAT_INTERVAL=200ms",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	p := &agentProc{cmd: cmd, log: logPath}
	e.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		}
		logFile.Close()
		if e.t.Failed() || os.Getenv("BERTH_TEST_DEBUG") == "1" {
			raw, _ := os.ReadFile(logPath)
			e.t.Logf("agent log %s:\n%s", logPath, raw)
		}
	})
	return p
}

func (p *agentProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("agent did not die of SIGKILL: %v", err)
	}
}

// waitRegistered waits for the n-th registration and returns its container
// instance ARN and instanceId.
func (e *env) waitRegistered(n int) (string, string) {
	e.t.Helper()
	var req ecsapi.RegisterContainerInstanceRequest
	waitFor(e.t, 60*time.Second, func() error {
		e.mu.Lock()
		defer e.mu.Unlock()
		if len(e.registers) < n {
			return fmt.Errorf("%d registrations, want %d", len(e.registers), n)
		}
		req = e.registers[n-1]
		return nil
	})
	var doc struct {
		InstanceID string `json:"instanceId"`
	}
	_ = json.Unmarshal([]byte(req.InstanceIdentityDocument), &doc)
	return events.ContainerInstanceARN(testRegion, testAccount, req.Cluster, instanceIDFor(req)), doc.InstanceID
}

// kill -9 the agent while 5 tasks run, stop one of them while it is down,
// start it again: it keeps its container instance, adopts the 4 running
// containers without duplicates, stops the fifth, and reports keep flowing.
func TestAgent_KillNineAndRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	t.Cleanup(e.checkForwardOnly)
	dataDir := t.TempDir()

	p1 := e.startProc(dataDir)
	instanceArn, firstID := e.waitRegistered(1)
	var tasks []events.TaskAssignment
	for i := range 5 {
		asg := e.task(instanceArn, ecsapi.TaskDefinition{Family: fmt.Sprintf("fam%d", i),
			ContainerDefinitions: []ecsapi.ContainerDefinition{sleeper("app", 0)}})
		e.put(asg)
		tasks = append(tasks, asg)
	}
	before := map[string]events.TaskStateReport{}
	for _, asg := range tasks {
		before[asg.TaskArn] = e.waitStatus(asg.TaskArn, 60*time.Second, "RUNNING")
	}

	p1.kill(t)
	stopped := &tasks[2]
	e.stopTask(stopped)

	e.startProc(dataDir)
	if arn, id := e.waitRegistered(2); arn != instanceArn || id != firstID {
		t.Fatalf("re-registered as %s (%s), was %s (%s)", arn, id, instanceArn, firstID)
	}

	r := e.waitStatus(stopped.TaskArn, 60*time.Second, "STOPPED")
	if r.StopCode != "UserInitiated" || container(r, "app").RuntimeID != container(before[stopped.TaskArn], "app").RuntimeID {
		t.Errorf("stopped task: %s", summary(r))
	}
	for _, asg := range tasks {
		if asg.TaskArn == stopped.TaskArn {
			continue
		}
		prev := before[asg.TaskArn]
		r := e.waitReport(asg.TaskArn, 30*time.Second, "a fresh RUNNING report", func(r events.TaskStateReport) bool {
			return r.Seq > prev.Seq && r.LastStatus == "RUNNING"
		})
		if container(r, "app").RuntimeID != container(prev, "app").RuntimeID {
			t.Errorf("%s: container %s after restart, was %s", asg.TaskArn, container(r, "app").RuntimeID, container(prev, "app").RuntimeID)
		}
	}
	list, err := e.dc.ListContainers(t.Context(), map[string]string{docker.LabelManaged: e.owner})
	if err != nil {
		t.Fatal(err)
	}
	running := 0
	for _, c := range list {
		if c.State == "running" {
			running++
			if c.Labels[docker.LabelTaskARN] == stopped.TaskArn {
				t.Errorf("the stopped task's container still runs")
			}
		}
	}
	if len(list) != 5 || running != 4 {
		t.Errorf("%d containers, %d running; want 5 and 4", len(list), running)
	}

	// Reports still flow.
	e.stopTask(&tasks[0])
	e.waitStatus(tasks[0].TaskArn, 30*time.Second, "STOPPED")
}

// The instance id survives a restart (kept in the data folder), and a
// hand-written identity file is honoured.
func TestAgent_StableInstanceID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	cfg := e.config()
	a1, stop := e.start(cfg)
	id1, arn1 := a1.InstanceID(), a1.ContainerInstanceArn()
	stop()
	a2, stop2 := e.start(cfg)
	if a2.InstanceID() != id1 || a2.ContainerInstanceArn() != arn1 {
		t.Errorf("after restart %s %s, was %s %s", a2.InstanceID(), a2.ContainerInstanceArn(), id1, arn1)
	}
	stop2()
	raw, err := os.ReadFile(filepath.Join(cfg.DataDir, identityFile))
	if err != nil {
		t.Fatal(err)
	}
	var saved identity
	if err := json.Unmarshal(raw, &saved); err != nil || saved.InstanceID != id1 || len(saved.MetadataKey) != 64 {
		t.Errorf("saved identity %s (%v)", raw, err)
	}

	cfg.DataDir = t.TempDir()
	if err := os.WriteFile(filepath.Join(cfg.DataDir, identityFile), []byte(`{"instanceId":"i-handwritten"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	a3, _ := e.start(cfg)
	if a3.InstanceID() != "i-handwritten" {
		t.Errorf("instance id %s, want i-handwritten", a3.InstanceID())
	}
}
