package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/services/agent/docker"
	"github.com/berth-project/berth/services/agent/engine"
)

var imageCleanupOff = engine.ImageCleanup{Disabled: true}

// The host is registered with its resources, attributes and identity; the
// cluster is created first; heartbeats are published.
func TestAgent_RegistersHostAndHeartbeats(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	cfg := e.config()
	cfg.Cluster = "prod"
	e.cluster = "prod"
	cfg.ReservedMemoryMiB = 256
	cfg.ReservedPortsUDP = []int{161}
	cfg.Attributes = map[string]string{"stack": "blue", "ecs.instance-type": "big"}
	a, _ := e.start(cfg)

	e.mu.Lock()
	regs, clusters := slices.Clone(e.registers), slices.Clone(e.clusters)
	e.mu.Unlock()
	if len(clusters) == 0 || clusters[0] != "prod" || len(regs) != 1 {
		t.Fatalf("CreateCluster %v, %d registrations", clusters, len(regs))
	}
	req := regs[0]
	if req.Cluster != "prod" || req.VersionInfo == nil || req.VersionInfo.AgentVersion != Version ||
		!strings.HasPrefix(req.VersionInfo.DockerVersion, "DockerVersion: ") {
		t.Errorf("request: cluster %q version %+v", req.Cluster, req.VersionInfo)
	}
	res := map[string]ecsapi.Resource{}
	for _, r := range req.TotalResources {
		res[r.Name] = r
	}
	facts := a.host
	if cpu := res["CPU"]; cpu.Type != "INTEGER" || *cpu.IntegerValue != int32(facts.CPUs*1024) || facts.CPUs < 1 {
		t.Errorf("CPU = %+v (cpus %d)", cpu, facts.CPUs)
	}
	if mem := res["MEMORY"]; *mem.IntegerValue != int32(facts.MemoryMiB-256) || facts.MemoryMiB < 256 {
		t.Errorf("MEMORY = %d, host %d MiB", *mem.IntegerValue, facts.MemoryMiB)
	}
	ports := res["PORTS"].StringSetValue
	for _, p := range []string{"22", "2375", "2376", "51678", "51679", portOf(a.IntrospectionAddr()), portOf(a.MetadataAddr())} {
		if !slices.Contains(ports, p) {
			t.Errorf("PORTS %v lacks %s", ports, p)
		}
	}
	if udp := res["PORTS_UDP"].StringSetValue; !slices.Equal(udp, []string{"161"}) {
		t.Errorf("PORTS_UDP = %v", udp)
	}
	attrs := map[string]string{}
	for _, at := range req.Attributes {
		attrs[at.Name] = at.Value
	}
	for name, want := range map[string]string{
		"ecs.os-type": "linux", "ecs.cpu-architecture": archName(runtime.GOARCH), "ecs.availability-zone": "us-east-1a",
		"ecs.instance-type": "big", "stack": "blue",
		"com.amazonaws.ecs.capability.docker-remote-api.1.17":   "",
		"com.amazonaws.ecs.capability.docker-remote-api.1.41":   "",
		"com.amazonaws.ecs.capability.logging-driver.json-file": "",
		"com.amazonaws.ecs.capability.logging-driver.awslogs":   "",
		"com.amazonaws.ecs.capability.logging-driver.none":      "",
		"com.amazonaws.ecs.capability.ecr-auth":                 "",
		"ecs.capability.container-health-check":                 "",
		"ecs.capability.container-ordering":                     "",
	} {
		if got, ok := attrs[name]; !ok || got != want {
			t.Errorf("attribute %s = %q (present %v), want %q", name, got, ok, want)
		}
	}
	var doc map[string]string
	if err := json.Unmarshal([]byte(req.InstanceIdentityDocument), &doc); err != nil || !strings.HasPrefix(doc["instanceId"], "i-") ||
		doc["instanceId"] != a.InstanceID() || doc["region"] != "us-east-1" || doc["accountId"] != testAccount {
		t.Errorf("identity document %s (%v)", req.InstanceIdentityDocument, err)
	}

	// Heartbeats.
	stream, err := e.js.Stream(t.Context(), events.StreamHeartbeats.Name)
	if err != nil {
		t.Fatal(err)
	}
	var first time.Time
	for range 2 { // two distinct heartbeats: they keep coming
		var hb events.Heartbeat
		waitFor(t, 5*time.Second, func() error {
			m, err := stream.GetLastMsgForSubject(t.Context(), events.SubjAgentHeartbeat("prod", instanceID(t, a.ContainerInstanceArn())))
			if err != nil {
				return err
			}
			if err := json.Unmarshal(m.Data, &hb); err != nil {
				return err
			}
			if !hb.At.After(first) {
				return fmt.Errorf("no new heartbeat after %v", first)
			}
			return nil
		})
		if hb.ContainerInstanceArn != a.ContainerInstanceArn() || hb.AgentVersion != Version {
			t.Errorf("heartbeat %+v", hb)
		}
		first = hb.At
	}
}

