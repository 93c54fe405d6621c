package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/services/agent/engine"
)

func TestParseMemTotal(t *testing.T) {
	mib, err := parseMemTotal(strings.NewReader("MemFree: 1 kB\nMemTotal:       24684096 kB\n"))
	if err != nil || mib != 24684096/1024 {
		t.Errorf("got %d, %v", mib, err)
	}
	if _, err := parseMemTotal(strings.NewReader("MemFree: 1 kB\n")); err == nil {
		t.Error("no MemTotal: want an error")
	}
	if mib, err := memTotalMiB("/proc/meminfo"); err != nil || mib <= 0 {
		t.Errorf("/proc/meminfo: %d, %v", mib, err)
	}
}

func TestArchName(t *testing.T) {
	for in, want := range map[string]string{"amd64": "x86_64", "x86_64": "x86_64", "arm64": "arm64", "aarch64": "arm64", "riscv64": "riscv64"} {
		if got := archName(in); got != want {
			t.Errorf("archName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseLists(t *testing.T) {
	if p, err := ParsePorts("[22, 2375]"); err != nil || !slices.Equal(p, []int{22, 2375}) {
		t.Errorf("JSON ports: %v %v", p, err)
	}
	if p, err := ParsePorts(" 80, 443 "); err != nil || !slices.Equal(p, []int{80, 443}) {
		t.Errorf("comma ports: %v %v", p, err)
	}
	if p, err := ParsePorts("[]"); err != nil || p == nil || len(p) != 0 {
		t.Errorf("empty JSON list: %v %v (want an empty, non-nil list)", p, err)
	}
	for _, bad := range []string{"[70000]", "a,b", "[1,", "0"} {
		if _, err := ParsePorts(bad); err == nil {
			t.Errorf("ParsePorts(%q): want an error", bad)
		}
	}
	if m, err := ParseAttributes(`{"stack":"prod","team":"a"}`); err != nil || m["stack"] != "prod" || len(m) != 2 {
		t.Errorf("attributes: %v %v", m, err)
	}
	for _, bad := range []string{`{"a":1}`, `[1]`, `{"":"x"}`} {
		if _, err := ParseAttributes(bad); err == nil {
			t.Errorf("ParseAttributes(%q): want an error", bad)
		}
	}
	if l, err := ParseStringList(`["json-file","none"]`); err != nil || !slices.Equal(l, []string{"json-file", "none"}) {
		t.Errorf("JSON list: %v %v", l, err)
	}
	if l, err := ParseStringList("a, b,,"); err != nil || !slices.Equal(l, []string{"a", "b"}) {
		t.Errorf("comma list: %v %v", l, err)
	}
}

func TestRegisterRequest(t *testing.T) {
	cfg := Config{ReservedMemoryMiB: 512, ReservedPortsUDP: []int{53},
		Attributes: map[string]string{"zone": "x", attrInstanceType: "custom"}}.withDefaults()
	h := hostFacts{CPUs: 4, MemoryMiB: 8192, Arch: "arm64", DockerVersion: "20.10.24", APIVersion: "1.41"}
	req := registerRequest(cfg, h, "i-0123", []int{40000, 51678})
	if req.Cluster != "default" || req.VersionInfo.DockerVersion != "DockerVersion: 20.10.24" {
		t.Errorf("request %+v", req)
	}
	want := []ecsapi.Resource{
		{Name: "CPU", Type: "INTEGER", IntegerValue: awsjson.Int32(4096)},
		{Name: "MEMORY", Type: "INTEGER", IntegerValue: awsjson.Int32(7680)},
		{Name: "PORTS", Type: "STRINGSET", StringSetValue: []string{"22", "2375", "2376", "40000", "51678", "51679"}},
		{Name: "PORTS_UDP", Type: "STRINGSET", StringSetValue: []string{"53"}},
	}
	got, _ := json.Marshal(req.TotalResources)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Errorf("resources\n got %s\nwant %s", got, exp)
	}
	attrs := map[string]string{}
	api := 0
	for _, a := range req.Attributes {
		attrs[a.Name] = a.Value
		if strings.HasPrefix(a.Name, events.CapDockerAPI) {
			api++
		}
	}
	if api != 41-17+1 || attrs[attrArch] != "arm64" || attrs[attrInstanceType] != "custom" || attrs["zone"] != "x" ||
		attrs[attrAZ] != "us-east-1a" || attrs[attrOSType] != "linux" {
		t.Errorf("attributes %v (%d docker API versions)", attrs, api)
	}
	var doc map[string]string
	if err := json.Unmarshal([]byte(req.InstanceIdentityDocument), &doc); err != nil || doc["instanceId"] != "i-0123" || doc["architecture"] != "arm64" {
		t.Errorf("document %s", req.InstanceIdentityDocument)
	}
}

func TestLoadIdentity(t *testing.T) {
	a, err := loadIdentity("", "m", "e", "o")
	if err != nil || !strings.HasPrefix(a.InstanceID, "i-") || len(a.InstanceID) != 19 || a.MetadataKey == "" {
		t.Fatalf("derived %+v %v", a, err)
	}
	if b, _ := loadIdentity("", "m", "e", "o"); b != a {
		t.Errorf("derivation not stable: %+v vs %+v", b, a)
	}
	if c, _ := loadIdentity("", "m", "e", "other"); c.InstanceID == a.InstanceID {
		t.Error("a different owner must give a different instance id")
	}
	dir := filepath.Join(t.TempDir(), "sub")
	p, err := loadIdentity(dir, "m", "e", "o")
	if err != nil || p.InstanceID != a.InstanceID || len(p.MetadataKey) != 64 {
		t.Fatalf("persisted %+v %v", p, err)
	}
	// Later derivations change (new machine id): the saved identity wins.
	if q, err := loadIdentity(dir, "m2", "e2", "o"); err != nil || q != p {
		t.Errorf("reloaded %+v %v, want %+v", q, err, p)
	}
	if err := os.WriteFile(filepath.Join(dir, identityFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadIdentity(dir, "m", "e", "o"); err == nil {
		t.Error("corrupt state file: want an error")
	}
}

func TestToStateReport(t *testing.T) {
	now := time.Now()
	code := 3
	r := toStateReport(engine.Report{
		TaskARN: "arn:t", Seq: 42, LastStatus: engine.TaskStopped, HealthStatus: engine.HealthUnknown,
		StopCode: "EssentialContainerExited", StoppedReason: "Essential container in task exited",
		PullStartedAt: now, StartedAt: now, ExecutionStoppedAt: now,
		Containers: []engine.ContainerReport{{Name: "app", RuntimeID: "abc", ImageDigest: "sha256:1", LastStatus: engine.ContainerStopped,
			ExitCode: &code, Reason: "r", HealthStatus: engine.HealthHealthy,
			NetworkBindings: []engine.NetworkBinding{{BindIP: "0.0.0.0", ContainerPort: 80, HostPort: 32768, Protocol: "tcp"}}}},
	})
	c := r.Containers[0]
	if r.TaskArn != "arn:t" || r.Seq != 42 || r.LastStatus != "STOPPED" || r.StopCode != "EssentialContainerExited" ||
		r.PullStartedAt == nil || r.PullStoppedAt != nil || r.StartedAt == nil || r.ExecutionStoppedAt == nil {
		t.Errorf("task %+v", r)
	}
	if c.Name != "app" || c.RuntimeID != "abc" || c.LastStatus != "STOPPED" || *c.ExitCode != 3 || c.HealthStatus != "HEALTHY" ||
		len(c.NetworkBindings) != 1 || *c.NetworkBindings[0].HostPort != 32768 || c.ImageDigest != "sha256:1" {
		t.Errorf("container %+v", c)
	}
	if r := toStateReport(engine.Report{TaskARN: "x"}); r.LastStatus != "PENDING" || r.Containers == nil {
		t.Errorf("NONE maps to %q; containers %v", r.LastStatus, r.Containers)
	}
}

// The outbox keeps order, coalesces unsent snapshots of one status, and
// retries until the publisher succeeds.
func TestOutbox(t *testing.T) {
	o := newOutbox()
	rep := func(arn, status string, seq uint64) events.TaskStateReport {
		return events.TaskStateReport{TaskArn: arn, LastStatus: status, Seq: seq}
	}
	o.push(rep("a", "PENDING", 1))
	o.push(rep("b", "PENDING", 2))
	o.push(rep("a", "PENDING", 3)) // replaces a#1 in place
	o.push(rep("a", "RUNNING", 4))
	o.push(rep("a", "RUNNING", 5)) // replaces a#4
	if o.len() != 3 {
		t.Fatalf("len %d, want 3", o.len())
	}

	var mu sync.Mutex
	var sent []uint64
	var fails atomic.Int32
	fails.Store(3)
	publish := func(_ context.Context, r events.TaskStateReport) error {
		if fails.Add(-1) >= 0 {
			return errors.New("nats: timeout")
		}
		mu.Lock()
		sent = append(sent, r.Seq)
		mu.Unlock()
		return nil
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { runOutbox(ctx, o, publish, slogDiscard()); close(done) }()
	waitFor(t, 10*time.Second, func() error {
		if o.len() != 0 {
			return errors.New("not drained")
		}
		return nil
	})
	o.push(rep("b", "STOPPED", 6))
	waitFor(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(sent) != 4 {
			return errors.New("not sent")
		}
		return nil
	})
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(sent, []uint64{3, 2, 5, 6}) {
		t.Errorf("sent %v, want [3 2 5 6]", sent)
	}

	o.push(rep("c", "RUNNING", 7))
	if left := flushOutbox(o, func(context.Context, events.TaskStateReport) error { return errors.New("down") }, 100*time.Millisecond); left != 1 {
		t.Errorf("flush against a dead publisher left %d", left)
	}
	if left := flushOutbox(o, func(context.Context, events.TaskStateReport) error { return nil }, time.Second); left != 0 {
		t.Errorf("flush left %d", left)
	}
}

func TestDesiredState(t *testing.T) {
	d := newDesiredState()
	arn := "arn:aws:ecs:us-east-1:000000000000:task/default/aaaa"
	if !d.put(events.TaskAssignment{TaskArn: arn, Version: 2, DesiredStatus: "RUNNING"}) {
		t.Fatal("first put refused")
	}
	if d.put(events.TaskAssignment{TaskArn: arn, Version: 1, DesiredStatus: "PENDING"}) {
		t.Error("older version accepted")
	}
	d.replace(map[string]events.TaskAssignment{arn: {TaskArn: arn, Version: 1}})
	if a, _ := d.get(arn); a.Version != 2 {
		t.Errorf("replace took an older version: %+v", a)
	}
	other := "arn:aws:ecs:us-east-1:000000000000:task/default/bbbb"
	d.replace(map[string]events.TaskAssignment{other: {TaskArn: other, Version: 1}})
	if len(d.all()) != 1 || d.all()[0].TaskArn != other {
		t.Errorf("after replace: %+v", d.all())
	}
	if a, ok := d.get(arn); !ok || a.Version != 2 {
		t.Error("a replaced-away assignment should stay readable until pruned")
	}
	d.pruneGone(func(string) bool { return false })
	if _, ok := d.get(arn); ok {
		t.Error("pruned assignment still there")
	}
	if got, ok := d.remove("bbbb"); !ok || got != other || len(d.all()) != 0 {
		t.Errorf("remove: %q %v", got, ok)
	}
	task := toTask(events.TaskAssignment{TaskArn: other, DesiredStatus: "STOPPED", StopCode: "UserInitiated",
		TaskDefinition: &ecsapi.TaskDefinition{Family: "f"}, Overrides: &ecsapi.TaskOverride{Cpu: "1"}}, "c")
	if task.ARN != other || task.Cluster != "c" || task.DesiredStatus != engine.DesiredStopped || task.StopCode != "UserInitiated" ||
		task.Definition.Family != "f" || task.Overrides.Cpu != "1" {
		t.Errorf("toTask %+v", task)
	}
}

// The pull token is fetched from the registry's internal endpoint (no
// access key), cached, renewed near expiry, and given only to Berth's
// registry.
func TestRegistryAuth(t *testing.T) {
	s := natstest.Start(t)
	nc := natstest.Connect(t, s)
	var calls atomic.Int32
	var gotReq atomic.Value
	sub, err := nc.Subscribe(events.SubjRegistryPullToken, func(m *nats.Msg) {
		calls.Add(1)
		var req events.RegistryPullTokenRequest
		_ = json.Unmarshal(m.Data, &req)
		gotReq.Store(req)
		raw, _ := json.Marshal(events.RegistryPullTokenReply{
			AuthorizationToken: base64.StdEncoding.EncodeToString([]byte("AWS:secret")),
			ExpiresAt:          time.Now().Add(time.Hour),
			ProxyEndpoint:      "http://127.0.0.1:5000",
		})
		_ = m.Respond(raw)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	cfg := Config{Owner: "owner-a", RegistryHosts: []string{"registry.internal:443"}}.withDefaults()
	ra := newRegistryAuth(nc, cfg, slogDiscard())
	ctx := t.Context()
	for _, img := range []string{"127.0.0.1:5000/app:1", "localhost:5000/app", "000000000000.dkr.ecr.us-east-1.localhost:5000/app@sha256:" + strings.Repeat("a", 64), "registry.internal:443/x"} {
		auth, err := ra.Auth(ctx, img)
		if err != nil || auth == nil || auth.Username != "AWS" || auth.Password != "secret" || auth.ServerAddress != "http://127.0.0.1:5000" {
			t.Errorf("%s: %v, %v", img, auth, err)
		}
	}
	for _, img := range []string{"busybox", "docker.io/library/nginx:1", "127.0.0.1:5001/app", "123456789012.dkr.ecr.us-east-1.amazonaws.com/app"} {
		if auth, err := ra.Auth(ctx, img); err != nil || auth != nil {
			t.Errorf("%s: %v, %v (want anonymous)", img, auth, err)
		}
	}
	if calls.Load() != 1 || gotReq.Load() != (events.RegistryPullTokenRequest{Requester: "owner-a"}) {
		t.Errorf("%d calls, request %+v; want 1 call from owner-a", calls.Load(), gotReq.Load())
	}
	ra.now = func() time.Time { return time.Now().Add(50 * time.Minute) } // inside the refresh margin
	if auth, _ := ra.Auth(ctx, "127.0.0.1:5000/app"); auth == nil || calls.Load() != 2 {
		t.Errorf("near expiry: %v after %d calls, want a renewal", auth, calls.Load())
	}

	// No registry service: anonymous, and no new request during the back-off.
	bare := newRegistryAuth(natstest.Connect(t, natstest.Start(t)), cfg, slogDiscard())
	for range 2 {
		if auth, err := bare.Auth(ctx, "127.0.0.1:5000/app"); auth != nil || err != nil {
			t.Errorf("without a registry: %v, %v", auth, err)
		}
	}
	if bare.failedAt.IsZero() {
		t.Error("failure not remembered")
	}
}

func TestContainerEnvAndMetadataID(t *testing.T) {
	a := &Agent{metaKey: []byte("k1"), hostBase: "http://127.0.0.1:51679", bridgeBase: "http://172.17.0.1:51679"}
	arn := "arn:aws:ecs:us-east-1:000000000000:task/default/0123456789abcdef0123456789abcdef"
	id := a.metadataID(arn, "app")
	if !strings.HasPrefix(id, "0123456789abcdef0123456789abcdef-") || id != a.metadataID(arn, "app") || id == a.metadataID(arn, "web") {
		t.Errorf("id %s", id)
	}
	if (&Agent{metaKey: []byte("k2")}).metadataID(arn, "app") == id {
		t.Error("the id must depend on the key")
	}
	for mode, want := range map[string]string{"host": a.hostBase, "": a.bridgeBase, "bridge": a.bridgeBase, "none": "", "awsvpc": a.bridgeBase} {
		env := a.containerEnv(arn, &ecsapi.TaskDefinition{NetworkMode: mode}, "app")
		if want == "" {
			if env != nil {
				t.Errorf("%q: %v, want none", mode, env)
			}
			continue
		}
		if env[EnvMetadataURIV4] != want+"/v4/"+id || env[EnvMetadataURIV3] != want+"/v3/"+id {
			t.Errorf("%q: %v", mode, env)
		}
	}
	a.bridgeBase = ""
	if env := a.containerEnv(arn, &ecsapi.TaskDefinition{}, "app"); env != nil {
		t.Errorf("bridge without a bridge listener: %v", env)
	}
}

// Without Docker, Probe and Run fail at once with ErrNoDocker and the address.
func TestNoDocker(t *testing.T) {
	t.Parallel()
	const host = "unix:///nonexistent/berth/docker.sock"
	err := Probe(t.Context(), host)
	if !errors.Is(err, ErrNoDocker) || !strings.Contains(err.Error(), "cannot reach Docker at "+host+": ") {
		t.Fatalf("Probe: %v", err)
	}
	e := newEnv(t, true)
	cfg := e.config()
	cfg.DockerHost = host
	a, err := New(cfg, e.nc)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = a.Run(t.Context())
	if !errors.Is(err, ErrNoDocker) || time.Since(start) > probeTimeout+time.Second {
		t.Fatalf("Run: %v after %v", err, time.Since(start))
	}
	if _, err := New(Config{PullBehavior: "sometimes"}, e.nc); err == nil {
		t.Error("New accepted a bad pull behavior")
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Error("New accepted a nil connection")
	}
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestLimiter(t *testing.T) {
	l := newLimiter(40, 60)
	n := 0
	for range 100 {
		if l.allow() {
			n++
		}
	}
	if n < 60 || n > 62 {
		t.Errorf("%d of 100 immediate requests allowed, want the burst of 60", n)
	}
	l.last = l.last.Add(-time.Second) // a second later: 40 more
	n = 0
	for range 100 {
		if l.allow() {
			n++
		}
	}
	if n < 40 || n > 42 {
		t.Errorf("%d allowed after a second, want 40", n)
	}
}
