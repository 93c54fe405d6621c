package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/testenv"
)

// Markers around the README's runnable quickstart: every ```sh block
// between them runs, in order, in one bash.
const (
	quickstartBegin = "<!-- quickstart:begin"
	quickstartEnd   = "<!-- quickstart:end"
)

// TestReadme_Quickstart runs the README's quickstart as a newcomer would:
// Berth (with its local agent) on a fresh data folder and free ports, then
// the README's shell blocks, in order, in one bash with -euo pipefail, with
// the real aws CLI, docker and curl, and no Docker Hub. The blocks read
// Berth's own BERTH_* variables for the addresses and the data folder; the
// agent owner label is the test's own.
func TestReadme_Quickstart(t *testing.T) {
	requireDocker(t)
	testenv.RequireTool(t, "curl")
	testenv.RequireTool(t, "bash")
	goBin := testenv.RequireTool(t, "go")
	t.Parallel()
	script := quickstartScript(t, filepath.Join("..", "..", "README.md"))

	bin := buildBerth(t)
	owner := e2eOwner(t)
	data := t.TempDir()
	intro, meta := testenv.FreeAddr(t), testenv.FreeAddr(t)
	p := startBerthArgs(t, bin, data, "--agent-introspection-addr", intro, "--agent-metadata-addr", meta,
		"--agent-owner", owner, "--agent-task-cleanup-wait", e2eCleanupWait.String())
	waitInstances(t, p.ecs(t), "default", 1)
	t.Cleanup(func() { removeImage(t, p.registry+"/hello:v1") })

	// The README says `aws`: make it Debian's CLI v2 whatever else is on
	// PATH.
	tools := t.TempDir()
	if err := os.Symlink(testenv.RequireTool(t, "aws"), filepath.Join(tools, "aws")); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PATH=" + tools + string(os.PathListSeparator) + filepath.Dir(goBin) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"BERTH_DATA=" + data,
		"BERTH_API_ADDR=" + p.api,
		"BERTH_REGISTRY_ADDR=" + p.registry,
		"BERTH_NATS_URL=nats://" + p.nats,
		"BERTH_AGENT_INTROSPECTION_ADDR=" + intro,
		"BERTH_AGENT_METADATA_ADDR=" + meta,
		"BERTH_AGENT_OWNER=" + owner,
		"DOCKER_CONFIG=" + t.TempDir(), // docker login writes here, not in ~/.docker
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PATH" || k == "DOCKER_CONFIG" || k == "DOCKER_HOST" || strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "BERTH_") {
			continue
		}
		env = append(env, kv)
	}
	path := filepath.Join(t.TempDir(), "quickstart.sh")
	// The trace says when each command started (bash takes no PS4 from
	// the environment when run as root).
	script = "PS4='+ [${SECONDS}s] '\n" + script
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euxo", "pipefail", path)
	cmd.Dir = filepath.Join("..", "..") // the root of the clone, as the README says
	cmd.Env = env
	var out testenv.SafeBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("README quickstart failed: %v\n%s\n--- berth:\n%s", err, out.String(), p.logs.String())
	}
	t.Logf("quickstart output:\n%s", out.String())
	for _, want := range []string{"hello from berth", `"ContainerInstanceArn"`, `"detail-type"`, "STOPPED", "line 3", "cron(0 3 * * ? *)", `"Maximum": 42`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("quickstart output lacks %q:\n%s", want, out.String())
		}
	}
}

// quickstartScript returns the ```sh blocks between the quickstart markers
// of the README, in order.
func quickstartScript(t *testing.T, readme string) string {
	t.Helper()
	f, err := os.Open(readme)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var script strings.Builder
	in, block, blocks := false, false, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, quickstartBegin):
			in = true
		case strings.HasPrefix(line, quickstartEnd):
			in = false
		case in && !block && strings.TrimSpace(line) == "```sh":
			block = true
			blocks++
		case block && strings.TrimSpace(line) == "```":
			block = false
			script.WriteString("\n")
		case block:
			script.WriteString(line + "\n")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	s := script.String()
	for _, want := range []string{"docker build", "docker push", "run-task", "curl", "events"} {
		if !strings.Contains(s, want) {
			t.Fatalf("README quickstart (%d blocks between the markers) has no %q: are the markers there?", blocks, want)
		}
	}
	return s
}
