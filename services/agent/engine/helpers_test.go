package engine

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/services/agent/docker"
	"github.com/berth-project/berth/services/agent/docker/dockertest"
)

func ptr[T any](v T) *T { return &v }

// harness runs engines against the real Docker daemon, with an owner label
// unique to the test, and records every report.
type harness struct {
	t     testing.TB
	rt    docker.Runtime
	c     *docker.Client // nil with a fake runtime
	img   string
	owner string

	mu      sync.Mutex
	reports map[string][]Report
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	c := dockertest.Client(t)
	h := &harness{
		t:       t,
		rt:      c,
		c:       c,
		img:     dockertest.BusyboxImage(t, c),
		owner:   "et-" + dockertest.RunID() + "-" + docker.SanitizeName(t.Name()),
		reports: map[string][]Report{},
	}
	dockertest.Cleanup(t, c, h.owner)
	t.Cleanup(h.checkForwardOnly)
	return h
}

// newFakeHarness runs engines against an in-memory runtime.
func newFakeHarness(t *testing.T) (*harness, *fakeRuntime) {
	f := newFake()
	h := &harness{t: t, rt: f, img: "img", owner: "fake", reports: map[string][]Report{}}
	t.Cleanup(h.checkForwardOnly)
	return h, f
}

// config is the test default: cached images, short stop timeout, long cleanup.
func (h *harness) config() Config {
	cfg := Config{
		Runtime:      h.rt,
		Owner:        h.owner,
		NamePrefix:   "bt-",
		PullBehavior: docker.PullPreferCached,
		StopTimeout:  time.Second,
		CleanupDelay: time.Hour,
		Reporter:     h.record,
	}
	if os.Getenv("BERTH_TEST_DEBUG") == "1" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return cfg
}

func (h *harness) record(r Report) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reports[r.TaskARN] = append(h.reports[r.TaskARN], r)
}

// start runs an engine until the test ends (or stop is called).
func (h *harness) start(cfg Config) (*Engine, func()) {
	h.t.Helper()
	e, err := New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					h.t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				h.t.Errorf("engine did not stop")
			}
		})
	}
	h.t.Cleanup(stop)
	return e, stop
}

func (h *harness) arn(id string) string {
	return "arn:aws:ecs:local:000000000000:task/test/" + h.owner + "-" + id
}

func (h *harness) task(id string, ctrs ...ecsapi.ContainerDefinition) Task {
	for i := range ctrs {
		if ctrs[i].Image == "" {
			ctrs[i].Image = h.img
		}
	}
	return Task{
		ARN:           h.arn(id),
		Cluster:       "test",
		DesiredStatus: DesiredRunning,
		Definition: ecsapi.TaskDefinition{
			Family: "fam", Revision: ptr[int32](1), NetworkMode: "bridge",
			ContainerDefinitions: ctrs,
		},
	}
}

// sleeper runs until SIGTERM, then exits with code exit.
func sleeper(name string, exit int) ecsapi.ContainerDefinition {
	return ecsapi.ContainerDefinition{
		Name:    name,
		Command: []string{"sh", "-c", fmt.Sprintf("trap 'exit %d' TERM; sleep 3600 & wait", exit)},
	}
}

func (h *harness) last(arn string) (Report, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rs := h.reports[arn]
	if len(rs) == 0 {
		return Report{}, false
	}
	return rs[len(rs)-1], true
}

// waitFor polls the latest report of a task until pred accepts it.
func (h *harness) waitFor(arn string, timeout time.Duration, what string, pred func(Report) bool) Report {
	h.t.Helper()
	var got Report
	dockertest.Eventually(h.t, timeout, 50*time.Millisecond, func() error {
		r, ok := h.last(arn)
		if ok && pred(r) {
			got = r
			return nil
		}
		return fmt.Errorf("%s: waiting for %s; last report %s", arn, what, summary(r))
	})
	return got
}

// never watches the latest report of a task for window and fails as soon
// as bad accepts it: a negative check, observed rather than slept through.
func (h *harness) never(arn string, window time.Duration, what string, bad func(Report) bool) {
	h.t.Helper()
	deadline := time.Now().Add(window)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		if r, ok := h.last(arn); ok && bad(r) {
			h.t.Fatalf("%s: %s: %s", arn, what, summary(r))
		}
		<-tick.C
	}
}

func (h *harness) waitStatus(arn string, timeout time.Duration, s TaskStatus) Report {
	h.t.Helper()
	return h.waitFor(arn, timeout, s.String(), func(r Report) bool { return r.LastStatus >= s })
}

func summary(r Report) string {
	s := fmt.Sprintf("#%d %s code=%q reason=%q health=%s", r.Seq, r.LastStatus, r.StopCode, r.StoppedReason, r.HealthStatus)
	for _, c := range r.Containers {
		ec := "nil"
		if c.ExitCode != nil {
			ec = fmt.Sprint(*c.ExitCode)
		}
		s += fmt.Sprintf(" [%s %s exit=%s reason=%q health=%s ports=%v]", c.Name, c.LastStatus, ec, c.Reason, c.HealthStatus, c.NetworkBindings)
	}
	return s
}

// checkForwardOnly verifies that, per task, Seq grows and no status (task or
// container) ever moves back.
func (h *harness) checkForwardOnly() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for arn, rs := range h.reports {
		for i := 1; i < len(rs); i++ {
			prev, cur := rs[i-1], rs[i]
			if cur.Seq <= prev.Seq {
				h.t.Errorf("%s: seq %d after %d", arn, cur.Seq, prev.Seq)
			}
			if cur.LastStatus < prev.LastStatus {
				h.t.Errorf("%s: status %s after %s", arn, cur.LastStatus, prev.LastStatus)
			}
			for _, pc := range prev.Containers {
				if cc, ok := cur.Container(pc.Name); ok && cc.LastStatus < pc.LastStatus {
					h.t.Errorf("%s/%s: status %s after %s", arn, pc.Name, cc.LastStatus, pc.LastStatus)
				}
			}
		}
	}
}

// containersOf lists the Docker containers of a task.
func (h *harness) containersOf(arn string) []docker.ContainerSummary {
	h.t.Helper()
	list, err := h.c.ListContainers(context.Background(), map[string]string{docker.LabelManaged: h.owner, docker.LabelTaskARN: arn})
	if err != nil {
		h.t.Fatal(err)
	}
	return list
}

func (h *harness) inspect(id string) docker.Container {
	h.t.Helper()
	c, err := h.c.InspectContainer(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}