// A sleeping task runs (its report carries the container id), stops when its
// assignment turns STOPPED, and its container is removed after the cleanup
// delay.
func TestAgent_SleepTaskRunsStopsAndIsCleanedUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	t.Cleanup(e.checkForwardOnly)
	cfg := e.config()
	cfg.CleanupDelay = time.Second
	a, _ := e.start(cfg)

	asg := e.task(a.ContainerInstanceArn(), ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{sleeper("app", 0)}})
	e.put(asg)
	r := e.waitStatus(asg.TaskArn, 30*time.Second, "RUNNING")
	app := container(r, "app")
	if app.LastStatus != "RUNNING" || len(app.RuntimeID) != 64 || r.StartedAt == nil || r.PullStartedAt == nil ||
		r.ContainerInstanceArn != a.ContainerInstanceArn() || r.Seq == 0 {
		t.Fatalf("running report: %s %+v", summary(r), r)
	}
	in, err := e.dc.InspectContainer(t.Context(), app.RuntimeID)
	if err != nil || !in.Running || in.Labels[docker.LabelTaskARN] != asg.TaskArn {
		t.Fatalf("docker: %+v %v", in, err)
	}

	e.stopTask(&asg)
	r = e.waitStatus(asg.TaskArn, 30*time.Second, "STOPPED")
	app = container(r, "app")
	if r.StopCode != "UserInitiated" || r.StoppedReason != "Task stopped by user" || r.ExecutionStoppedAt == nil ||
		app.LastStatus != "STOPPED" || app.ExitCode == nil || *app.ExitCode != 0 {
		t.Fatalf("stopped report: %s", summary(r))
	}
	waitFor(t, 20*time.Second, func() error {
		if n := len(e.containers(asg.TaskArn)); n != 0 {
			return fmt.Errorf("%d containers left", n)
		}
		return nil
	})
}

// httpd with hostPort 0 gets an ephemeral host port; the report carries it
// and the server answers there.
func TestAgent_DynamicHostPort(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	a, _ := e.start(e.config())
	asg := e.task(a.ContainerInstanceArn(), ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{{
		Name:         "web",
		Command:      []string{"httpd", "-f", "-p", "80", "-h", "/www"},
		PortMappings: []ecsapi.PortMapping{{ContainerPort: ptr[int32](80), HostPort: ptr[int32](0), Protocol: "tcp"}},
	}}})
	e.put(asg)
	r := e.waitStatus(asg.TaskArn, 30*time.Second, "RUNNING")
	web := container(r, "web")
	if len(web.NetworkBindings) == 0 {
		t.Fatalf("no network bindings: %s", summary(r))
	}
	b := web.NetworkBindings[0]
	if *b.ContainerPort != 80 || *b.HostPort == 0 || b.Protocol != "tcp" || b.BindIP == "" {
		t.Fatalf("binding %+v", b)
	}
	var body []byte
	waitFor(t, 10*time.Second, func() error {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", *b.HostPort))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(resp.Body)
		return err
	})
	if !strings.Contains(string(body), "hello from berth") {
		t.Errorf("body %q", body)
	}
}

