package simagent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/agentproto"
	"github.com/berth-project/berth/internal/ids"
	"github.com/berth-project/berth/scheduler"
)

// Dynamic host ports are picked from this range (ECS's default when the
// host's ephemeral range is unknown).
const (
	DynamicPortMin = 49153
	DynamicPortMax = 65535
)

// Config describes one simulated container instance and how its fake
// containers behave. Zero values take the defaults noted.
type Config struct {
	// Cluster to register in (default "default").
	Cluster string
	// HostID is the instanceIdentityDocument instanceId: the same HostID
	// registers the same container instance again (default: random
	// "i-<hex>").
	HostID string
	// CPU units (1024 per core; default 2048) and memory in MiB (default
	// 4096).
	CPU    int64
	Memory int64
	// Ports are the reserved TCP ports (nil: the ECS defaults).
	Ports []int
	// AvailabilityZone (default "us-east-1a"), InstanceType (default
	// "t2.medium"), Arch (default "x86_64") become ecs.* attributes.
	AvailabilityZone string
	InstanceType     string
	Arch             string
	// Attributes are extra attributes, custom or ecs.*.
	Attributes map[string]string
	// Bare registers no capability attributes (only the platform ones):
	// an instance that cannot take tasks needing them. By default the
	// instance advertises what a Berth agent on Docker API 1.44 with the
	// default log drivers does (events.AgentCapabilities).
	Bare bool
	// AgentVersion is versionInfo.agentVersion (default "1.80.0").
	AgentVersion string
	// AWSVPCSubnet, when set ("10.200.0.0/24"), makes the instance offer
	// awsvpc and Fargate capacity (ecs.capability.task-eni, berth.fargate)
	// as a Berth agent with --awsvpc-subnet does (and Docker API 1.18,
	// which a task definition with a networkMode requires): its awsvpc tasks report
	// a network (events.TaskNetworkReport) with an address of the subnet.
	AWSVPCSubnet string

	// HeartbeatInterval (default events.HeartbeatInterval).
	HeartbeatInterval time.Duration
	// PullTime is PENDING to RUNNING (default 10 ms); RunTime is how long
	// a task runs before its essential container exits (0: until
	// stopped); StopTime is a stop request to STOPPED (default 10 ms).
	PullTime time.Duration
	RunTime  time.Duration
	StopTime time.Duration
	// ExitCode is the exit code of containers that exit on their own;
	// StopExitCode of containers stopped on request (default 143, SIGTERM).
	ExitCode     int32
	StopExitCode *int32
	// FailStart, when it returns true for a task, makes the task fail to
	// start (STOPPED, TaskFailedToStart).
	FailStart func(a events.TaskAssignment) bool
	// FullLifecycle also reports ACTIVATING, DEACTIVATING, STOPPING and
	// DEPROVISIONING.
	FullLifecycle bool
	// Hold takes assignments and never reports on them.
	Hold bool
	// Health, when set, is the health status a task reports with RUNNING
	// (default UNKNOWN), for its essential containers as well.
	Health func(a events.TaskAssignment) string

	Log *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Cluster == "" {
		c.Cluster = "default"
	}
	if c.HostID == "" {
		c.HostID = "i-" + ids.Hex32()[:17]
	}
	if c.CPU == 0 {
		c.CPU = 2048
	}
	if c.Memory == 0 {
		c.Memory = 4096
	}
	if c.AvailabilityZone == "" {
		c.AvailabilityZone = "us-east-1a"
	}
	if c.InstanceType == "" {
		c.InstanceType = "t2.medium"
	}
	if c.Arch == "" {
		c.Arch = "x86_64"
	}
	if c.AgentVersion == "" {
		c.AgentVersion = "1.80.0"
	}
	if !c.Bare {
		attrs := map[string]string{}
		for _, name := range events.AgentCapabilities(simDockerAPIMinor, simLoggingDrivers, c.AWSVPCSubnet != "") {
			attrs[name] = ""
		}
		maps.Copy(attrs, c.Attributes)
		c.Attributes = attrs
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = events.HeartbeatInterval
	}
	if c.PullTime <= 0 {
		c.PullTime = 10 * time.Millisecond
	}
	if c.StopTime <= 0 {
		c.StopTime = 10 * time.Millisecond
	}
	if c.StopExitCode == nil {
		c.StopExitCode = awsjson.Int32(143)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// The Docker API version and log drivers a simulated instance advertises.
const simDockerAPIMinor = 44

var simLoggingDrivers = []string{"json-file", "awslogs", "none"}

// request is the RegisterContainerInstance request of the instance.
func (c Config) request() ecsapi.RegisterContainerInstanceRequest {
	doc, _ := json.Marshal(map[string]string{
		"instanceId":       c.HostID,
		"availabilityZone": c.AvailabilityZone,
		"instanceType":     c.InstanceType,
		"architecture":     c.Arch,
	})
	attrs := map[string]string{
		"ecs.os-type":           "linux",
		"ecs.os-family":         "LINUX",
		"ecs.cpu-architecture":  c.Arch,
		"ecs.availability-zone": c.AvailabilityZone,
		"ecs.instance-type":     c.InstanceType,
	}
	maps.Copy(attrs, c.Attributes)
	req := ecsapi.RegisterContainerInstanceRequest{
		Cluster:                  c.Cluster,
		InstanceIdentityDocument: string(doc),
		TotalResources: []ecsapi.Resource{
			{Name: events.ResourceCPU, Type: "INTEGER", IntegerValue: awsjson.Int32(int32(c.CPU))},
			{Name: events.ResourceMemory, Type: "INTEGER", IntegerValue: awsjson.Int32(int32(c.Memory))},
		},
		VersionInfo: &ecsapi.VersionInfo{AgentVersion: c.AgentVersion, AgentHash: "simagent", DockerVersion: "DockerVersion: simulated"},
	}
	if c.Ports != nil {
		set := make([]string, 0, len(c.Ports))
		for _, p := range c.Ports {
			set = append(set, fmt.Sprint(p))
		}
		req.TotalResources = append(req.TotalResources, ecsapi.Resource{Name: events.ResourcePorts, Type: "STRINGSET", StringSetValue: set})
	}
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		req.Attributes = append(req.Attributes, ecsapi.Attribute{Name: name, Value: attrs[name]})
	}
	return req
}

// Agent is one simulated container instance.
type Agent struct {
	cfg    Config
	client *agentproto.Client
	ci     *ecsapi.ContainerInstance
	ctx    context.Context

	heartbeats atomic.Bool
	reports    atomic.Int64

	mu    sync.Mutex
	tasks map[string]*simTask // by task id
	ports map[int]bool        // dynamic host ports in use
	wg    sync.WaitGroup

	// What the fake containers hold right now and at most so far: a task
	// holds its resources from the moment its assignment arrives (after
	// the scheduler committed it) until it stopped (before the scheduler
	// hears of it), so these never exceed what the scheduler reserved.
	useCPU, useMem   int64
	peakCPU, peakMem int64
	static           map[int]bool // static host ports in use
	lastIP           int          // awsvpc addresses handed out
	portConflicts    int
}

// simTask is one task the agent plays.
type simTask struct {
	id      string
	a       events.TaskAssignment
	res     scheduler.Resources
	runtime map[string]string // container name -> runtime id
	network *events.TaskNetworkReport
	stop    chan struct{} // closed when the desired status became STOPPED
	closed  bool
	done    bool // STOPPED reported
}

// register registers one instance and returns an agent that does nothing
// yet.
func register(ctx context.Context, nc *nats.Conn, cfg Config) (*Agent, error) {
	cfg = cfg.withDefaults()
	client, ci, err := agentproto.Register(ctx, nc, cfg.request(), cfg.Log)
	if err != nil {
		return nil, fmt.Errorf("simagent: %w", err)
	}
	a := &Agent{cfg: cfg, client: client, ci: ci, ctx: ctx, tasks: map[string]*simTask{}, ports: map[int]bool{}, static: map[int]bool{}}
	a.heartbeats.Store(true)
	return a, nil
}

// Start registers one simulated instance and runs it until ctx ends: its
// heartbeats, its assignment watch and its tasks.
func Start(ctx context.Context, nc *nats.Conn, cfg Config) (*Agent, error) {
	a, err := register(ctx, nc, cfg)
	if err != nil {
		return nil, err
	}
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		t := time.NewTicker(a.cfg.HeartbeatInterval)
		defer t.Stop()
		for {
			a.sendHeartbeat(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	go func() {
		defer a.wg.Done()
		for u := range a.client.Watch(ctx) {
			a.apply(u)
		}
	}()
	return a, nil
}

// sendHeartbeat publishes one heartbeat unless heartbeats are paused.
func (a *Agent) sendHeartbeat(ctx context.Context) {
	if !a.heartbeats.Load() {
		return
	}
	hb := events.Heartbeat{AgentVersion: a.cfg.AgentVersion, RunningTasks: a.Running()}
	if err := a.client.Heartbeat(ctx, hb); err != nil && ctx.Err() == nil {
		a.cfg.Log.Warn("simagent: heartbeat failed", "err", err)
	}
}

// Wait blocks until the agent's goroutines have ended (after its context).
func (a *Agent) Wait() { a.wg.Wait() }

// InstanceArn, InstanceID and Cluster identify the registered instance.
func (a *Agent) InstanceArn() string { return a.client.InstanceArn() }

// InstanceID is the container instance's 32-hex id.
func (a *Agent) InstanceID() string { return a.client.InstanceID() }

// Cluster is the instance's cluster name.
func (a *Agent) Cluster() string { return a.client.Cluster() }

// HostID is the host identity the instance registered with.
func (a *Agent) HostID() string { return a.cfg.HostID }

// Registered is the RegisterContainerInstance answer.
func (a *Agent) Registered() *ecsapi.ContainerInstance { return a.ci }

// SetHeartbeats pauses (false) or resumes (true) the agent's heartbeats,
// to simulate an agent that lost its connection while its tasks go on.
func (a *Agent) SetHeartbeats(on bool) { a.heartbeats.Store(on) }

// Reports counts the reports the agent published.
func (a *Agent) Reports() int64 { return a.reports.Load() }

// Running counts the tasks the agent plays that have not stopped.
func (a *Agent) Running() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, t := range a.tasks {
		if !t.done {
			n++
		}
	}
	return n
}

// apply folds one assignment change into the agent's tasks.
func (a *Agent) apply(u agentproto.Update) {
	if u.Synced || u.TaskID == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.tasks[u.TaskID]
	if u.Deleted {
		if t != nil {
			a.stopLocked(t)
			a.markDoneLocked(t)
			delete(a.tasks, u.TaskID)
		}
		return
	}
	if t == nil {
		t = &simTask{id: u.TaskID, a: u.Assignment, stop: make(chan struct{})}
		a.tasks[u.TaskID] = t
		a.holdLocked(t)
		if u.Assignment.DesiredStatus == events.DesiredStopped {
			a.stopLocked(t)
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.play(t)
		}()
		return
	}
	t.a = u.Assignment
	if u.Assignment.DesiredStatus == events.DesiredStopped {
		a.stopLocked(t)
	}
}

func (a *Agent) stopLocked(t *simTask) {
	if !t.closed {
		t.closed = true
		close(t.stop)
	}
}

// play runs one fake task through its lifecycle.
func (a *Agent) play(t *simTask) {
	if a.cfg.Hold {
		return
	}
	ctx := a.ctx
	a.mu.Lock()
	asg := t.a
	a.mu.Unlock()
	td := asg.TaskDefinition
	if td == nil {
		td = &ecsapi.TaskDefinition{}
	}
	t.runtime = map[string]string{}
	for _, cd := range td.ContainerDefinitions {
		t.runtime[cd.Name] = ids.Hex32() + ids.Hex32()
	}
	pullStarted := time.Now().UTC()
	select {
	case <-t.stop:
		a.finish(ctx, t, nil, pullStarted, true)
		return
	default:
	}
	a.report(ctx, events.TaskStateReport{TaskArn: asg.TaskArn, LastStatus: events.TaskPending, PullStartedAt: &pullStarted, Containers: containers(td, events.ContainerPending, nil, nil)})
	if a.cfg.FailStart != nil && a.cfg.FailStart(asg) {
		stopped := time.Now().UTC()
		r := events.TaskStateReport{
			TaskArn: asg.TaskArn, LastStatus: events.TaskStopped,
			StopCode: events.StopTaskFailedToStart, StoppedReason: "CannotPullContainerError: simulated pull failure",
			PullStartedAt: &pullStarted, ExecutionStoppedAt: &stopped,
			Containers: containers(td, events.ContainerStopped, nil, nil),
		}
		for i := range r.Containers {
			r.Containers[i].Reason = "CannotPullContainerError: simulated pull failure"
		}
		a.report(ctx, r)
		a.markDone(t)
		return
	}
	if !sleep(ctx, t.stop, a.cfg.PullTime) {
		if ctx.Err() == nil {
			a.finish(ctx, t, nil, pullStarted, true)
		}
		return
	}
	if ctx.Err() != nil {
		return
	}
	bindings := a.bind(td)
	t.network = a.network(asg.TaskArn, td)
	started := time.Now().UTC()
	running := containers(td, events.ContainerRunning, bindings, t.runtime)
	if a.cfg.FullLifecycle {
		a.report(ctx, events.TaskStateReport{TaskArn: asg.TaskArn, LastStatus: events.TaskActivating, PullStartedAt: &pullStarted, PullStoppedAt: &started, Containers: running})
	}
	health := "UNKNOWN"
	if a.cfg.Health != nil {
		health = a.cfg.Health(asg)
		for i := range running {
			running[i].HealthStatus = health
		}
	}
	a.report(ctx, events.TaskStateReport{TaskArn: asg.TaskArn, LastStatus: events.TaskRunning, PullStartedAt: &pullStarted, PullStoppedAt: &started, StartedAt: &started, HealthStatus: health, Containers: running, Network: t.network})
	runFor := a.cfg.RunTime
	if runFor <= 0 {
		runFor = 1<<63 - 1
	}
	requested := !sleep(ctx, t.stop, runFor)
	if ctx.Err() != nil {
		return
	}
	a.finish(ctx, t, bindings, pullStarted, requested)
}

// finish stops a task: on request with StopExitCode and the assignment's
// stop code and reason, otherwise as an essential container exit.
func (a *Agent) finish(ctx context.Context, t *simTask, bindings map[string][]ecsapi.NetworkBinding, pullStarted time.Time, requested bool) {
	a.mu.Lock()
	asg := t.a
	a.mu.Unlock()
	td := asg.TaskDefinition
	if td == nil {
		td = &ecsapi.TaskDefinition{}
	}
	if requested && bindings != nil {
		if a.cfg.FullLifecycle {
			a.report(ctx, events.TaskStateReport{TaskArn: asg.TaskArn, LastStatus: events.TaskDeactivating})
			a.report(ctx, events.TaskStateReport{TaskArn: asg.TaskArn, LastStatus: events.TaskStopping})
		}
		if !sleep(ctx, nil, a.cfg.StopTime) {
			return
		}
	}
	code, reason := asg.StopCode, asg.StoppedReason
	exit := *a.cfg.StopExitCode
	if !requested {
		code, reason, exit = events.StopEssentialContainerExited, "Essential container in task exited", a.cfg.ExitCode
	}
	if a.cfg.FullLifecycle && !requested {
		a.report(ctx, events.TaskStateReport{TaskArn: asg.TaskArn, LastStatus: events.TaskDeprovisioning})
	}
	stopped := time.Now().UTC()
	r := events.TaskStateReport{
		TaskArn: asg.TaskArn, LastStatus: events.TaskStopped, StopCode: code, StoppedReason: reason,
		PullStartedAt: &pullStarted, ExecutionStoppedAt: &stopped,
		Containers: containers(td, events.ContainerStopped, bindings, t.runtime),
	}
	if bindings != nil {
		for i := range r.Containers {
			r.Containers[i].ExitCode = awsjson.Int32(exit)
		}
	}
	if t.network != nil {
		n := *t.network
		n.Attached = false
		r.Network = &n
	}
	a.report(ctx, r)
	a.release(bindings)
	a.markDone(t)
}

func (a *Agent) markDone(t *simTask) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.markDoneLocked(t)
}

func (a *Agent) markDoneLocked(t *simTask) {
	if t.done {
		return
	}
	t.done = true
	a.useCPU -= t.res.CPU
	a.useMem -= t.res.Memory
	for _, p := range t.res.TCPPorts {
		delete(a.static, p)
	}
}

// holdLocked counts a new task's resources as in use.
func (a *Agent) holdLocked(t *simTask) {
	if t.a.TaskDefinition != nil {
		t.res, _ = scheduler.ResourcesFromTaskDefinition(t.a.TaskDefinition, t.a.Overrides)
	}
	a.useCPU += t.res.CPU
	a.useMem += t.res.Memory
	a.peakCPU = max(a.peakCPU, a.useCPU)
	a.peakMem = max(a.peakMem, a.useMem)
	for _, p := range t.res.TCPPorts {
		if a.static[p] {
			a.portConflicts++
		}
		a.static[p] = true
	}
}

// Peak returns the most CPU units and memory the agent's unstopped tasks
// held at once, and how often a task arrived for a static host port
// another task still held. With a correct scheduler the peaks stay within
// the registered resources and there are no port conflicts.
func (a *Agent) Peak() (cpu, memory int64, portConflicts int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.peakCPU, a.peakMem, a.portConflicts
}

// report publishes a report, retrying until it is stored or ctx ends.
func (a *Agent) report(ctx context.Context, r events.TaskStateReport) {
	wait := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := a.client.Report(ctx, r)
		if err == nil {
			a.reports.Add(1)
			return
		}
		if errors.Is(err, context.Canceled) {
			return
		}
		a.cfg.Log.Warn("simagent: report failed; retrying", "task_arn", r.TaskArn, "err", err)
		if !sleep(ctx, nil, wait) {
			return
		}
		wait = min(2*wait, time.Second)
	}
}

