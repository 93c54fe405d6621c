package main

// Helpers of the end-to-end tests that run real tasks: Berth with its
// local agent (or a standalone agent binary), a busybox image built from the
// host's /bin/busybox and pushed to Berth's registry, the Docker CLI to look
// at containers from outside, and SDK polling of DescribeTasks.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/services/agent/docker"
)

// e2eCleanupWait is the agents' task cleanup delay in these tests: long
// enough to inspect a stopped task's containers, short enough to see them
// removed.
const e2eCleanupWait = 10 * time.Second

// e2eOwner returns a fresh io.berth.managed value, so the test's agent never
// touches containers of other agents on the same Docker daemon (an agent's
// first sync stops every owned container it was not given). At cleanup every
// container with that label is removed.
func e2eOwner(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	owner := "berth-e2e-" + hex.EncodeToString(b)
	t.Cleanup(func() { removeContainers(t, "label="+docker.LabelManaged+"="+owner) })
	return owner
}

// requireDocker skips (or fails under CI=true / BERTH_REQUIRE_DOCKER=1) when
// the docker CLI or the daemon is missing, and the test when the aws CLI is.
func requireDocker(t testing.TB) {
	t.Helper()
	testenv.RequireTool(t, "aws")
	testenv.RequireTool(t, "docker")
	if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		if testenv.Required() {
			t.Fatalf("docker daemon required but unreachable: %v\n%s", err, out)
		}
		t.Skipf("docker daemon unreachable: %v", err)
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		if testenv.Required() {
			t.Fatalf("/bin/busybox required for the test image: %v", err)
		}
		t.Skipf("no /bin/busybox: %v", err)
	}
}

// startBerthWithAgent starts bin with its local agent on free ports, owner
// label owner and a short task cleanup delay, then waits for the agent's
// container instance.
func startBerthWithAgent(t testing.TB, bin, data, owner string, extra ...string) *berthProc {
	t.Helper()
	args := append([]string{"--agent-introspection-addr", testenv.FreeAddr(t), "--agent-metadata-addr", testenv.FreeAddr(t),
		"--agent-owner", owner, "--agent-task-cleanup-wait", e2eCleanupWait.String()}, extra...)
	p := startBerthArgs(t, bin, data, args...)
	waitInstances(t, p.ecs(t), "default", 1)
	return p
}

// waitInstances waits until cluster has n registered container instances.
func waitInstances(t testing.TB, c *ecs.Client, cluster string, n int) {
	t.Helper()
	natstest.Eventually(t, 60*time.Second, 100*time.Millisecond, func() error {
		out, err := c.ListContainerInstances(context.Background(), &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster)})
		if err != nil {
			return err
		}
		if len(out.ContainerInstanceArns) != n {
			return fmt.Errorf("%d container instances, want %d", len(out.ContainerInstanceArns), n)
		}
		return nil
	})
}

// key returns the root access key id and secret from the generated
// credentials file.
func (p *berthProc) key(t testing.TB) (id, secret string) {
	t.Helper()
	f, err := os.Open(filepath.Join(p.data, "aws", "credentials"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			id = strings.TrimSpace(v)
		case "aws_secret_access_key":
			secret = strings.TrimSpace(v)
		}
	}
	if id == "" || secret == "" {
		t.Fatal("no access key in the generated credentials file")
	}
	return id, secret
}

// ecs returns an SDK client for p's gateway, signed with the root key.
func (p *berthProc) ecs(t testing.TB) *ecs.Client {
	t.Helper()
	id, secret := p.key(t)
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(),
		awsconfig.WithRegion(testenv.Region),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, secret, "")),
	)
	if err != nil {
		t.Fatal(err)
	}
	return ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = aws.String("http://" + p.api) })
}

var (
	busyboxOnce sync.Once
	busyboxImg  v1.Image
	busyboxErr  error
)

// busyboxCommands are linked to /bin/busybox in the test image.
var busyboxCommands = []string{"sh", "sleep", "httpd", "echo", "true", "false", "wget", "cat", "touch", "rm", "test", "kill", "ls"}

// busyboxImage is a one-layer linux/amd64 image: the host's static busybox,
// its commands, /www/index.html for httpd and /tmp. Built once per process.
func busyboxImage(t testing.TB) v1.Image {
	t.Helper()
	busyboxOnce.Do(func() { busyboxImg, busyboxErr = buildBusyboxImage() })
	if busyboxErr != nil {
		t.Fatalf("busybox image: %v", busyboxErr)
	}
	return busyboxImg
}

