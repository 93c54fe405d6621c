package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// seedsSleep360 is the ECS tutorial's sleep360.json as the seeds give it:
// busybox, sleep 360, essential, no cpu or memory anywhere. The aws CLI
// sends it byte for byte (file:// is relative to the repository root, where
// p.aws runs the CLI).
const seedsSleep360 = "services/berth/testdata/sleep360.json"

// TestE2E_SeedsSleep360 is the acceptance of issue 9 point 1: the aws CLI
// registers the seeds' sleep360.json unchanged and run-task --count 3 runs
// it on the local agent; a container with no memory at either level runs
// without a memory limit. Task and container overrides of cpu and memory
// reach Docker. The examples' sleep360.json (cpu 10, memory 10) runs with
// its 10 MiB limit.
func TestE2E_SeedsSleep360(t *testing.T) {
	requireDocker(t)
	t.Parallel()
	ensureLocalBusybox(t)
	bin := buildBerth(t)
	owner := e2eOwner(t)
	p := startBerthWithAgent(t, bin, t.TempDir(), owner)
	c := p.ecs(t)

	reg := p.aws(t, "ecs", "register-task-definition", "--cli-input-json", "file://"+seedsSleep360)["taskDefinition"].(map[string]any)
	cd := reg["containerDefinitions"].([]any)[0].(map[string]any)
	if reg["family"] != "sleep360" || cd["image"] != "busybox" || cd["memory"] != nil || cd["memoryReservation"] != nil || reg["memory"] != nil {
		t.Fatalf("registered: %v", reg)
	}
	td := fmt.Sprintf("sleep360:%v", reg["revision"])

	arns := p.runTasks(t, td, 3)
	for _, arn := range arns {
		task := waitTask(t, c, arn, 2*time.Minute, status("RUNNING"))
		if m := aws.ToString(task.Containers[0].Memory); m != "" {
			t.Fatalf("container memory %q, want none", m)
		}
		if hc := hostConfig(t, runtimeID(t, task)); hc.Memory != 0 {
			t.Fatalf("task %s: docker Memory %d, want 0 (no limit)", arn, hc.Memory)
		}
	}

	// Overrides are applied to the container, not only reserved.
	for _, tc := range []struct {
		name      string
		overrides string
		memory    int64 // bytes
		nanoCPUs  int64
	}{
		{"task cpu and memory", `{"cpu":"256","memory":"64"}`, 64 << 20, 250_000_000},
		{"container memory", `{"containerOverrides":[{"name":"sleep","memory":48}]}`, 48 << 20, 0},
	} {
		out := p.aws(t, "ecs", "run-task", "--task-definition", td, "--overrides", tc.overrides)
		tasks, _ := out["tasks"].([]any)
		if len(tasks) != 1 {
			t.Fatalf("%s: run-task: %v", tc.name, out)
		}
		arn := tasks[0].(map[string]any)["taskArn"].(string)
		task := waitTask(t, c, arn, 2*time.Minute, status("RUNNING"))
		if hc := hostConfig(t, runtimeID(t, task)); hc.Memory != tc.memory || hc.NanoCPUs != tc.nanoCPUs {
			t.Fatalf("%s: docker Memory %d NanoCpus %d, want %d and %d", tc.name, hc.Memory, hc.NanoCPUs, tc.memory, tc.nanoCPUs)
		}
	}

	// The examples' copy of the tutorial file, with cpu 10 and memory 10.
	reg = p.aws(t, "ecs", "register-task-definition", "--cli-input-json", "file://examples/taskdefs/sleep360.json")["taskDefinition"].(map[string]any)
	arn := p.runTasks(t, fmt.Sprintf("sleep360:%v", reg["revision"]), 1)[0]
	task := waitTask(t, c, arn, 2*time.Minute, status("RUNNING"))
	if hc := hostConfig(t, runtimeID(t, task)); hc.Memory != 10<<20 || hc.CPUShares != 10 {
		t.Fatalf("examples sleep360: docker Memory %d CpuShares %d, want 10 MiB and 10", hc.Memory, hc.CPUShares)
	}
	p.stop(t, syscall.SIGTERM)
}

// runtimeID is the Docker id of a task's only container.
func runtimeID(t testing.TB, task ecstypes.Task) string {
	t.Helper()
	if len(task.Containers) != 1 || aws.ToString(task.Containers[0].RuntimeId) == "" {
		t.Fatalf("task %s containers: %+v", aws.ToString(task.TaskArn), task.Containers)
	}
	return aws.ToString(task.Containers[0].RuntimeId)
}

// dockerLimits are the resource limits docker inspect reports.
type dockerLimits struct {
	Memory    int64
	NanoCPUs  int64
	CPUShares int64
}

func hostConfig(t testing.TB, id string) dockerLimits {
	t.Helper()
	out := dockerCmd(t, "inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}}", id)
	f := strings.Fields(out)
	if len(f) != 3 {
		t.Fatalf("docker inspect %s: %q", id, out)
	}
	var l dockerLimits
	for i, p := range []*int64{&l.Memory, &l.NanoCPUs, &l.CPUShares} {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			t.Fatalf("docker inspect %s: %q", id, out)
		}
		*p = n
	}
	return l
}

// ensureLocalBusybox makes sure Docker has an image busybox:latest, as the
// tutorial's "image": "busybox" names, without Docker Hub: when it is
// absent, the test busybox image (the host's /bin/busybox) is loaded under
// that name. The agent's pull of busybox then fails (no Docker Hub) and it
// uses the local image, as ECS_IMAGE_PULL_BEHAVIOR=default does. The image
// is left in place: other tests may be using it.
func ensureLocalBusybox(t testing.TB) {
	t.Helper()
	if exec.Command("docker", "image", "inspect", "busybox:latest").Run() == nil {
		return
	}
	tag, err := name.NewTag("busybox:latest")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "busybox.tar")
	if err := tarball.WriteToFile(path, tag, busyboxImage(t)); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("docker", "load", "-i", path).CombinedOutput(); err != nil {
		t.Fatalf("docker load: %v\n%s", err, out)
	}
	_ = os.Remove(path)
}
