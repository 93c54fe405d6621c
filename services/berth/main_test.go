package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
)

// berthProc is a running berth binary.
type berthProc struct {
	cmd      *exec.Cmd
	logs     *testenv.SafeBuffer
	api      string
	nats     string // --nats-addr
	registry string // --registry-addr
	data     string
	cli      testenv.CLI
}

// buildBerth builds the all-in-one binary once per test.
func buildBerth(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "berth")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startBerth starts bin without the local agent (--no-agent);
// startBerthWithAgent (e2e_helpers_test.go) starts it with one.
func startBerth(t testing.TB, bin, data string, extra ...string) *berthProc {
	t.Helper()
	return startBerthArgs(t, bin, data, append([]string{"--no-agent"}, extra...)...)
}

// startBerthArgs starts bin on free loopback ports with extra flags and
// waits for /healthz.
func startBerthArgs(t testing.TB, bin, data string, extra ...string) *berthProc {
	t.Helper()
	api, natsAddr, registryAddr := testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)
	args := append([]string{"--data", data, "--api-addr", api, "--nats-addr", natsAddr, "--registry-addr", registryAddr,
		"--account", testenv.Account, "--region", testenv.Region}, extra...)
	cmd := exec.Command(bin, args...)
	logs := &testenv.SafeBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = append(os.Environ(), "BERTH_DATA=", "DOCKER_HOST=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &berthProc{cmd: cmd, logs: logs, api: api, nats: natsAddr, registry: registryAddr, data: data, cli: testenv.CLI{Endpoint: "http://" + api, AWSDir: filepath.Join(data, "aws")}}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	natstest.Eventually(t, 60*time.Second, 100*time.Millisecond, func() error {
		resp, err := http.Get("http://" + api + "/healthz")
		if err != nil {
			// Nothing reaps the process before the cleanup, so an exit
			// shows only in what it wrote.
			return fmt.Errorf("%w; berth's output so far:\n%s", err, lastBytes(logs.String(), 4000))
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			body, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("healthz %d: %s", resp.StatusCode, body)
		}
		return nil
	})
	return p
}

// lastBytes returns the end of s, at most n bytes.
func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// stop sends sig and expects a clean exit.
func (p *berthProc) stop(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("berth exited with %v after %v:\n%s", err, sig, p.logs.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("berth did not stop after %v", sig)
	}
	if !strings.Contains(p.logs.String(), `"msg":"stopped"`) {
		t.Fatalf("no clean stop logged:\n%s", p.logs.String())
	}
}

func (p *berthProc) aws(t testing.TB, args ...string) map[string]any {
	t.Helper()
	res := p.cli.Run(t, "../..", args...)
	if res.Exit != 0 {
		t.Fatalf("aws %v: exit %d: %s", args, res.Exit, res.Stderr)
	}
	var out map[string]any
	if strings.TrimSpace(res.Stdout) != "" {
		if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, res.Stdout)
		}
	}
	return out
}

// TestBerth_QuickstartAndRestart runs the README quickstart with the aws CLI
// against the all-in-one binary, stops it with SIGTERM, starts it again on
// the same data folder and finds everything still there; then stops it with
// SIGINT.
func TestBerth_QuickstartAndRestart(t *testing.T) {
	testenv.RequireTool(t, "aws")
	t.Parallel()
	bin := buildBerth(t)
	data := t.TempDir()

	p := startBerth(t, bin, data)
	if !strings.Contains(p.logs.String(), "Point the aws CLI at it") {
		t.Fatalf("banner missing:\n%s", p.logs.String())
	}
	p.aws(t, "ecs", "create-cluster", "--cluster-name", "demo")
	for _, f := range []string{"hello-server", "sleep360", "fargate-task-definition"} {
		out := p.aws(t, "ecs", "register-task-definition", "--cli-input-json", "file://examples/taskdefs/"+f+".json")
		td := out["taskDefinition"].(map[string]any)
		if td["revision"].(float64) != 1 || td["status"] != "ACTIVE" {
			t.Fatalf("%s: %v", f, td)
		}
	}
	p.aws(t, "ecs", "register-task-definition", "--cli-input-json", "file://examples/taskdefs/sleep360.json")
	p.aws(t, "ecs", "deregister-task-definition", "--task-definition", "hello-server:1")
	p.stop(t, syscall.SIGTERM)

	// Same data folder: clusters, revisions, statuses and the access key
	// survive.
	p = startBerth(t, bin, data)
	clusters := p.aws(t, "ecs", "list-clusters")["clusterArns"].([]any)
	if len(clusters) != 1 || !strings.HasSuffix(clusters[0].(string), ":cluster/demo") {
		t.Fatalf("clusters after restart: %v", clusters)
	}
	td := p.aws(t, "ecs", "describe-task-definition", "--task-definition", "sleep360")["taskDefinition"].(map[string]any)
	if td["revision"].(float64) != 2 {
		t.Fatalf("sleep360 latest after restart: %v", td["revision"])
	}
	td = p.aws(t, "ecs", "describe-task-definition", "--task-definition", "hello-server:1")["taskDefinition"].(map[string]any)
	if td["status"] != "INACTIVE" {
		t.Fatalf("hello-server:1 after restart: %v", td["status"])
	}
	arns := p.aws(t, "ecs", "list-task-definitions")["taskDefinitionArns"].([]any)
	if len(arns) != 3 {
		t.Fatalf("active task definitions after restart: %v", arns)
	}
	// A new registration continues the revision sequence.
	td = p.aws(t, "ecs", "register-task-definition", "--cli-input-json", "file://examples/taskdefs/hello-server.json")["taskDefinition"].(map[string]any)
	if td["revision"].(float64) != 2 {
		t.Fatalf("hello-server after restart: revision %v", td["revision"])
	}
	p.stop(t, syscall.SIGINT)
}

func TestBerth_BadFlags(t *testing.T) {
	for _, args := range [][]string{{"--account", "12"}, {"--api-addr", "nocolon"}, {"stray"}} {
		var out, errb testenv.SafeBuffer
		if err := run(t.Context(), args, func(string) string { return "" }, &out, &errb); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
