package engine

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/services/agent/docker"
	"github.com/berth-project/berth/services/agent/docker/dockertest"
)

// awsvpc: each task gets its own network namespace and address on the
// agent's network; its containers share it (localhost), the host reaches
// the task at its address, two tasks get two addresses, and a stopped task
// gives its address back. The pause container never shows in reports.
func TestEngine_AWSVPC(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	netw := dockertest.AWSVPCNetwork(t, h.c, h.owner)
	cfg := h.config()
	cfg.AWSVPC = &AWSVPC{Network: netw.Name, PauseImage: docker.DefaultPauseImage}
	e, _ := h.start(cfg)

	web := func() ecsapi.ContainerDefinition {
		return ecsapi.ContainerDefinition{Name: "web", Command: []string{"httpd", "-f", "-p", "80", "-h", "/www"},
			PortMappings: []ecsapi.PortMapping{{ContainerPort: ptr[int32](80), HostPort: ptr[int32](80)}}}
	}
	// probe reaches web on localhost, then exits 0 (1 if it never does).
	probe := ecsapi.ContainerDefinition{Name: "probe", Essential: ptr(false), Command: []string{"sh", "-c",
		`for i in $(seq 100); do wget -qO- http://127.0.0.1:80/ | grep -q "hello from berth" && exit 0; sleep 0.1; done; exit 1`}}
	a, b := h.task("a", web(), probe), h.task("b", web())
	for _, tk := range []*Task{&a, &b} {
		tk.Definition.NetworkMode = "awsvpc"
	}
	if err := e.Sync(t.Context(), []Task{a, b}); err != nil {
		t.Fatal(err)
	}
	ra := h.waitFor(a.ARN, 30*time.Second, "probe exited", func(r Report) bool {
		p, _ := r.Container("probe")
		return r.LastStatus >= TaskRunning && p.LastStatus == ContainerStopped
	})
	rb := h.waitStatus(b.ARN, 30*time.Second, TaskRunning)
	if p, _ := ra.Container("probe"); p.ExitCode == nil || *p.ExitCode != 0 {
		t.Fatalf("probe could not reach web on localhost: %s", summary(ra))
	}
	addr := map[string]netip.Addr{}
	for _, r := range []Report{ra, rb} {
		for _, c := range r.Containers {
			if c.Name == docker.PauseContainerName || strings.Contains(c.Name, "pause") {
				t.Errorf("pause container reported: %s", summary(r))
			}
		}
		n := r.Network
		if n == nil || !n.Attached || n.MacAddress == "" || n.DockerNetwork != netw.Name || n.Gateway != netw.Gateway.String() {
			t.Fatalf("%s: network %+v", r.TaskARN, n)
		}
		ip, err := netip.ParseAddr(n.IPv4Address)
		if err != nil || !netw.Subnet.Contains(ip) || n.PrefixLen != netw.Subnet.Bits() {
			t.Fatalf("%s: address %s/%d not in %s", r.TaskARN, n.IPv4Address, n.PrefixLen, netw.Subnet)
		}
		addr[r.TaskARN] = ip
	}
	if addr[a.ARN] == addr[b.ARN] {
		t.Fatalf("both tasks have %s", addr[a.ARN])
	}
	if got := len(rb.Containers); got != 1 {
		t.Errorf("task b reports %d containers, want 1", got)
	}
	// The host reaches each task at its own address.
	for arn, ip := range addr {
		dockertest.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
			resp, err := http.Get(fmt.Sprintf("http://%s:80/", ip))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(body), "hello from berth") {
				return fmt.Errorf("%s: %q", arn, body)
			}
			return nil
		})
	}
	wa, _ := ra.Container("web")
	if in := h.inspect(wa.RuntimeID); !strings.HasPrefix(in.NetworkMode, "container:") || len(in.Ports) != 0 {
		t.Errorf("web: network mode %q, published ports %v", in.NetworkMode, in.Ports)
	}
	if info, err := h.c.InspectNetwork(t.Context(), netw.Name); err != nil || info.Endpoints != 2 {
		t.Fatalf("network endpoints %d (%v), want 2", info.Endpoints, err)
	}

	// Stopping a task gives its address back.
	if err := e.StopTask(t.Context(), a.ARN, StopCodeUserInitiated, "bye"); err != nil {
		t.Fatal(err)
	}
	ra = h.waitStatus(a.ARN, 30*time.Second, TaskStopped)
	if ra.Network == nil || ra.Network.Attached || ra.Network.IPv4Address != addr[a.ARN].String() {
		t.Errorf("stopped task's network %+v", ra.Network)
	}
	dockertest.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		info, err := h.c.InspectNetwork(t.Context(), netw.Name)
		if err != nil || info.Endpoints != 1 {
			return fmt.Errorf("network endpoints %d (%v), want 1", info.Endpoints, err)
		}
		return nil
	})
}

