package main

import (
	"encoding/json"
	"fmt"
	"net"
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

// TestE2E_DockerAwslogsDriver runs Docker's own awslogs log driver against
// Berth: a private dockerd (its own --data-root, --exec-root, --pidfile and
// unix socket, AWS_* credentials of Berth's root key in its environment,
// --bridge=none --iptables=false) and a berth all-in-one both run in a
// private network namespace (so the private daemon's bridge handling can
// never touch the host's docker0, and awslogs-endpoint=http://127.0.0.1
// reaches Berth). `docker run --log-driver awslogs` of a busybox image
// imported into the private daemon writes its lines; get-log-events reads
// them back.
func TestE2E_DockerAwslogsDriver(t *testing.T) {
	for _, tool := range []string{"unshare", "nsenter", "dockerd", "docker", "ip"} {
		testenv.RequireTool(t, tool)
	}
	awsBin := testenv.RequireTool(t, "aws")
	if os.Geteuid() != 0 {
		if testenv.Required() {
			t.Fatal("a private dockerd needs root")
		}
		t.Skip("a private dockerd needs root")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skipf("no /bin/busybox: %v", err)
	}
	t.Parallel()
	bin := buildBerth(t)
	dir, err := os.MkdirTemp("", "berth-drv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })

	holder := exec.Command("unshare", "-n", "sleep", "900")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	netns := fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid)
	// unshare switches namespaces after it starts: wait for it.
	natstest.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		mine, _ := os.Readlink("/proc/self/ns/net")
		if theirs, err := os.Readlink(netns); err != nil || theirs == mine {
			return fmt.Errorf("not in its own network namespace yet (%v)", err)
		}
		return nil
	})
	inNS := func(name string, args ...string) *exec.Cmd {
		return exec.Command("nsenter", append([]string{"--net=" + netns, name}, args...)...)
	}
	if out, err := inNS("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v\n%s", err, out)
	}

	// Berth in the namespace.
	_, apiPort, _ := net.SplitHostPort(testenv.FreeAddr(t))
	api := "127.0.0.1:" + apiPort
	data := filepath.Join(dir, "berth")
	berth := inNS(bin, "--data", data, "--api-addr", api, "--nats-addr", "127.0.0.1:"+freePort(t), "--registry-addr", "127.0.0.1:"+freePort(t),
		"--account", testenv.Account, "--region", testenv.Region, "--no-agent")
	berth.Env = append(os.Environ(), "BERTH_DATA=", "DOCKER_HOST=")
	blog := &testenv.SafeBuffer{}
	berth.Stdout, berth.Stderr = blog, blog
	if err := berth.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = berth.Process.Signal(syscall.SIGTERM)
		_ = berth.Wait()
		if t.Failed() {
			t.Logf("berth log:\n%s", blog.String())
		}
	})
	cli := func(args ...string) (string, error) {
		cmd := inNS(awsBin, append([]string{"--endpoint-url", "http://" + api, "--profile", "berth", "--output", "json"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(data, "aws", "credentials"),
			"AWS_CONFIG_FILE="+filepath.Join(data, "aws", "config"), "AWS_PAGER=", "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_PROFILE=")
		out, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), fmt.Errorf("%v: %s", err, ee.Stderr)
		}
		return string(out), err
	}
	natstest.Eventually(t, 60*time.Second, 200*time.Millisecond, func() error {
		_, err := cli("logs", "describe-log-groups")
		return err
	})
	p := &berthProc{data: data}
	keyID, secret := p.key(t)

	// The private dockerd, with Berth's key in its environment.
	sock := filepath.Join(dir, "docker.sock")
	dockerd := inNS("dockerd", "--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "docker.pid"), "-H", "unix://"+sock,
		"--bridge=none", "--iptables=false", "--ip-masq=false", "--ip-forward=false")
	dockerd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+keyID, "AWS_SECRET_ACCESS_KEY="+secret, "AWS_REGION="+testenv.Region)
	dlog := &testenv.SafeBuffer{}
	dockerd.Stdout, dockerd.Stderr = dlog, dlog
	if err := dockerd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = dockerd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = dockerd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = dockerd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("dockerd log:\n%s", dlog.String())
		}
	})
	dockerP := func(args ...string) *exec.Cmd {
		return exec.Command("docker", append([]string{"-H", "unix://" + sock}, args...)...)
	}
	natstest.Eventually(t, 60*time.Second, 200*time.Millisecond, func() error {
		return dockerP("version").Run()
	})

	// A busybox image imported into the private daemon.
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", "sh")); err != nil {
		t.Fatal(err)
	}
	imp := exec.Command("sh", "-c", fmt.Sprintf("tar -C %s -c . | docker -H unix://%s import - berth-drv:1", rootfs, sock))
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}

	group := "/docker/awslogs-driver"
	run := dockerP("run", "--rm", "--network", "none", "--log-driver", "awslogs",
		"--log-opt", "awslogs-endpoint=http://"+api, "--log-opt", "awslogs-group="+group,
		"--log-opt", "awslogs-create-group=true", "--log-opt", "awslogs-region="+testenv.Region,
		"--log-opt", "awslogs-stream=driver", "berth-drv:1", "sh", "-c", numberedLines(100, 0))
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("docker run --log-driver awslogs: %v\n%s", err, out)
	}
	// The driver flushes on container exit; docker run returns after it.
	var msgs []string
	natstest.Eventually(t, 30*time.Second, 200*time.Millisecond, func() error {
		out, err := cli("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", "driver", "--start-from-head")
		if err != nil {
			return err
		}
		var res struct{ Events []struct{ Message string } }
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			return err
		}
		msgs = msgs[:0]
		for _, e := range res.Events {
			msgs = append(msgs, e.Message)
		}
		if len(msgs) < 100 {
			return fmt.Errorf("%d lines", len(msgs))
		}
		return nil
	})
	checkNumbered(t, "docker awslogs driver", msgs, 100)
	if !strings.Contains(blog.String(), "logs serving") {
		t.Fatal("berth's logs service never started")
	}
}

func freePort(t testing.TB) string {
	_, p, _ := net.SplitHostPort(testenv.FreeAddr(t))
	return p
}
