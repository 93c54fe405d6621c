package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"sync"
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

// ctrDef is a container definition for the busybox test image: 32 MiB, a
// 2 s stopTimeout, essential.
func ctrDef(name, image string, command ...string) map[string]any {
	return map[string]any{"name": name, "image": image, "memory": 32, "stopTimeout": 2, "essential": true, "command": command}
}

// taskDef is a task definition document for register-task-definition.
func taskDef(family string, containers ...map[string]any) map[string]any {
	return map[string]any{"family": family, "containerDefinitions": containers}
}

// TestE2E_Tasks is the acceptance of issue 5 ("Agent: tasks as real Docker
// containers") through the real all-in-one binary, its local agent, the
// Docker daemon and the aws CLI. The image is built from the host's busybox
// and pushed to Berth's own registry; every task definition pulls it from
// 127.0.0.1:<registry port>.
func TestE2E_Tasks(t *testing.T) {
	requireDocker(t)
	t.Parallel()
	bin := buildBerth(t)
	owner := e2eOwner(t)
	p := startBerthWithAgent(t, bin, t.TempDir(), owner)
	c := p.ecs(t)
	image := p.pushBusybox(t, "busybox", "e2e")

	// The cases wait on Docker most of the time: they all run at once,
	// whatever -parallel says (t.Run may be called from several
	// goroutines).
	cases := map[string]func(t *testing.T){
		"Sleep360_RunThenStop":     func(t *testing.T) { testSleep360(t, p, c, image, owner) },
		"EssentialContainerExits3": func(t *testing.T) { testEssentialExit(t, p, c, image, owner) },
		"HttpdHostPort0":           func(t *testing.T) { testHttpd(t, p, c, image) },
		"ResourcesAndHealthCheck":  func(t *testing.T) { testResourcesAndHealth(t, p, c, image) },
		"DependsOnSuccess":         func(t *testing.T) { testDependsOnSuccess(t, p, c, image) },
		"UnknownImage":             func(t *testing.T) { testUnknownImage(t, p, c) },
		"DockerStopFromOutside":    func(t *testing.T) { testDockerStop(t, p, c, image) },
		"MovedTagIsPulledAgain":    func(t *testing.T) { testMovedTag(t, p, c) },
	}
	var wg sync.WaitGroup
	for name, fn := range cases {
		wg.Go(func() { t.Run(name, fn) })
	}
	wg.Wait()
	p.stop(t, syscall.SIGTERM)
}