// An essential container exiting 3 stops the task: EssentialContainerExited,
// exit code 3 in the report.
func TestAgent_EssentialContainerExit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	a, _ := e.start(e.config())
	asg := e.task(a.ContainerInstanceArn(), ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{
		{Name: "job", Command: []string{"sh", "-c", "sleep 0.5; exit 3"}},
		sleeper("side", 0),
	}})
	asg.TaskDefinition.ContainerDefinitions[1].Essential = ptr(false)
	e.put(asg)
	r := e.waitStatus(asg.TaskArn, 30*time.Second, "STOPPED")
	job, side := container(r, "job"), container(r, "side")
	if r.StopCode != "EssentialContainerExited" || r.StoppedReason != "Essential container in task exited" ||
		job.ExitCode == nil || *job.ExitCode != 3 || side.LastStatus != "STOPPED" {
		t.Fatalf("%s", summary(r))
	}
}

// An image that cannot be pulled fails the task to start, with the pull error.
func TestAgent_UnknownImage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	a, _ := e.start(e.config())
	asg := e.task(a.ContainerInstanceArn(), ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{
		{Name: "app", Image: "127.0.0.1:1/berth-test/no-such-image:1"},
	}})
	e.put(asg)
	r := e.waitStatus(asg.TaskArn, 30*time.Second, "STOPPED")
	app := container(r, "app")
	if r.StopCode != "TaskFailedToStart" || !strings.HasPrefix(r.StoppedReason, "CannotPullContainerError: ") ||
		!strings.HasPrefix(app.Reason, "CannotPullContainerError: ") || app.RuntimeID != "" {
		t.Fatalf("%s", summary(r))
	}
}

// docker stop from outside: the report shows STOPPED with the container's
// real exit code.
func TestAgent_ExternalDockerStop(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	a, _ := e.start(e.config())
	asg := e.task(a.ContainerInstanceArn(), ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{sleeper("app", 7)}})
	e.put(asg)
	r := e.waitStatus(asg.TaskArn, 30*time.Second, "RUNNING")
	if err := e.dc.StopContainer(t.Context(), container(r, "app").RuntimeID, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	r = e.waitStatus(asg.TaskArn, 30*time.Second, "STOPPED")
	app := container(r, "app")
	if app.ExitCode == nil || *app.ExitCode != 7 || r.StopCode != "EssentialContainerExited" {
		t.Fatalf("%s", summary(r))
	}
}

// A deleted assignment stops a task that still runs.
func TestAgent_DeletedAssignmentStopsTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	a, _ := e.start(e.config())
	asg := e.task(a.ContainerInstanceArn(), ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{sleeper("app", 0)}})
	e.put(asg)
	r := e.waitStatus(asg.TaskArn, 30*time.Second, "RUNNING")
	e.deleteTask(asg)
	e.waitStatus(asg.TaskArn, 30*time.Second, "STOPPED")
	in, err := e.dc.InspectContainer(t.Context(), container(r, "app").RuntimeID)
	if err != nil || in.Running {
		t.Fatalf("container after delete: running=%v err=%v", in.Running, err)
	}
}

func portOf(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	return addr[i+1:]
}

func waitFor(t *testing.T, timeout time.Duration, fn func() error) {
	t.Helper()
	natstest.Eventually(t, timeout, 50*time.Millisecond, fn)
}

// pending reports whether the outbox holds an unacknowledged report of
// task arn in status.
func (o *outbox) pending(arn, status string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, it := range o.items {
		if it.r.TaskArn == arn && it.r.LastStatus == status {
			return true
		}
	}
	return false
}