// bind picks the host port of every port mapping: static as given, the
// container port in host mode, a free dynamic port in bridge mode.
func (a *Agent) bind(td *ecsapi.TaskDefinition) map[string][]ecsapi.NetworkBinding {
	out := map[string][]ecsapi.NetworkBinding{}
	mode := strings.ToLower(td.NetworkMode)
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, cd := range td.ContainerDefinitions {
		for _, pm := range cd.PortMappings {
			cp := awsjson.Value(pm.ContainerPort)
			hp := awsjson.Value(pm.HostPort)
			switch {
			case mode == "host" || mode == "awsvpc":
				hp = cp
			case hp == 0:
				hp = a.dynamicPortLocked()
			}
			proto := strings.ToLower(pm.Protocol)
			if proto == "" {
				proto = "tcp"
			}
			out[cd.Name] = append(out[cd.Name], ecsapi.NetworkBinding{
				BindIP: "0.0.0.0", ContainerPort: awsjson.Int32(cp), HostPort: awsjson.Int32(hp), Protocol: proto,
			})
		}
	}
	return out
}

func (a *Agent) dynamicPortLocked() int32 {
	for range 64 {
		p := DynamicPortMin + rand.IntN(DynamicPortMax-DynamicPortMin+1)
		if !a.ports[p] {
			a.ports[p] = true
			return int32(p)
		}
	}
	for p := DynamicPortMin; p <= DynamicPortMax; p++ {
		if !a.ports[p] {
			a.ports[p] = true
			return int32(p)
		}
	}
	return 0
}