// testSleep360: RunTask -> RUNNING with the Docker container id as
// runtimeId; StopTask -> STOPPED (UserInitiated), the container stopped,
// then removed after the cleanup delay.
func testSleep360(t *testing.T, p *berthProc, c *ecs.Client, image, owner string) {
	td := p.registerTaskDef(t, taskDef("sleep360", ctrDef("sleep", image, "sleep", "360")))
	arn := p.runTasks(t, td, 1)[0]
	waitTask(t, c, arn, time.Minute, status("RUNNING"))

	task := p.describeCLI(t, arn)
	if task["lastStatus"] != "RUNNING" || task["desiredStatus"] != "RUNNING" {
		t.Fatalf("task %v/%v, want RUNNING/RUNNING", task["lastStatus"], task["desiredStatus"])
	}
	ctr := cliContainer(t, task, "sleep")
	runtimeID, _ := ctr["runtimeId"].(string)
	if ctr["lastStatus"] != "RUNNING" || runtimeID == "" {
		t.Fatalf("container: %v", ctr)
	}
	ids := taskContainers(t, arn)
	if len(ids) != 1 || ids[0] != runtimeID {
		t.Fatalf("docker containers of the task %v, runtimeId %s", ids, runtimeID)
	}
	in := inspect(t, runtimeID)
	if !in.State.Running {
		t.Fatalf("container state %s", in.State.Status)
	}
	for k, want := range map[string]string{
		docker.LabelTaskARN: arn, docker.LabelContainerName: "sleep", docker.LabelCluster: "default",
		docker.LabelTaskDefFamily: "sleep360", docker.LabelManaged: owner,
	} {
		if got := in.Config.Labels[k]; got != want && !(k == docker.LabelCluster && strings.HasSuffix(got, ":cluster/default")) {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}

	p.aws(t, "ecs", "stop-task", "--task", arn)
	waitTask(t, c, arn, time.Minute, status("STOPPED"))
	task = p.describeCLI(t, arn)
	if task["stopCode"] != "UserInitiated" || task["desiredStatus"] != "STOPPED" || task["stoppedAt"] == nil {
		t.Fatalf("stopped task: stopCode %v desiredStatus %v stoppedAt %v reason %v", task["stopCode"], task["desiredStatus"], task["stoppedAt"], task["stoppedReason"])
	}
	if ctr := cliContainer(t, task, "sleep"); ctr["lastStatus"] != "STOPPED" {
		t.Fatalf("container after StopTask: %v", ctr)
	}
	// The container is gone once the cleanup delay has passed.
	natstest.Eventually(t, e2eCleanupWait+time.Minute, 200*time.Millisecond, func() error {
		if ids := taskContainers(t, arn); len(ids) > 0 {
			return fmt.Errorf("containers still there: %v", ids)
		}
		return nil
	})
}

// testEssentialExit: the essential container exits 3; the task stops with
// EssentialContainerExited and its other container is stopped as well.
func testEssentialExit(t *testing.T, p *berthProc, c *ecs.Client, image, owner string) {
	side := ctrDef("side", image, "sleep", "360")
	side["essential"] = false
	td := p.registerTaskDef(t, taskDef("exit3", ctrDef("main", image, "sh", "-c", "sleep 2; exit 3"), side))
	// Docker's side of the story comes from its die events: the agent
	// removes a stopped task's containers after its cleanup delay, which
	// may have passed by the time a loaded machine gets here, so docker
	// inspect could find nothing.
	dies := watchDies(t, owner)
	arn := p.runTasks(t, td, 1)[0]
	waitTask(t, c, arn, time.Minute, status("STOPPED"))

	task := p.describeCLI(t, arn)
	if task["stopCode"] != "EssentialContainerExited" || task["stoppedReason"] != "Essential container in task exited" {
		t.Fatalf("stopCode %v, stoppedReason %v", task["stopCode"], task["stoppedReason"])
	}
	mainC, sideC := cliContainer(t, task, "main"), cliContainer(t, task, "side")
	if mainC["lastStatus"] != "STOPPED" || mainC["exitCode"] != float64(3) {
		t.Fatalf("main container: %v", mainC)
	}
	if sideC["lastStatus"] != "STOPPED" || sideC["exitCode"] == nil {
		t.Fatalf("side container: %v", sideC)
	}
	for _, ctr := range []map[string]any{mainC, sideC} {
		if code := dies.exitCode(t, ctr["runtimeId"].(string)); float64(code) != ctr["exitCode"] {
			t.Errorf("%v: docker says exit %d, Berth says exit %v", ctr["name"], code, ctr["exitCode"])
		}
	}
}

// dieWatch follows the Docker daemon's "die" events for the containers of
// one agent owner.
type dieWatch struct {
	out *testenv.SafeBuffer
}

// watchDies starts following die events, from now on (--since covers the
// moment the subscription takes to set up).
func watchDies(t *testing.T, owner string) *dieWatch {
	t.Helper()
	since := fmt.Sprintf("%.3f", float64(time.Now().UnixMilli())/1000)
	cmd := exec.Command("docker", "events", "--since", since, "--format", "{{json .}}",
		"--filter", "type=container", "--filter", "event=die", "--filter", "label="+docker.LabelManaged+"="+owner)
	w := &dieWatch{out: &testenv.SafeBuffer{}}
	cmd.Stdout, cmd.Stderr = w.out, w.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return w
}

// exitCode waits for container id's die event and returns its exit code.
func (w *dieWatch) exitCode(t *testing.T, id string) int {
	t.Helper()
	code := -1
	natstest.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		for line := range strings.SplitSeq(w.out.String(), "\n") {
			var ev struct {
				Actor struct {
					ID         string
					Attributes map[string]string
				}
			}
			if json.Unmarshal([]byte(line), &ev) != nil || ev.Actor.ID != id {
				continue
			}
			n, err := strconv.Atoi(ev.Actor.Attributes["exitCode"])
			if err != nil {
				return fmt.Errorf("die event of %s: %s", id, line)
			}
			code = n
			return nil
		}
		return fmt.Errorf("no die event for %s yet; docker events says:\n%s", id, w.out.String())
	})
	return code
}

