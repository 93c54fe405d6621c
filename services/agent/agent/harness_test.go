package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/ids"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/services/agent/docker"
	"github.com/berth-project/berth/services/agent/docker/dockertest"
)

const (
	testRegion  = "us-east-1"
	testAccount = "000000000000"
)

func ptr[T any](v T) *T { return &v }

// env plays the scheduler's side of the agent protocol for one test: an
// embedded JetStream server, responders for CreateCluster and
// RegisterContainerInstance, assignments written into ecs_state, and every
// TaskStateReport read from AGENT_REPORTS.
type env struct {
	t       *testing.T
	srv     *server.Server
	opts    *server.Options
	nc      *nats.Conn
	js      jetstream.JetStream
	kv      jetstream.KeyValue
	cluster string
	owner   string
	dc      *docker.Client // nil in tests without Docker
	img     string

	mu        sync.Mutex
	registers []ecsapi.RegisterContainerInstanceRequest
	clusters  []string
	reports   map[string][]events.TaskStateReport
	nreports  int
}

// newEnv needs Docker unless noDocker.
func newEnv(t *testing.T, noDocker bool) *env {
	t.Helper()
	e := &env{t: t, cluster: "default", reports: map[string][]events.TaskStateReport{}}
	e.owner = "at-" + dockertest.RunID() + "-" + docker.SanitizeName(t.Name())
	if !noDocker {
		e.dc = dockertest.Client(t)
		e.img = dockertest.BusyboxImage(t, e.dc)
		dockertest.Cleanup(t, e.dc, e.owner)
	}
	e.opts = natstest.Options(t)
	e.srv = natstest.StartWith(t, e.opts)
	e.nc, e.js = natstest.JetStream(t, e.srv)
	ctx := t.Context()
	var err error
	if e.kv, err = natsutil.EnsureKV(ctx, e.js, events.BucketECSState, 1); err != nil {
		t.Fatal(err)
	}
	for _, def := range []events.StreamDef{events.StreamAgentReports, events.StreamHeartbeats} {
		if _, err := natsutil.EnsureStream(ctx, e.js, def, 1); err != nil {
			t.Fatal(err)
		}
	}
	e.respond(events.SubjAPI(events.APIECS, "CreateCluster"), func(data []byte) any {
		var req ecsapi.CreateClusterRequest
		_ = json.Unmarshal(data, &req)
		e.mu.Lock()
		e.clusters = append(e.clusters, req.ClusterName)
		e.mu.Unlock()
		return ecsapi.CreateClusterResponse{Cluster: &ecsapi.Cluster{ClusterName: req.ClusterName,
			ClusterArn: events.ClusterARN(testRegion, testAccount, req.ClusterName), Status: "ACTIVE"}}
	})
	e.respond(events.SubjAPI(events.APIECS, "RegisterContainerInstance"), func(data []byte) any {
		var req ecsapi.RegisterContainerInstanceRequest
		_ = json.Unmarshal(data, &req)
		e.mu.Lock()
		e.registers = append(e.registers, req)
		e.mu.Unlock()
		arn := events.ContainerInstanceARN(testRegion, testAccount, req.Cluster, instanceIDFor(req))
		return ecsapi.RegisterContainerInstanceResponse{ContainerInstance: &ecsapi.ContainerInstance{
			ContainerInstanceArn: arn, Status: "ACTIVE", AgentConnected: ptr(true)}}
	})
	e.consumeReports()
	return e
}

// instanceIDFor is the container instance id the fake scheduler hands out:
// the same for the same instanceId, as the real one does.
func instanceIDFor(req ecsapi.RegisterContainerInstanceRequest) string {
	var doc struct {
		InstanceID string `json:"instanceId"`
	}
	_ = json.Unmarshal([]byte(req.InstanceIdentityDocument), &doc)
	sum := sha256.Sum256([]byte(doc.InstanceID))
	return hex.EncodeToString(sum[:16])
}

func (e *env) respond(subj string, fn func([]byte) any) {
	e.t.Helper()
	sub, err := e.nc.Subscribe(subj, func(m *nats.Msg) {
		raw, _ := json.Marshal(fn(m.Data))
		_ = m.Respond(raw)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = sub.Unsubscribe() })
}