// release frees the dynamic ports of a stopped task.
func (a *Agent) release(bindings map[string][]ecsapi.NetworkBinding) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, bs := range bindings {
		for _, b := range bs {
			if p := int(awsjson.Value(b.HostPort)); p >= DynamicPortMin {
				delete(a.ports, p)
			}
		}
	}
}

// containers is the container part of a report: every container of the
// task in one status, with fake runtime ids and image digests.
func containers(td *ecsapi.TaskDefinition, status string, bindings map[string][]ecsapi.NetworkBinding, runtime map[string]string) []events.ContainerStateReport {
	out := make([]events.ContainerStateReport, 0, len(td.ContainerDefinitions))
	for _, cd := range td.ContainerDefinitions {
		c := events.ContainerStateReport{Name: cd.Name, LastStatus: status, NetworkBindings: bindings[cd.Name]}
		if runtime != nil {
			sum := sha256.Sum256([]byte(cd.Image))
			c.ImageDigest = "sha256:" + hex.EncodeToString(sum[:])
			c.RuntimeID = runtime[cd.Name]
			c.HealthStatus = "UNKNOWN"
		}
		out = append(out, c)
	}
	return out
}

// sleep waits d; it returns false early when stop is closed or ctx ends.
func sleep(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	case <-ctx.Done():
		return false
	}
}

// network is the network of an awsvpc task of an instance with an awsvpc
// subnet (nil otherwise): the next address of the subnet, never reused.
func (a *Agent) network(taskArn string, td *ecsapi.TaskDefinition) *events.TaskNetworkReport {
	p, err := netip.ParsePrefix(a.cfg.AWSVPCSubnet)
	if err != nil || !strings.EqualFold(td.NetworkMode, "awsvpc") {
		return nil
	}
	a.mu.Lock()
	a.lastIP++
	n := a.lastIP
	a.mu.Unlock()
	ip := p.Masked().Addr().As4()
	v := uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
	v += uint32(n) + 1 // .1 is the gateway
	gw := p.Masked().Addr().Next()
	return &events.TaskNetworkReport{
		NetworkInterfaceID:  events.ENIID(taskArn),
		PrivateIPv4Address:  netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String(),
		SubnetIPv4CidrBlock: p.Masked().String(),
		GatewayIPv4Address:  gw.String(),
		MacAddress:          fmt.Sprintf("02:42:%02x:%02x:%02x:%02x", byte(v>>24), byte(v>>16), byte(v>>8), byte(v)),
		Attached:            true,
	}
}