// testHttpd: hostPort 0 gets an ephemeral host port, shown in
// networkBindings, and the server answers there.
func testHttpd(t *testing.T, p *berthProc, c *ecs.Client, image string) {
	web := ctrDef("web", image, "httpd", "-f", "-p", "80", "-h", "/www")
	web["portMappings"] = []any{map[string]any{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}}
	td := p.registerTaskDef(t, taskDef("httpd", web))
	arn := p.runTasks(t, td, 1)[0]
	waitTask(t, c, arn, time.Minute, status("RUNNING"))

	ctr := cliContainer(t, p.describeCLI(t, arn), "web")
	bindings, _ := ctr["networkBindings"].([]any)
	if len(bindings) == 0 {
		t.Fatalf("no networkBindings: %v", ctr)
	}
	// Docker 20.10 may give the IPv4 and IPv6 bindings different ports:
	// 127.0.0.1 reaches the 0.0.0.0 one.
	var port int
	for _, b := range bindings {
		b := b.(map[string]any)
		if b["containerPort"] != float64(80) || b["protocol"] != "tcp" {
			t.Fatalf("binding %v", b)
		}
		hp, _ := b["hostPort"].(float64)
		if hp <= 0 {
			t.Fatalf("binding without a host port: %v", b)
		}
		if b["bindIP"] == "0.0.0.0" {
			port = int(hp)
		}
	}
	if port == 0 {
		t.Fatalf("no IPv4 binding: %v", bindings)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	natstest.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "hello from berth\n" {
			return fmt.Errorf("GET %s: %d %q", url, resp.StatusCode, body)
		}
		return nil
	})
	p.aws(t, "ecs", "stop-task", "--task", arn)
	waitTask(t, c, arn, time.Minute, status("STOPPED"))
}

// testResourcesAndHealth: cpu and memory reach Docker; the health check
// makes the task HEALTHY, then UNHEALTHY once it fails (the test removes
// the file it checks).
func testResourcesAndHealth(t *testing.T, p *berthProc, c *ecs.Client, image string) {
	app := ctrDef("app", image, "sh", "-c", "touch /tmp/healthy; sleep 360")
	app["cpu"], app["memory"] = 256, 64
	app["healthCheck"] = map[string]any{"command": []string{"CMD-SHELL", "test -f /tmp/healthy"}, "interval": 5, "timeout": 2, "retries": 1}
	td := p.registerTaskDef(t, taskDef("health", app))
	arn := p.runTasks(t, td, 1)[0]
	task := waitTask(t, c, arn, time.Minute, status("RUNNING"))

	in := inspect(t, aws.ToString(container(t, task, "app").RuntimeId))
	if in.HostConfig.Memory != 64<<20 || in.HostConfig.CPUShares != 256 {
		t.Fatalf("docker: Memory %d CpuShares %d, want %d and 256", in.HostConfig.Memory, in.HostConfig.CPUShares, 64<<20)
	}
	health := func(want ecstypes.HealthStatus) func(ecstypes.Task) error {
		return func(task ecstypes.Task) error {
			ctr := container(t, task, "app")
			if task.HealthStatus != want || ctr.HealthStatus != want {
				return fmt.Errorf("task %s, container %s, want %s", task.HealthStatus, ctr.HealthStatus, want)
			}
			return nil
		}
	}
	waitTask(t, c, arn, time.Minute, health(ecstypes.HealthStatusHealthy))
	cli := p.describeCLI(t, arn)
	if cli["healthStatus"] != "HEALTHY" || cliContainer(t, cli, "app")["healthStatus"] != "HEALTHY" {
		t.Fatalf("aws CLI: task %v, container %v", cli["healthStatus"], cliContainer(t, cli, "app")["healthStatus"])
	}
	// The check starts failing when the test removes the file.
	dockerCmd(t, "exec", aws.ToString(container(t, task, "app").RuntimeId), "rm", "/tmp/healthy")
	waitTask(t, c, arn, time.Minute, health(ecstypes.HealthStatusUnhealthy))
	if cli = p.describeCLI(t, arn); cli["healthStatus"] != "UNHEALTHY" || cli["lastStatus"] != "RUNNING" {
		t.Fatalf("aws CLI: task %v, health %v (a standalone task keeps running)", cli["lastStatus"], cli["healthStatus"])
	}
	p.aws(t, "ecs", "stop-task", "--task", arn)
	waitTask(t, c, arn, time.Minute, status("STOPPED"))
}

