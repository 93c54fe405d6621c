package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The agent's container labels (services/agent/docker).
const (
	labelTaskARN = "com.amazonaws.ecs.task-arn"
	labelManaged = "io.berth.managed"
)

// TestCompose builds the offline images, runs compose.yaml (a three-node
// NATS cluster, two replicas of every service, an agent on this host's
// Docker engine) and goes through the acceptance flow and the faults on one
// stack, in order: each fault test counts what was committed before it and
// finds it all afterwards.
func TestCompose(t *testing.T) {
	s := startStack(t)
	t.Run("Acceptance", s.testAcceptance)
	t.Run("KillNATSNode", s.testKillNATSNode)
	t.Run("PartitionNATSNode", s.testPartitionNATSNode)
	t.Run("KillServiceReplicas", s.testKillReplicas)
	t.Run("StopStartStack", s.testStopStart)
}

// startStack builds what compose needs and brings a fresh project up.
func startStack(t *testing.T) *stack {
	need(t, exec.Command("docker", "version").Run() == nil, "docker daemon not reachable")
	_, err := os.Stat("/usr/bin/aws")
	need(t, err == nil, "the aws CLI (/usr/bin/aws) is not installed")
	_, err = exec.LookPath("go")
	need(t, err == nil, "go is not on PATH")
	s := &stack{
		root:    repoRoot(t),
		project: "berth-e2e-" + randomHex(4),
		apiPort: freePort(t),
		regPort: freePort(t),
		awsDir:  t.TempDir(),
	}
	s.owner = s.project
	tag := strings.TrimPrefix(s.project, "berth-e2e-")
	s.env = []string{
		"COMPOSE_PROJECT_NAME=" + s.project,
		fmt.Sprintf("BERTH_API_PORT=%d", s.apiPort),
		fmt.Sprintf("BERTH_REGISTRY_PORT=%d", s.regPort),
		"BERTH_IMAGE=berth-e2e:" + tag,
		"BERTH_NATS_IMAGE=berth-e2e-nats:" + tag,
		"BERTH_AGENT_OWNER=" + s.owner,
		"BERTH_SERVICE_REPLICAS=2",
	}
	step := func(name string, timeout time.Duration, cmd string, args ...string) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if out, err := s.run(ctx, nil, cmd, args...); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, tail(out, 4000))
		}
		t.Logf("%s: %s", name, time.Since(start).Round(100*time.Millisecond))
	}
	if exec.Command("docker", "compose", "version").Run() != nil {
		step("build the docker compose plugin", 30*time.Minute, "deploy/build-compose.sh")
	}
	step("build the offline binaries", 20*time.Minute, "deploy/build-offline.sh")
	t.Cleanup(func() { s.down(t) })
	start := time.Now()
	s.compose(t, 15*time.Minute, "up", "-d", "--build", "--wait", "--wait-timeout", "600")
	t.Logf("docker compose up -d --build --wait: %s", time.Since(start).Round(100*time.Millisecond))
	for _, img := range []string{"berth-e2e:" + tag, "berth-e2e-nats:" + tag} {
		if out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Size}}", img).Output(); err == nil {
			t.Logf("image %s: %s bytes", img, strings.TrimSpace(string(out)))
		}
	}
	s.compose(t, time.Minute, "cp", "gateway:/var/lib/berth/aws/.", s.awsDir)
	if _, err := os.Stat(filepath.Join(s.awsDir, "credentials")); err != nil {
		t.Fatalf("no credentials from the gateway's --bootstrap: %v", err)
	}
	return s
}

// down removes the project, its volumes and images, and the task
// containers its agent started.
func (s *stack) down(t *testing.T) {
	if t.Failed() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, _ := s.run(ctx, nil, "docker", "compose", "-f", "compose.yaml", "-f", "deploy/compose.offline.yaml", "ps", "-a")
		t.Logf("docker compose ps:\n%s", out)
		out, _ = s.run(ctx, nil, "docker", "compose", "-f", "compose.yaml", "-f", "deploy/compose.offline.yaml", "logs", "--no-color", "--tail", "30")
		t.Logf("docker compose logs:\n%s", tail(out, 20000))
		cancel()
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := s.run(ctx, nil, "docker", "compose", "-f", "compose.yaml", "-f", "deploy/compose.offline.yaml", "down", "-v", "--rmi", "all", "--timeout", "10"); err != nil {
		t.Errorf("docker compose down: %v\n%s", err, tail(out, 2000))
	}
	t.Logf("docker compose down -v: %s", time.Since(start).Round(100*time.Millisecond))
	if ids, _ := exec.Command("docker", "ps", "-aq", "--filter", "label="+labelManaged+"="+s.owner).Output(); len(strings.Fields(string(ids))) > 0 {
		exec.Command("docker", append([]string{"rm", "-f"}, strings.Fields(string(ids))...)...).Run()
	}
	exec.Command("docker", "image", "rm", s.registry()+"/bb:v1").Run()
}