func (e *env) consumeReports() {
	e.t.Helper()
	cons, err := e.js.CreateOrUpdateConsumer(e.t.Context(), events.StreamAgentReports.Name, jetstream.ConsumerConfig{
		Durable: "test", AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "berth.agent.report.>",
	})
	if err != nil {
		e.t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var r events.TaskStateReport
		if err := json.Unmarshal(m.Data(), &r); err == nil {
			e.mu.Lock()
			e.reports[r.TaskArn] = append(e.reports[r.TaskArn], r)
			e.nreports++
			e.mu.Unlock()
		}
		_ = m.Ack()
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(cc.Stop)
}

// config is the test default: the env's cluster and owner, a private data
// folder, random ports, cached images, quick stops, long cleanup.
func (e *env) config() Config {
	cfg := Config{
		Cluster:           e.cluster,
		Region:            testRegion,
		Account:           testAccount,
		DataDir:           e.t.TempDir(),
		Owner:             e.owner,
		IntrospectionAddr: "127.0.0.1:0",
		MetadataAddr:      "127.0.0.1:0",
		PullBehavior:      docker.PullPreferCached,
		StopTimeout:       time.Second,
		CleanupDelay:      time.Hour,
		HeartbeatInterval: 200 * time.Millisecond,
		ImageCleanup:      imageCleanupOff,
	}
	if os.Getenv("BERTH_TEST_DEBUG") == "1" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return cfg
}

// start runs an agent until the test ends or stop is called, and waits
// until it is registered.
func (e *env) start(cfg Config) (*Agent, func()) {
	e.t.Helper()
	return e.startOn(cfg, e.nc)
}

// startOn is start with the agent's own NATS connection.
func (e *env) startOn(cfg Config, nc *nats.Conn) (*Agent, func()) {
	e.t.Helper()
	a, err := New(cfg, nc)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					e.t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				e.t.Errorf("agent did not stop")
			}
		})
	}
	e.t.Cleanup(stop)
	select {
	case <-a.Ready():
	case err := <-done:
		e.t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(30 * time.Second):
		e.t.Fatal("agent not ready")
	}
	return a, stop
}

// stopNATS shuts the server down; startNATS brings it back on the same
// port with the same storage.
func (e *env) stopNATS() {
	e.opts.Port = e.srv.Addr().(*net.TCPAddr).Port
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

func (e *env) startNATS() {
	e.srv = natstest.StartWith(e.t, e.opts)
}

// instanceID is the container instance id (the ARN's last part) of an agent.
func instanceID(t *testing.T, instanceArn string) string {
	t.Helper()
	arn, err := events.ParseECSARN(instanceArn)
	if err != nil {
		t.Fatal(err)
	}
	return arn.ID
}

// task builds a RUNNING assignment for a one-family task definition.
func (e *env) task(instanceArn string, def ecsapi.TaskDefinition) events.TaskAssignment {
	for i := range def.ContainerDefinitions {
		if def.ContainerDefinitions[i].Image == "" {
			def.ContainerDefinitions[i].Image = e.img
		}
	}
	if def.Family == "" {
		def.Family = "fam"
	}
	if def.Revision == nil {
		def.Revision = ptr[int32](1)
	}
	def.TaskDefinitionArn = fmt.Sprintf("arn:aws:ecs:%s:%s:task-definition/%s:%d", testRegion, testAccount, def.Family, *def.Revision)
	def.RegisteredAt = awsjson.NewTime(time.Now())
	return events.TaskAssignment{
		TaskArn:              events.TaskARN(testRegion, testAccount, e.cluster, ids.Hex32()),
		ClusterArn:           events.ClusterARN(testRegion, testAccount, e.cluster),
		ContainerInstanceArn: instanceArn,
		TaskDefinitionArn:    def.TaskDefinitionArn,
		TaskDefinition:       &def,
		DesiredStatus:        events.DesiredRunning,
		CreatedAt:            time.Now().UTC(),
		Version:              1,
	}
}

// put writes an assignment as the scheduler does.
func (e *env) put(a events.TaskAssignment) {
	e.t.Helper()
	raw, _ := json.Marshal(a)
	key := events.AssignmentKey(e.cluster, instanceID(e.t, a.ContainerInstanceArn), taskIDOf(a.TaskArn))
	if _, err := e.kv.Put(e.t.Context(), key, raw); err != nil {
		e.t.Fatal(err)
	}
}

// stopTask turns an assignment to STOPPED (UserInitiated).
func (e *env) stopTask(a *events.TaskAssignment) {
	e.t.Helper()
	a.DesiredStatus = events.DesiredStopped
	a.StopCode, a.StoppedReason = "UserInitiated", "Task stopped by user"
	a.Version++
	e.put(*a)
}

func (e *env) deleteTask(a events.TaskAssignment) {
	e.t.Helper()
	key := events.AssignmentKey(e.cluster, instanceID(e.t, a.ContainerInstanceArn), taskIDOf(a.TaskArn))
	if err := e.kv.Delete(e.t.Context(), key); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) lastReport(arn string) (events.TaskStateReport, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rs := e.reports[arn]
	if len(rs) == 0 {
		return events.TaskStateReport{}, false
	}
	return rs[len(rs)-1], true
}

func (e *env) reportsOf(arn string) []events.TaskStateReport {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]events.TaskStateReport(nil), e.reports[arn]...)
}