// testDependsOnSuccess: the app container waits for the init container to
// exit 0. init runs until the test lets it finish (by creating /tmp/go in
// it), so the app is seen held while init runs, whatever the timing; then
// the app starts after init finished.
func testDependsOnSuccess(t *testing.T, p *berthProc, c *ecs.Client, image string) {
	initC := ctrDef("init", image, "sh", "-c", "while ! test -f /tmp/go; do sleep 0.2; done; exit 0")
	initC["essential"] = false
	app := ctrDef("app", image, "sleep", "360")
	app["dependsOn"] = []any{map[string]any{"containerName": "init", "condition": "SUCCESS"}}
	td := p.registerTaskDef(t, taskDef("depends", initC, app))
	arn := p.runTasks(t, td, 1)[0]

	task := waitTask(t, c, arn, time.Minute, func(task ecstypes.Task) error {
		if got := aws.ToString(container(t, task, "init").LastStatus); got != "RUNNING" {
			return fmt.Errorf("init %s", got)
		}
		return nil
	})
	if a := container(t, task, "app"); aws.ToString(a.LastStatus) != "PENDING" || aws.ToString(task.LastStatus) != "PENDING" {
		t.Fatalf("init runs: task %s, app %s; want both PENDING", aws.ToString(task.LastStatus), aws.ToString(a.LastStatus))
	}
	for _, id := range taskContainers(t, arn) {
		if in := inspect(t, id); in.Config.Labels[docker.LabelContainerName] == "app" && in.State.Running {
			t.Fatal("app container running while init runs")
		}
	}
	dockerCmd(t, "exec", aws.ToString(container(t, task, "init").RuntimeId), "touch", "/tmp/go")

	task = waitTask(t, c, arn, time.Minute, func(task ecstypes.Task) error {
		i, a := container(t, task, "init"), container(t, task, "app")
		initDone := aws.ToString(i.LastStatus) == "STOPPED" && i.ExitCode != nil && *i.ExitCode == 0
		if aws.ToString(a.LastStatus) == "RUNNING" && !initDone {
			t.Fatalf("app RUNNING while init is %s (exit %v)", aws.ToString(i.LastStatus), i.ExitCode)
		}
		return status("RUNNING")(task)
	})
	initIn := inspect(t, aws.ToString(container(t, task, "init").RuntimeId))
	appIn := inspect(t, aws.ToString(container(t, task, "app").RuntimeId))
	if initIn.State.ExitCode != 0 || !appIn.State.Running || !appIn.State.StartedAt.After(initIn.State.FinishedAt) {
		t.Fatalf("init exit %d finished %v; app %s started %v", initIn.State.ExitCode, initIn.State.FinishedAt, appIn.State.Status, appIn.State.StartedAt)
	}
	if cli := p.describeCLI(t, arn); cli["lastStatus"] != "RUNNING" || cliContainer(t, cli, "init")["exitCode"] != float64(0) {
		t.Fatalf("aws CLI: %v", cli)
	}
	p.aws(t, "ecs", "stop-task", "--task", arn)
	waitTask(t, c, arn, time.Minute, status("STOPPED"))
}

// testUnknownImage: a pull failure stops the task with TaskFailedToStart and
// the pull error; no container is created.
func testUnknownImage(t *testing.T, p *berthProc, c *ecs.Client) {
	td := p.registerTaskDef(t, taskDef("unknown-image", ctrDef("app", p.registry+"/no-such-repo:1", "true")))
	arn := p.runTasks(t, td, 1)[0]
	waitTask(t, c, arn, time.Minute, status("STOPPED"))
	task := p.describeCLI(t, arn)
	reason, _ := task["stoppedReason"].(string)
	// The daemon's pull error, naming the image.
	if task["stopCode"] != "TaskFailedToStart" || !strings.HasPrefix(reason, "CannotPullContainerError: ") || !strings.Contains(reason, "no-such-repo") {
		t.Fatalf("stopCode %v, stoppedReason %q", task["stopCode"], reason)
	}
	t.Logf("stoppedReason: %s", reason)
	if ids := taskContainers(t, arn); len(ids) != 0 {
		t.Fatalf("containers created for a failed pull: %v", ids)
	}
}