func buildBusyboxImage() (v1.Image, error) {
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	for _, d := range []string{"bin", "www", "tmp", "etc"} {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"bin/busybox", 0o755, bb},
		{"www/index.html", 0o644, []byte("hello from berth\n")},
		{"etc/passwd", 0o644, []byte("root:x:0:0:root:/:/bin/sh\n")},
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: epoch}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	for _, c := range busyboxCommands {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + c, Linkname: "busybox", Mode: 0o777, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Env = []string{"PATH=/bin"}
	cf.Config.Cmd = []string{"sh"}
	return mutate.ConfigFile(img, cf)
}

// pushBusybox creates the ECR repository repo with the aws CLI and pushes the
// busybox image to Berth's registry as repo:tag (Basic auth with the root
// key's registry token). It returns the image reference for task definitions:
// 127.0.0.1:<registry port>/<repo>:<tag>.
func (p *berthProc) pushBusybox(t testing.TB, repo, tag string) string {
	t.Helper()
	p.aws(t, "ecr", "create-repository", "--repository-name", repo)
	return p.pushImage(t, repo, tag, busyboxImage(t))
}

// busyboxVariant is the busybox image with the label io.berth.e2e.variant:
// another image (config and manifest digests) for each variant.
func busyboxVariant(t testing.TB, variant string) v1.Image {
	t.Helper()
	base := busyboxImage(t)
	cf, err := base.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Labels = map[string]string{"io.berth.e2e.variant": variant}
	img, err := mutate.ConfigFile(base, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// pushImage pushes img to Berth's registry as repo:tag (the repository
// must exist) with Basic auth: user AWS and the password from `aws ecr
// get-login-password`. It returns the reference.
func (p *berthProc) pushImage(t testing.TB, repo, tag string, img v1.Image) string {
	t.Helper()
	ref := p.registry + "/" + repo + ":" + tag
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	res := p.cli.Run(t, "", "ecr", "get-login-password")
	pw := strings.TrimSpace(res.Stdout)
	if res.Exit != 0 || pw == "" {
		t.Fatalf("aws ecr get-login-password: exit %d: %s", res.Exit, res.Stderr)
	}
	auth := remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: "AWS", Password: pw}))
	if err := remote.Write(r, img, auth); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	t.Cleanup(func() { removeImage(t, ref) })
	return ref
}

// removeImage removes the containers created from exactly ref (the
// registry's port makes it unique to the test), then Docker's copy of ref.
func removeImage(t testing.TB, ref string) {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Image}}").Output()
	if err != nil {
		t.Logf("cleanup: docker ps: %v", err)
		return
	}
	var ids []string
	for line := range strings.SplitSeq(string(out), "\n") {
		if id, image, ok := strings.Cut(line, " "); ok && image == ref {
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		if out, err := exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).CombinedOutput(); err != nil {
			t.Logf("cleanup: docker rm -f: %v\n%s", err, out)
		}
	}
	if out, err := exec.Command("docker", "image", "rm", ref).CombinedOutput(); err != nil && !strings.Contains(string(out), "No such image") {
		t.Logf("cleanup: docker image rm %s: %v\n%s", ref, err, out)
	}
}

// registerTaskDef registers a task definition from a JSON document with the
// aws CLI and returns family:revision.
func (p *berthProc) registerTaskDef(t testing.TB, doc map[string]any) string {
	t.Helper()
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "taskdef.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	td := p.aws(t, "ecs", "register-task-definition", "--cli-input-json", "file://"+path)["taskDefinition"].(map[string]any)
	return fmt.Sprintf("%s:%v", td["family"], td["revision"])
}

// runTasks runs count tasks of taskDef with the aws CLI and returns their
// ARNs.
func (p *berthProc) runTasks(t testing.TB, taskDef string, count int) []string {
	t.Helper()
	out := p.aws(t, "ecs", "run-task", "--task-definition", taskDef, "--count", fmt.Sprint(count))
	if f, _ := out["failures"].([]any); len(f) > 0 {
		t.Fatalf("run-task %s: failures %v", taskDef, f)
	}
	var arns []string
	for _, task := range out["tasks"].([]any) {
		arns = append(arns, task.(map[string]any)["taskArn"].(string))
	}
	if len(arns) != count {
		t.Fatalf("run-task %s: %d tasks, want %d", taskDef, len(arns), count)
	}
	return arns
}