// getJSON fetches url and decodes it into v; it returns the status code.
func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("%s: %v: %s", url, err, raw)
		}
	}
	return resp.StatusCode
}

// The NATS server goes away and comes back: a report made while it was down
// is delivered afterwards, and new assignments are followed again.
func TestAgent_SurvivesNATSRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	nc, err := natsutil.Connect(t.Context(), e.srv.ClientURL(), "agent", nil, natstest.Admin(t)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	a, _ := e.startOn(e.config(), nc)
	first := e.task(a.ContainerInstanceArn(), ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{sleeper("app", 7)}})
	e.put(first)
	r := e.waitStatus(first.TaskArn, 30*time.Second, "RUNNING")

	e.stopNATS()
	if err := e.dc.StopContainer(t.Context(), container(r, "app").RuntimeID, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// The STOPPED report is made while NATS is down: it waits in the outbox.
	waitFor(t, 30*time.Second, func() error {
		if !a.outbox.pending(first.TaskArn, "STOPPED") {
			return fmt.Errorf("no STOPPED report waiting in the outbox")
		}
		return nil
	})
	e.startNATS()

	r = e.waitStatus(first.TaskArn, 60*time.Second, "STOPPED")
	if c := container(r, "app"); c.ExitCode == nil || *c.ExitCode != 7 {
		t.Errorf("%s", summary(r))
	}
	second := e.task(a.ContainerInstanceArn(), ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{sleeper("app", 0)}})
	waitFor(t, 30*time.Second, func() error {
		raw, _ := json.Marshal(second)
		_, err := e.kv.Put(t.Context(), events.AssignmentKey(e.cluster, instanceID(t, second.ContainerInstanceArn), taskIDOf(second.TaskArn)), raw)
		return err
	})
	e.waitStatus(second.TaskArn, 60*time.Second, "RUNNING")
}

// fakeRegistry answers like a registry that wants Basic credentials and
// has no images, recording the Authorization headers Docker sends.
func fakeRegistry(t *testing.T) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var auths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		mu.Lock()
		auths = append(auths, h)
		mu.Unlock()
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		if h == "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(auths)
	}
}

// Pulls from Berth's registry (the proxyEndpoint of the pull token)
// carry the ECR-style credentials all the way to the registry; pulls from
// other registries carry none.
func TestAgent_RegistryCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	berth, berthAuths := fakeRegistry(t)
	other, otherAuths := fakeRegistry(t)
	e.respond(events.SubjRegistryPullToken, func([]byte) any {
		return events.RegistryPullTokenReply{
			AuthorizationToken: base64.StdEncoding.EncodeToString([]byte("AWS:s3cret")),
			ExpiresAt:          time.Now().Add(12 * time.Hour),
			ProxyEndpoint:      berth.URL,
		}
	})
	a, _ := e.start(e.config())
	var arns []string
	for _, srv := range []*httptest.Server{berth, other} {
		asg := e.task(a.ContainerInstanceArn(), ecsapi.TaskDefinition{ContainerDefinitions: []ecsapi.ContainerDefinition{
			{Name: "app", Image: strings.TrimPrefix(srv.URL, "http://") + "/team/app:1"},
		}})
		e.put(asg)
		arns = append(arns, asg.TaskArn)
	}
	for _, arn := range arns {
		r := e.waitStatus(arn, 60*time.Second, "STOPPED")
		if r.StopCode != "TaskFailedToStart" || !strings.HasPrefix(r.StoppedReason, "CannotPullContainerError: ") {
			t.Errorf("%s", summary(r))
		}
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("AWS:s3cret"))
	if got := berthAuths(); !slices.Contains(got, want) {
		t.Errorf("Berth's registry saw Authorization %q, want %q", got, want)
	}
	for _, h := range otherAuths() {
		if h != "" {
			t.Errorf("another registry got credentials: %q", h)
		}
	}
	if len(otherAuths()) == 0 {
		t.Error("the other registry was never asked")
	}
}