// testDockerStop: `docker stop` from outside Berth stops the task with the
// container's real exit code.
func testDockerStop(t *testing.T, p *berthProc, c *ecs.Client, image string) {
	td := p.registerTaskDef(t, taskDef("trap42", ctrDef("app", image, "sh", "-c", "trap 'exit 42' TERM; while true; do sleep 1; done")))
	arn := p.runTasks(t, td, 1)[0]
	task := waitTask(t, c, arn, time.Minute, status("RUNNING"))
	id := aws.ToString(container(t, task, "app").RuntimeId)
	dockerCmd(t, "stop", id)
	// What Docker saw, for the failure message (it once reported exit code
	// 2 here, not reproduced since).
	state := dockerCmd(t, "inspect", "--format", "{{json .State}}", id)
	logs, _ := exec.Command("docker", "logs", id).CombinedOutput()
	waitTask(t, c, arn, time.Minute, status("STOPPED"))
	cli := p.describeCLI(t, arn)
	ctr := cliContainer(t, cli, "app")
	if ctr["exitCode"] != float64(42) || ctr["lastStatus"] != "STOPPED" || cli["stopCode"] != "EssentialContainerExited" {
		t.Fatalf("task stopCode %v reason %v; container %v\ndocker state %s\ndocker logs %q", cli["stopCode"], cli["stoppedReason"], ctr, state, logs)
	}
}

// testMovedTag: with the default pull behavior a task runs what the tag
// points to now. The agent skips the Docker pull when the local image
// already has the digest the registry serves for the tag (an unchanged
// tag), and pulls once the tag has moved to another image.
func testMovedTag(t *testing.T, p *berthProc, c *ecs.Client) {
	p.aws(t, "ecr", "create-repository", "--repository-name", "moving")
	ref := p.registry + "/moving:v"
	td := p.registerTaskDef(t, taskDef("moving", ctrDef("app", ref, "sleep", "360")))
	events := watchImageEvents(t)
	var oldImageID string
	for i, step := range []struct {
		variant string
		pull    bool
	}{{"1", true}, {"2", true}, {"2", false}} {
		img := busyboxVariant(t, step.variant)
		digest, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		p.pushImage(t, "moving", "v", img)
		pullsBefore := events.count("pull", ref)
		arn := p.runTasks(t, td, 1)[0]
		task := waitTask(t, c, arn, time.Minute, status("RUNNING"))
		events.barrier(t, ref, i)
		if pulled := events.count("pull", ref) > pullsBefore; pulled != step.pull {
			t.Errorf("step %d (variant %s): pulled %v, want %v", i, step.variant, pulled, step.pull)
		}
		ctr := container(t, task, "app")
		in := inspect(t, aws.ToString(ctr.RuntimeId))
		if got := in.Config.Labels["io.berth.e2e.variant"]; got != step.variant || aws.ToString(ctr.ImageDigest) != digest.String() {
			t.Errorf("step %d: the container runs variant %q, imageDigest %s; want %s, %s", i, got, aws.ToString(ctr.ImageDigest), step.variant, digest)
		}
		if i == 0 {
			oldImageID = in.Image
		}
		p.aws(t, "ecs", "stop-task", "--task", arn)
		waitTask(t, c, arn, time.Minute, status("STOPPED"))
		removeContainers(t, "label="+docker.LabelTaskARN+"="+arn)
	}
	// The first variant lost its tag to the second: remove it by id.
	if out, err := exec.Command("docker", "image", "rm", oldImageID).CombinedOutput(); err != nil {
		t.Logf("docker image rm %s: %v\n%s", oldImageID, err, out)
	}
}

// imageEvents follows `docker events` for images as they happen.
type imageEvents struct {
	mu    sync.Mutex
	lines []string // "<action> <actor id> <name attribute>"
}

func watchImageEvents(t *testing.T) *imageEvents {
	t.Helper()
	cmd := exec.Command("docker", "events", "--filter", "type=image", "--format", `{{.Action}} {{.Actor.ID}} {{index .Actor.Attributes "name"}}`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ev := &imageEvents{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			ev.mu.Lock()
			ev.lines = append(ev.lines, sc.Text())
			ev.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		_ = cmd.Wait()
	})
	return ev
}