// waitReport polls the latest report of a task until pred accepts it.
func (e *env) waitReport(arn string, timeout time.Duration, what string, pred func(events.TaskStateReport) bool) events.TaskStateReport {
	e.t.Helper()
	var got events.TaskStateReport
	natstest.Eventually(e.t, timeout, 50*time.Millisecond, func() error {
		r, ok := e.lastReport(arn)
		if ok && pred(r) {
			got = r
			return nil
		}
		return fmt.Errorf("%s: waiting for %s; last report %s", arn, what, summary(r))
	})
	return got
}

func (e *env) waitStatus(arn string, timeout time.Duration, status string) events.TaskStateReport {
	e.t.Helper()
	return e.waitReport(arn, timeout, status, func(r events.TaskStateReport) bool { return r.LastStatus == status })
}

func summary(r events.TaskStateReport) string {
	s := fmt.Sprintf("#%d %s code=%q reason=%q", r.Seq, r.LastStatus, r.StopCode, r.StoppedReason)
	for _, c := range r.Containers {
		ec := "nil"
		if c.ExitCode != nil {
			ec = fmt.Sprint(*c.ExitCode)
		}
		s += fmt.Sprintf(" [%s %s id=%.12s exit=%s reason=%q bindings=%d]", c.Name, c.LastStatus, c.RuntimeID, ec, c.Reason, len(c.NetworkBindings))
	}
	return s
}

// checkForwardOnly verifies that, per task, reports never move lastStatus
// back and Seq grows.
func (e *env) checkForwardOnly() {
	order := map[string]int{"PENDING": 1, "ACTIVATING": 2, "RUNNING": 3, "DEACTIVATING": 4, "STOPPING": 5, "DEPROVISIONING": 6, "STOPPED": 7}
	e.mu.Lock()
	defer e.mu.Unlock()
	for arn, rs := range e.reports {
		for i := 1; i < len(rs); i++ {
			if order[rs[i].LastStatus] < order[rs[i-1].LastStatus] {
				e.t.Errorf("%s: %s after %s", arn, rs[i].LastStatus, rs[i-1].LastStatus)
			}
			if rs[i].Seq <= rs[i-1].Seq {
				e.t.Errorf("%s: seq %d after %d", arn, rs[i].Seq, rs[i-1].Seq)
			}
		}
	}
}

// containers lists the Docker containers of a task.
func (e *env) containers(arn string) []docker.ContainerSummary {
	e.t.Helper()
	list, err := e.dc.ListContainers(context.Background(), map[string]string{docker.LabelManaged: e.owner, docker.LabelTaskARN: arn})
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}

// sleeper runs until SIGTERM, then exits with code exit.
func sleeper(name string, exit int) ecsapi.ContainerDefinition {
	return ecsapi.ContainerDefinition{
		Name:    name,
		Command: []string{"sh", "-c", fmt.Sprintf("trap 'exit %d' TERM; sleep 3600 & wait", exit)},
	}
}

func container(r events.TaskStateReport, name string) events.ContainerStateReport {
	for _, c := range r.Containers {
		if c.Name == name {
			return c
		}
	}
	return events.ContainerStateReport{}
}
