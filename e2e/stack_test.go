package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// required reports whether missing tools fail the tests instead of skipping
// them (as internal/testenv.Required).
func required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("BERTH_REQUIRE_DOCKER") == "1"
}

// need fails (under CI) or skips the test when cond is false.
func need(t *testing.T, cond bool, format string, args ...any) {
	t.Helper()
	if cond {
		return
	}
	if required() {
		t.Fatalf("required (CI=true or BERTH_REQUIRE_DOCKER=1): "+format, args...)
	}
	t.Skipf(format, args...)
}

// eventually polls fn every tick until it returns nil, and fails the test
// with its last error after timeout.
func eventually(t *testing.T, timeout, tick time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(tick)
	}
}

// repoRoot is the Berth checkout this module lives in.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "compose.yaml")); err != nil {
		t.Fatalf("no compose.yaml above e2e/: %v", err)
	}
	return dir
}

// freePort returns a loopback TCP port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// stack is one compose project of Berth, reached on its own loopback ports.
type stack struct {
	root, project, owner string
	apiPort, regPort     int
	awsDir               string
	env                  []string // for docker compose
}

// registry is the registry's host:port as the host's Docker engine sees it.
func (s *stack) registry() string { return fmt.Sprintf("127.0.0.1:%d", s.regPort) }

// endpoint is the AWS API endpoint.
func (s *stack) endpoint() string { return fmt.Sprintf("http://127.0.0.1:%d", s.apiPort) }

// run runs a command in the repository root with the stack's environment
// and returns its combined output.
func (s *stack) run(ctx context.Context, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = s.root
	cmd.Env = append(append(os.Environ(), s.env...), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// compose runs docker compose on the stack's files and project.
func (s *stack) compose(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := append([]string{"compose", "-f", "compose.yaml", "-f", "deploy/compose.offline.yaml"}, args...)
	out, err := s.run(ctx, nil, "docker", full...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(full, " "), err, tail(out, 4000))
	}
	return out
}

// awsCLI runs the aws CLI against the stack as the root access key.
func (s *stack) awsCLI(ctx context.Context, args ...string) (string, error) {
	env := []string{
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(s.awsDir, "credentials"),
		"AWS_CONFIG_FILE=" + filepath.Join(s.awsDir, "config"),
		"AWS_PROFILE=berth", "AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_MAX_ATTEMPTS=1", // count every call: no silent client retries
	}
	full := append([]string{"--endpoint-url", s.endpoint(), "--cli-read-timeout", "15", "--output", "json"}, args...)
	cmd := exec.CommandContext(ctx, "/usr/bin/aws", full...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("aws %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// aws runs the aws CLI and decodes its JSON answer into out (if not nil).
func (s *stack) aws(t *testing.T, out any, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	raw, err := s.awsCLI(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(raw), out); err != nil {
			t.Fatalf("aws %v: decode %q: %v", args, tail(raw, 500), err)
		}
	}
}

// container is the docker name of replica n of a compose service.
func (s *stack) container(service string, n int) string {
	return fmt.Sprintf("%s-%s-%d", s.project, service, n)
}

// events runs `berth events --all` inside a gateway container and returns
// the lines read until every want substring was seen (or the timeout).
func (s *stack) events(t *testing.T, timeout time.Duration, want ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "compose", "-f", "compose.yaml", "-f", "deploy/compose.offline.yaml",
		"exec", "-T", "gateway", "/bin/berth", "events", "--all", "--nats-creds", "/var/lib/berth/secrets/nats-events.json")
	cmd.Dir = s.root
	cmd.Env = append(os.Environ(), s.env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cancel()
	var lines []string
	missing := map[string]bool{}
	for _, w := range want {
		missing[w] = true
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for len(missing) > 0 && sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		for w := range missing {
			if strings.Contains(line, w) {
				delete(missing, w)
			}
		}
	}
	if len(missing) > 0 {
		t.Fatalf("berth events: after %d events, never saw %v", len(lines), keys(missing))
	}
	return lines
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func jsonDecode(raw string, v any) error { return json.Unmarshal([]byte(raw), v) }