// count counts events with action whose actor or name is ref.
func (e *imageEvents) count(action, ref string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, l := range e.lines {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == action && (f[1] == ref || len(f) > 2 && f[2] == ref) {
			n++
		}
	}
	return n
}

// barrier tags ref as a marker and waits for the marker's event: every
// image event before it (a pull for a task that is already RUNNING) has
// then been read.
func (e *imageEvents) barrier(t *testing.T, ref string, i int) {
	t.Helper()
	marker := fmt.Sprintf("%s-marker-%d", ref, i)
	dockerCmd(t, "tag", ref, marker)
	natstest.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		if e.count("tag", marker) == 0 {
			return fmt.Errorf("no tag event for %s yet", marker)
		}
		return nil
	})
	dockerCmd(t, "image", "rm", marker)
}

// TestE2E_AWSVPCTask: Berth started with --agent-awsvpc-subnet runs an
// awsvpc task through run-task (with the networkConfiguration AWS asks
// for): the task gets its own address in that subnet, shown by the
// agent's introspection API, and the host reaches its httpd there. The
// control plane's side (DescribeTasks attachments, Fargate) is not checked
// here.
func TestE2E_AWSVPCTask(t *testing.T) {
	requireDocker(t)
	t.Parallel()
	bin := buildBerth(t)
	owner := e2eOwner(t)
	t.Cleanup(func() { // after Berth stopped: its containers, then its network
		removeContainers(t, "label="+docker.LabelManaged+"="+owner)
		_ = exec.Command("docker", "network", "rm", docker.AWSVPCNetworkName(owner)).Run()
	})
	subnet := netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", 208+rand.IntN(8), rand.IntN(256)))
	intro := testenv.FreeAddr(t)
	p := startBerthWithAgent(t, bin, t.TempDir(), owner, "--agent-awsvpc-subnet", subnet.String(), "--agent-introspection-addr", intro)
	c := p.ecs(t)
	image := p.pushBusybox(t, "busybox", "awsvpc")

	web := ctrDef("web", image, "httpd", "-f", "-p", "80", "-h", "/www")
	web["portMappings"] = []any{map[string]any{"containerPort": 80, "protocol": "tcp"}}
	td := taskDef("awsvpc-web", web)
	td["networkMode"] = "awsvpc"
	out := p.aws(t, "ecs", "run-task", "--task-definition", p.registerTaskDef(t, td),
		"--network-configuration", "awsvpcConfiguration={subnets=[subnet-12345678],assignPublicIp=DISABLED}")
	tasks, _ := out["tasks"].([]any)
	if len(tasks) != 1 {
		t.Fatalf("run-task: %v", out)
	}
	arn := tasks[0].(map[string]any)["taskArn"].(string)
	waitTask(t, c, arn, time.Minute, status("RUNNING"))

	var it struct {
		Containers []struct {
			Networks []struct {
				NetworkMode   string
				IPv4Addresses []string
			}
		}
	}
	resp, err := http.Get("http://" + intro + "/v1/tasks?taskarn=" + arn)
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&it)
	resp.Body.Close()
	if err != nil || len(it.Containers) != 1 || len(it.Containers[0].Networks) != 1 || it.Containers[0].Networks[0].NetworkMode != "awsvpc" ||
		len(it.Containers[0].Networks[0].IPv4Addresses) != 1 {
		t.Fatalf("introspection: %+v (%v)", it, err)
	}
	ip, err := netip.ParseAddr(it.Containers[0].Networks[0].IPv4Addresses[0])
	if err != nil || !subnet.Contains(ip) {
		t.Fatalf("task address %v not in %s", ip, subnet)
	}
	natstest.Eventually(t, 20*time.Second, 100*time.Millisecond, func() error {
		resp, err := http.Get("http://" + ip.String() + ":80/")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if string(body) != "hello from berth\n" {
			return fmt.Errorf("GET %s: %q", ip, body)
		}
		return nil
	})
	p.aws(t, "ecs", "stop-task", "--task", arn)
	waitTask(t, c, arn, time.Minute, status("STOPPED"))
}
