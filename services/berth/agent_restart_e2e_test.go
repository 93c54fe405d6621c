package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/services/agent/docker"
)

// agentBin is a standalone agent binary (services/agent).
type agentBin struct {
	path string
}

// buildAgent builds services/agent into a temporary folder.
func buildAgent(t testing.TB) agentBin {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "agent")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/berth-project/berth/services/agent").CombinedOutput(); err != nil {
		t.Fatalf("go build agent: %v\n%s", err, out)
	}
	return agentBin{path: bin}
}

// agentProc is a running standalone agent.
type agentProc struct {
	cmd   *exec.Cmd
	logs  *testenv.SafeBuffer
	intro string // introspection address
}

// start runs the agent against p's embedded NATS server with owner label
// owner and data folder data. Its task cleanup delay is long, so stopped
// containers stay around to be counted.
func (b agentBin) start(t testing.TB, p *berthProc, data, owner string, env ...string) *agentProc {
	t.Helper()
	intro := testenv.FreeAddr(t)
	cmd := exec.Command(b.path)
	cmd.Env = append(os.Environ(),
		"DOCKER_HOST=",
		"BERTH_NATS_URL=nats://"+p.nats,
		"BERTH_REGION="+testenv.Region,
		"BERTH_ACCOUNT="+testenv.Account,
		"BERTH_LOG_LEVEL=debug",
		"ECS_CLUSTER=default",
		"ECS_DATADIR="+data,
		"BERTH_AGENT_OWNER="+owner,
		"BERTH_AGENT_INTROSPECTION_ADDR="+intro,
		"BERTH_AGENT_METADATA_ADDR=127.0.0.1:0",
		"BERTH_AGENT_METADATA_BRIDGE=false",
		"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=1h",
		"ECS_DISABLE_IMAGE_CLEANUP=true",
		// The agent joins with the all-in-one's join token.
		"BERTH_JOIN_TOKEN_FILE="+filepath.Join(p.data, "secrets", "join-token"),
	)
	cmd.Env = append(cmd.Env, env...)
	logs := &testenv.SafeBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &agentProc{cmd: cmd, logs: logs, intro: intro}
	t.Cleanup(func() {
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
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	})
	return a
}

// kill sends SIGKILL and checks the agent died of it.
func (a *agentProc) kill(t testing.TB) {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := a.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("agent did not die of SIGKILL: %v", err)
	}
}