// describeCLI describes one task with the aws CLI, as a user sees it.
func (p *berthProc) describeCLI(t testing.TB, arn string) map[string]any {
	t.Helper()
	out := p.aws(t, "ecs", "describe-tasks", "--tasks", arn)
	tasks, _ := out["tasks"].([]any)
	if len(tasks) != 1 {
		t.Fatalf("describe-tasks %s: %v", arn, out)
	}
	return tasks[0].(map[string]any)
}

// describe describes one task with the SDK (for polling).
func describe(c *ecs.Client, arn string) (ecstypes.Task, error) {
	out, err := c.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Tasks: []string{arn}})
	if err != nil {
		return ecstypes.Task{}, err
	}
	if len(out.Tasks) != 1 {
		return ecstypes.Task{}, fmt.Errorf("describe %s: %d tasks, failures %v", arn, len(out.Tasks), out.Failures)
	}
	return out.Tasks[0], nil
}

// waitTask polls DescribeTasks until ok accepts the task, and returns it.
func waitTask(t testing.TB, c *ecs.Client, arn string, timeout time.Duration, ok func(ecstypes.Task) error) ecstypes.Task {
	t.Helper()
	var last ecstypes.Task
	natstest.Eventually(t, timeout, 50*time.Millisecond, func() error {
		task, err := describe(c, arn)
		if err != nil {
			return err
		}
		last = task
		return ok(task)
	})
	return last
}

// status is a waitTask condition: the task's lastStatus is want.
func status(want string) func(ecstypes.Task) error {
	return func(task ecstypes.Task) error {
		if got := aws.ToString(task.LastStatus); got != want {
			return fmt.Errorf("lastStatus %s (%s), want %s", got, aws.ToString(task.StoppedReason), want)
		}
		return nil
	}
}

// container returns the named container of a task.
func container(t testing.TB, task ecstypes.Task, name string) ecstypes.Container {
	t.Helper()
	for _, c := range task.Containers {
		if aws.ToString(c.Name) == name {
			return c
		}
	}
	t.Fatalf("task %s has no container %q", aws.ToString(task.TaskArn), name)
	return ecstypes.Container{}
}

// cliContainer returns the named container of a task described by the CLI.
func cliContainer(t testing.TB, task map[string]any, name string) map[string]any {
	t.Helper()
	for _, c := range task["containers"].([]any) {
		if m := c.(map[string]any); m["name"] == name {
			return m
		}
	}
	t.Fatalf("task %v has no container %q", task["taskArn"], name)
	return nil
}

// dockerCmd runs the docker CLI and returns its trimmed stdout.
func dockerCmd(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("docker %v: %v\n%s", args, err, stderr)
	}
	return strings.TrimSpace(string(out))
}

// taskContainers lists the full ids of every container (running or not) of
// a task, by the agent's task-arn label.
func taskContainers(t testing.TB, arn string) []string {
	t.Helper()
	return strings.Fields(dockerCmd(t, "ps", "-aq", "--no-trunc", "--filter", "label="+docker.LabelTaskARN+"="+arn))
}

// dockerContainer is what the tests read from docker inspect.
type dockerContainer struct {
	ID    string `json:"Id"`
	Name  string
	State struct {
		Status     string
		Running    bool
		ExitCode   int
		StartedAt  time.Time
		FinishedAt time.Time
		Health     *struct{ Status string }
	}
	HostConfig struct {
		Memory    int64
		CPUShares int64 `json:"CpuShares"`
	}
	Config struct {
		Labels map[string]string
	}
	Image string // the image id
}

// inspect runs docker inspect on one container.
func inspect(t testing.TB, id string) dockerContainer {
	t.Helper()
	var out []dockerContainer
	if err := json.Unmarshal([]byte(dockerCmd(t, "inspect", id)), &out); err != nil || len(out) != 1 {
		t.Fatalf("docker inspect %s: %v (%d results)", id, err, len(out))
	}
	return out[0]
}

// removeContainers force-removes every container matching a docker ps
// filter.
func removeContainers(t testing.TB, filter string) {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-aq", "--filter", filter).Output()
	if err != nil {
		t.Logf("cleanup: docker ps --filter %s: %v", filter, err)
		return
	}
	if ids := strings.Fields(string(out)); len(ids) > 0 {
		if out, err := exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).CombinedOutput(); err != nil {
			t.Logf("cleanup: docker rm -f: %v\n%s", err, out)
		}
	}
}