// testAcceptance: the aws CLI registers a task definition, docker pushes an
// image to the registry, a task reaches RUNNING through the agent, a
// service becomes stable, and `berth events` shows the events.
func (s *stack) testAcceptance(t *testing.T) {
	start := time.Now()
	s.aws(t, nil, "ecr", "create-repository", "--repository-name", "bb")
	image := s.pushBusybox(t)
	var td struct {
		TaskDefinition struct{ TaskDefinitionArn string }
	}
	s.aws(t, &td, "ecs", "register-task-definition", "--family", "e2e-sleep", "--container-definitions",
		`[{"name":"main","image":"`+image+`","memory":16,"essential":true,"command":["/bin/busybox","sleep","3600"]}]`)
	var run struct{ Tasks []struct{ TaskArn string } }
	s.awsAfterRegister(t, &run, "ecs", "run-task", "--task-definition", "e2e-sleep")
	if len(run.Tasks) != 1 {
		t.Fatalf("run-task: %+v", run)
	}
	arn := run.Tasks[0].TaskArn
	eventually(t, 3*time.Minute, time.Second, func() error {
		var d struct {
			Tasks []struct{ LastStatus, StoppedReason string }
		}
		s.aws(t, &d, "ecs", "describe-tasks", "--tasks", arn)
		if len(d.Tasks) != 1 || d.Tasks[0].LastStatus != "RUNNING" {
			return fmt.Errorf("task %s: %+v", arn, d.Tasks)
		}
		return nil
	})
	ids, _ := exec.Command("docker", "ps", "-q", "--filter", "label="+labelTaskARN+"="+arn).Output()
	if len(strings.Fields(string(ids))) != 1 {
		t.Fatalf("RUNNING task %s has no running container on the host engine (%q)", arn, ids)
	}
	t.Logf("task RUNNING on the host engine after %s", time.Since(start).Round(100*time.Millisecond))
	s.awsAfterRegister(t, nil, "ecs", "create-service", "--service-name", "web", "--task-definition", "e2e-sleep", "--desired-count", "2")
	s.aws(t, nil, "ecs", "wait", "services-stable", "--services", "web")
	t.Logf("service stable after %s", time.Since(start).Round(100*time.Millisecond))
	lines := s.events(t, time.Minute, arn, `"detail-type":"ECR Image Action"`, `"detail-type":"ECS Deployment State Change"`)
	t.Logf("berth events: the task's, the push's and the deployment's events among %d", len(lines))
}

// awsAfterRegister runs a call that names a task definition registered just
// before. With three replicas a reader may get the bucket entry from a
// JetStream follower that has not applied the registration yet (direct gets,
// nats-patterns §20.1) and answer "TaskDefinition not found."; that lag is
// retried for up to 15 s and logged, anything else fails at once.
func (s *stack) awsAfterRegister(t *testing.T, out any, args ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for i := 1; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		raw, err := s.awsCLI(ctx, args...)
		cancel()
		if err == nil {
			if i > 1 {
				t.Logf("aws %s %s: answered on attempt %d (stale read of the task definition before)", args[0], args[1], i)
			}
			if out != nil {
				if err := jsonDecode(raw, out); err != nil {
					t.Fatalf("aws %v: %v", args, err)
				}
			}
			return
		}
		if !strings.Contains(err.Error(), "TaskDefinition not found") || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// pushBusybox builds a one-file image from the host's /bin/busybox, logs
// in with `aws ecr get-login-password | docker login` (in a private docker
// config) and pushes it with docker. The local copy is removed, so the agent
// must pull it.
func (s *stack) pushBusybox(t *testing.T) string {
	t.Helper()
	ctxDir := t.TempDir()
	bb, err := os.ReadFile("/bin/busybox")
	need(t, err == nil, "/bin/busybox (busybox-static) is not installed")
	os.WriteFile(filepath.Join(ctxDir, "busybox"), bb, 0o755)
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\nCOPY busybox /bin/busybox\nCMD [\"/bin/busybox\", \"sh\"]\n"), 0o644)
	ref := s.registry() + "/bb:v1"
	docker := func(stdin string, args ...string) {
		t.Helper()
		cmd := exec.Command("docker", args...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(s.awsDir, "docker"))
		cmd.Stdin = strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docker %v: %v\n%s", args, err, out)
		}
	}
	docker("", "build", "-q", "-t", ref, ctxDir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	password, err := s.awsCLI(ctx, "ecr", "get-login-password")
	if err != nil {
		t.Fatal(err)
	}
	docker(strings.TrimSpace(password), "login", "--username", "AWS", "--password-stdin", s.registry())
	docker("", "push", ref)
	docker("", "image", "rm", ref)
	return ref
}