// introTasks reads the agent's introspection API: task ARN → known status
// and Docker ids.
func (a *agentProc) introTasks() (map[string]introTask, error) {
	resp, err := http.Get("http://" + a.intro + "/v1/tasks")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("introspection: %s", resp.Status)
	}
	var out struct {
		Tasks []introTask `json:"Tasks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	m := map[string]introTask{}
	for _, t := range out.Tasks {
		m[t.Arn] = t
	}
	return m, nil
}

type introTask struct {
	Arn           string `json:"Arn"`
	DesiredStatus string `json:"DesiredStatus"`
	KnownStatus   string `json:"KnownStatus"`
	Containers    []struct {
		DockerID string `json:"DockerId"`
	} `json:"Containers"`
}

// ownedContainers lists (docker ps -a) the containers with owner's label:
// task ARN → container ids, and the set of running ids.
func ownedContainers(t testing.TB, owner string) (byTask map[string][]string, running map[string]bool) {
	t.Helper()
	byTask, running = map[string][]string{}, map[string]bool{}
	out := dockerCmd(t, "ps", "-a", "--no-trunc", "--filter", "label="+docker.LabelManaged+"="+owner,
		"--format", `{{.ID}} {{.State}} {{.Label "`+docker.LabelTaskARN+`"}}`)
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		byTask[f[2]] = append(byTask[f[2]], f[0])
		if f[1] == "running" {
			running[f[0]] = true
		}
	}
	return byTask, running
}

func instanceArns(t testing.TB, c *ecs.Client) []string {
	t.Helper()
	out, err := c.ListContainerInstances(context.Background(), &ecs.ListContainerInstancesInput{Cluster: aws.String("default")})
	if err != nil {
		t.Fatal(err)
	}
	return out.ContainerInstanceArns
}

// TestE2E_AgentKillNineAndRestart: Berth runs without its local agent; a
// standalone agent binary joins it over the embedded NATS server and runs 5
// tasks. The agent is killed with SIGKILL, one task is stopped with StopTask
// while it is down, and the agent is started again on the same data folder.
// The 4 other tasks stay RUNNING on the same containers (adopted, none
// duplicated, the same container instance), and the stopped task's container
// is stopped once the agent is back.
func TestE2E_AgentKillNineAndRestart(t *testing.T) {
	requireDocker(t)
	t.Parallel()
	bin, ab := buildBerth(t), buildAgent(t)
	owner := e2eOwner(t)
	p := startBerth(t, bin, t.TempDir())
	c := p.ecs(t)
	image := p.pushBusybox(t, "busybox", "restart")
	agentData := t.TempDir()

	a1 := ab.start(t, p, agentData, owner)
	waitInstances(t, c, "default", 1)
	instance := instanceArns(t, c)[0]

	td := p.registerTaskDef(t, taskDef("restart", ctrDef("app", image, "sleep", "360")))
	arns := p.runTasks(t, td, 5)
	ids := map[string]string{} // task ARN → runtimeId
	for _, arn := range arns {
		task := waitTask(t, c, arn, time.Minute, status("RUNNING"))
		id := aws.ToString(container(t, task, "app").RuntimeId)
		if id == "" || aws.ToString(task.ContainerInstanceArn) != instance {
			t.Fatalf("task %s: runtimeId %q on %s", arn, id, aws.ToString(task.ContainerInstanceArn))
		}
		ids[arn] = id
	}
	byTask, running := ownedContainers(t, owner)
	if len(byTask) != 5 || len(running) != 5 {
		t.Fatalf("before the kill: containers %v, running %v", byTask, running)
	}

	a1.kill(t)
	victim := arns[2]
	if _, err := c.StopTask(context.Background(), &ecs.StopTaskInput{Task: aws.String(victim), Reason: aws.String("stopped while the agent was down")}); err != nil {
		t.Fatal(err)
	}
	// Nobody is there to stop the container: it still runs and the task
	// is not STOPPED yet.
	if task, err := describe(c, victim); err != nil || aws.ToString(task.DesiredStatus) != "STOPPED" || aws.ToString(task.LastStatus) == "STOPPED" {
		t.Fatalf("victim while the agent is down: %v/%v (%v)", aws.ToString(task.DesiredStatus), aws.ToString(task.LastStatus), err)
	}
	if !inspect(t, ids[victim]).State.Running {
		t.Fatal("the victim's container stopped without an agent")
	}

	a2 := ab.start(t, p, agentData, owner)
	task := waitTask(t, c, victim, 2*time.Minute, status("STOPPED"))
	if aws.ToString(container(t, task, "app").RuntimeId) != ids[victim] || task.StopCode != ecstypes.TaskStopCodeUserInitiated {
		t.Fatalf("victim: stopCode %s, runtimeId %s (was %s)", task.StopCode, aws.ToString(container(t, task, "app").RuntimeId), ids[victim])
	}
	if in := inspect(t, ids[victim]); in.State.Running {
		t.Fatalf("victim's container still %s after the agent came back", in.State.Status)
	}

	// The restarted agent adopted the others: it knows them RUNNING, on the
	// same containers.
	natstest.Eventually(t, time.Minute, 100*time.Millisecond, func() error {
		known, err := a2.introTasks()
		if err != nil {
			return err
		}
		for _, arn := range arns {
			it, ok := known[arn]
			if arn == victim {
				if ok && it.KnownStatus != "STOPPED" {
					return fmt.Errorf("agent: victim %s", it.KnownStatus)
				}
				continue
			}
			if !ok || it.KnownStatus != "RUNNING" || len(it.Containers) != 1 || it.Containers[0].DockerID != ids[arn] {
				return fmt.Errorf("agent: task %s: %+v", arn, it)
			}
		}
		return nil
	})
	for _, arn := range arns {
		if arn == victim {
			continue
		}
		task, err := describe(c, arn)
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(task.LastStatus) != "RUNNING" || aws.ToString(container(t, task, "app").RuntimeId) != ids[arn] {
			t.Errorf("task %s after the restart: %s on %s", arn, aws.ToString(task.LastStatus), aws.ToString(container(t, task, "app").RuntimeId))
		}
	}
	// Still 5 containers, one per task, the same ones; 4 of them run.
	byTask, running = ownedContainers(t, owner)
	if len(byTask) != 5 || len(running) != 4 || running[ids[victim]] {
		t.Fatalf("after the restart: containers %v, running %v", byTask, running)
	}
	for _, arn := range arns {
		if !slices.Equal(byTask[arn], []string{ids[arn]}) {
			t.Errorf("task %s: containers %v, want [%s]", arn, byTask[arn], ids[arn])
		}
	}
	// The same container instance, not a second one.
	if got := instanceArns(t, c); !slices.Equal(got, []string{instance}) {
		t.Fatalf("container instances %v, want [%s]", got, instance)
	}

	// The restarted agent controls the adopted containers.
	p.aws(t, "ecs", "stop-task", "--task", arns[0])
	waitTask(t, c, arns[0], time.Minute, status("STOPPED"))
	if inspect(t, ids[arns[0]]).State.Running {
		t.Fatal("adopted container still running after StopTask")
	}
}

// TestE2E_AgentWrongJoinToken: a standalone agent with a wrong join token
// is refused and registers nothing; with the token it joins.
func TestE2E_AgentWrongJoinToken(t *testing.T) {
	requireDocker(t)
	t.Parallel()
	bin, ag := buildBerth(t), buildAgent(t)
	p := startBerth(t, bin, t.TempDir())
	owner := e2eOwner(t)
	bad := ag.start(t, p, t.TempDir(), owner, "BERTH_JOIN_TOKEN_FILE=", "BERTH_JOIN_TOKEN=not-the-token")
	natstest.Eventually(t, 60*time.Second, 200*time.Millisecond, func() error {
		if strings.Count(bad.logs.String(), "cannot join yet") < 2 {
			return fmt.Errorf("no refusal yet:\n%s", bad.logs.String())
		}
		return nil
	})
	if res := p.cli.Run(t, "", "ecs", "list-container-instances", "--cluster", "default"); res.Exit == 0 && strings.Contains(res.Stdout, "container-instance/") {
		t.Fatalf("an agent with a wrong join token registered: %s", res.Stdout)
	}
	if strings.Contains(bad.logs.String(), "agent registered") {
		t.Fatal("the agent says it registered")
	}
	good := ag.start(t, p, t.TempDir(), owner+"-ok")
	natstest.Eventually(t, 60*time.Second, 200*time.Millisecond, func() error {
		if !strings.Contains(good.logs.String(), "agent registered") {
			return fmt.Errorf("not registered:\n%s", good.logs.String())
		}
		return nil
	})
	res := p.cli.Run(t, "", "ecs", "list-container-instances", "--cluster", "default")
	if res.Exit != 0 || strings.Count(res.Stdout, "container-instance/") != 1 {
		t.Fatalf("list-container-instances: exit %d\n%s%s", res.Exit, res.Stdout, res.Stderr)
	}
}