// Without an awsvpc network, awsvpc tasks are refused as before.
func TestEngine_AWSVPCOff(t *testing.T) {
	t.Parallel()
	h, _ := newFakeHarness(t)
	e, _ := h.start(h.config())
	task := h.task("t", ecsapi.ContainerDefinition{Name: "app"})
	task.Definition.NetworkMode = "awsvpc"
	if err := e.Upsert(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	r := h.waitStatus(task.ARN, 5*time.Second, TaskStopped)
	if r.StopCode != StopCodeTaskFailedToStart || !strings.Contains(r.StoppedReason, "awsvpc") {
		t.Fatalf("%s", summary(r))
	}
}

// 50 awsvpc tasks come and go (10 at a time): every one gets an address,
// and afterwards no address, namespace or container is left. Not parallel:
// its load on the Docker daemon would slow the other tests down.
func TestEngine_AWSVPCNoLeaks(t *testing.T) {
	h := newHarness(t)
	netw := dockertest.AWSVPCNetwork(t, h.c, h.owner)
	cfg := h.config()
	cfg.AWSVPC = &AWSVPC{Network: netw.Name, PauseImage: docker.DefaultPauseImage}
	cfg.CleanupDelay = 10 * time.Millisecond
	e, _ := h.start(cfg)

	const runs, batch = 50, 10
	for i := 0; i < runs; i += batch {
		var tasks []Task
		for j := i; j < i+batch; j++ {
			tk := h.task(fmt.Sprintf("run%d", j), ecsapi.ContainerDefinition{Name: "app", Command: []string{"true"}})
			tk.Definition.NetworkMode = "awsvpc"
			tasks = append(tasks, tk)
		}
		for _, tk := range tasks {
			if err := e.Upsert(t.Context(), tk); err != nil {
				t.Fatal(err)
			}
		}
		for _, tk := range tasks {
			r := h.waitStatus(tk.ARN, time.Minute, TaskStopped)
			app, _ := r.Container("app")
			if app.ExitCode == nil || *app.ExitCode != 0 || r.Network == nil || r.Network.Attached {
				t.Fatalf("run: %s, network %+v", summary(r), r.Network)
			}
			if ip, err := netip.ParseAddr(r.Network.IPv4Address); err != nil || !netw.Subnet.Contains(ip) {
				t.Fatalf("address %q outside %s", r.Network.IPv4Address, netw.Subnet)
			}
		}
	}
	dockertest.Eventually(t, time.Minute, 100*time.Millisecond, func() error {
		info, err := h.c.InspectNetwork(t.Context(), netw.Name)
		if err != nil || info.Endpoints != 0 {
			return fmt.Errorf("network endpoints %d (%v)", info.Endpoints, err)
		}
		list, err := h.c.ListContainers(t.Context(), map[string]string{docker.LabelManaged: h.owner})
		if err != nil || len(list) != 0 {
			return fmt.Errorf("%d containers left (%v)", len(list), err)
		}
		return nil
	})
}