// load is what a run of concurrent RegisterTaskDefinition calls committed.
type load struct {
	acked      []string // ARNs the API answered with
	failures   int      // calls that failed or were cut (may or may not have committed)
	cut        int      // of which cut short by the end of the load
	errs       []string // the first errors
	afterFault int      // acked after the fault was injected
}

// underLoad runs workers that register revisions of family until enough
// were answered both before and after fault (or time runs out), then checks
// that every answered revision is listed and no revision exists that no call
// accounts for.
func (s *stack) underLoad(t *testing.T, family string, fault func()) load {
	t.Helper()
	const workers = 3
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var l load
	faulted := false
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				out, err := s.awsCLI(ctx, "ecs", "register-task-definition", "--family", family,
					"--container-definitions", `[{"name":"main","image":"busybox","memory":16}]`,
					"--query", "taskDefinition.taskDefinitionArn", "--output", "text")
				mu.Lock()
				if err != nil {
					l.failures++
					if ctx.Err() != nil {
						l.cut++
					} else if len(l.errs) < 3 {
						l.errs = append(l.errs, err.Error())
					}
				} else {
					l.acked = append(l.acked, strings.TrimSpace(out))
					if faulted {
						l.afterFault++
					}
				}
				mu.Unlock()
			}
		})
	}
	count := func(after bool) int {
		mu.Lock()
		defer mu.Unlock()
		if after {
			return l.afterFault
		}
		return len(l.acked)
	}
	waitFor := func(after bool, n int) {
		deadline := time.Now().Add(3 * time.Minute)
		for count(after) < n && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor(false, 2*workers)
	before := count(false)
	fault()
	mu.Lock()
	faulted = true
	mu.Unlock()
	start := time.Now()
	waitFor(true, 4*workers)
	cancel()
	wg.Wait()
	t.Logf("%s: %d acked before the fault, %d after (in %s), %d calls failed, %d cut at the end; first errors: %q",
		family, before, l.afterFault, time.Since(start).Round(100*time.Millisecond), l.failures-l.cut, l.cut, l.errs)
	if l.afterFault == 0 {
		t.Errorf("the API answered no call after the fault")
	}
	s.checkCommitted(t, family, l)
	return l
}

// checkCommitted lists family's revisions: each acked one must be there,
// and at most `failures` more (calls whose answer was lost).
func (s *stack) checkCommitted(t *testing.T, family string, l load) {
	t.Helper()
	var listed []string
	eventually(t, 2*time.Minute, time.Second, func() error {
		var out struct{ TaskDefinitionArns []string }
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		raw, err := s.awsCLI(ctx, "ecs", "list-task-definitions", "--family-prefix", family)
		if err != nil {
			return err
		}
		if err := jsonDecode(raw, &out); err != nil {
			return err
		}
		listed = out.TaskDefinitionArns
		return nil
	})
	var lost []string
	for _, a := range l.acked {
		if !slices.Contains(listed, a) {
			lost = append(lost, a)
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d acknowledged revisions lost: %v", len(lost), lost)
	}
	if extra := len(listed) - len(l.acked); extra > l.failures {
		t.Errorf("%d revisions listed, %d acked and %d failed: something was done twice", len(listed), len(l.acked), l.failures)
	}
	t.Logf("%s: %d revisions listed, %d acked, none lost", family, len(listed), len(l.acked))
}

// testKillNATSNode: kill -9 the NATS node leading the task definitions
// stream, under load on that stream.
func (s *stack) testKillNATSNode(t *testing.T) {
	leader := s.streamLeader(t, taskDefsStream)
	node := s.container(leader, 1)
	s.underLoad(t, "nats-kill-"+randomHex(3), func() {
		if out, err := exec.Command("docker", "kill", "--signal", "KILL", node).CombinedOutput(); err != nil {
			t.Fatalf("docker kill %s: %v\n%s", node, err, out)
		}
		t.Logf("killed %s (SIGKILL), leader of %s", node, taskDefsStream)
	})
	exec.Command("docker", "start", node).Run()
	s.compose(t, 10*time.Minute, "up", "-d", "--wait", "--wait-timeout", "600")
}

// testKillReplicas: kill -9 the first replica of every service at once
// under load; then the service still holds exactly its desired count (the
// supervisor did nothing twice) and new work still runs.
func (s *stack) testKillReplicas(t *testing.T) {
	var victims []string
	for _, svc := range []string{"gateway", "taskdefs", "scheduler", "supervisor", "registry"} {
		victims = append(victims, s.container(svc, 1))
	}
	s.underLoad(t, "replica-kill-"+randomHex(3), func() {
		if out, err := exec.Command("docker", append([]string{"kill", "--signal", "KILL"}, victims...)...).CombinedOutput(); err != nil {
			t.Fatalf("docker kill: %v\n%s", err, out)
		}
		t.Logf("killed %v (SIGKILL)", victims)
	})
	s.aws(t, nil, "ecr", "create-repository", "--repository-name", "after-kill")
	s.aws(t, nil, "ecs", "wait", "services-stable", "--services", "web")
	s.checkServiceTasks(t, "web", 2)
	exec.Command("docker", append([]string{"start"}, victims...)...).Run()
	s.compose(t, 10*time.Minute, "up", "-d", "--wait", "--wait-timeout", "600")
}

// checkServiceTasks: the service runs exactly n tasks.
func (s *stack) checkServiceTasks(t *testing.T, service string, n int) {
	t.Helper()
	var out struct{ TaskArns []string }
	s.aws(t, &out, "ecs", "list-tasks", "--service-name", service, "--desired-status", "RUNNING")
	if len(out.TaskArns) != n {
		t.Errorf("service %s: %d tasks desired RUNNING, want %d: %v", service, len(out.TaskArns), n, out.TaskArns)
	}
}

// snapshot is what the stop/start test expects to find again.
type snapshot struct {
	taskDefs, repos, images []string
}

func (s *stack) snapshot(t *testing.T) snapshot {
	t.Helper()
	var td struct{ TaskDefinitionArns []string }
	s.aws(t, &td, "ecs", "list-task-definitions")
	var repos struct {
		Repositories []struct{ RepositoryName string }
	}
	s.aws(t, &repos, "ecr", "describe-repositories")
	var imgs struct {
		ImageIds []struct{ ImageDigest, ImageTag string }
	}
	s.aws(t, &imgs, "ecr", "list-images", "--repository-name", "bb")
	var snap snapshot
	snap.taskDefs = td.TaskDefinitionArns
	for _, r := range repos.Repositories {
		snap.repos = append(snap.repos, r.RepositoryName)
	}
	for _, i := range imgs.ImageIds {
		snap.images = append(snap.images, i.ImageTag+"@"+i.ImageDigest)
	}
	for _, l := range [][]string{snap.taskDefs, snap.repos, snap.images} {
		slices.Sort(l)
	}
	return snap
}

// testStopStart: `docker compose stop` then `start`: every task
// definition, repository and image is still there and the service is
// stable with its two tasks.
func (s *stack) testStopStart(t *testing.T) {
	before := s.snapshot(t)
	start := time.Now()
	s.compose(t, 5*time.Minute, "stop")
	s.compose(t, 5*time.Minute, "start")
	s.compose(t, 10*time.Minute, "up", "-d", "--wait", "--wait-timeout", "600")
	t.Logf("stop + start --wait: %s", time.Since(start).Round(100*time.Millisecond))
	var after snapshot
	eventually(t, 2*time.Minute, 2*time.Second, func() error {
		after = s.snapshot(t)
		if !slices.Equal(before.taskDefs, after.taskDefs) || !slices.Equal(before.repos, after.repos) || !slices.Equal(before.images, after.images) {
			return fmt.Errorf("before %d task definitions, %v, %v; after %d, %v, %v",
				len(before.taskDefs), before.repos, before.images, len(after.taskDefs), after.repos, after.images)
		}
		return nil
	})
	t.Logf("after restart: %d task definitions, %d repositories, %d images, all there", len(after.taskDefs), len(after.repos), len(after.images))
	s.aws(t, nil, "ecs", "wait", "services-stable", "--services", "web")
	s.checkServiceTasks(t, "web", 2)
}
