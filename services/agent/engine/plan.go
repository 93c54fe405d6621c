package engine

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/services/agent/docker"
)

// ctr is the runner's view of one container of its task. Only the runner's
// goroutine touches it.
type ctr struct {
	def         ecsapi.ContainerDefinition // override applied
	name        string
	dockerName  string
	essential   bool
	hasHealth   bool
	stopTimeout time.Duration // negative: the container's own (Docker) stop timeout
	deps        []dep         // wait before start: dependsOn and links
	createDeps  []dep         // wait before create: links and volumesFrom
	dependents  []*ctr        // wait for this one; stopped before it

	status      ContainerStatus
	busy        bool // an operation (pull, create, start, stop) is in flight
	id          string
	digest      string
	exitCode    *int
	reason      string
	health      HealthStatus
	bindings    []NetworkBinding
	startedAt   time.Time
	finishedAt  time.Time
	stopRetryAt time.Time
	oomKilled   bool // Docker sent an "oom" event for the container
	memLimited  bool // Docker enforces a memory limit on the container
	stopSent    bool // the engine asked Docker to stop the container
	oomWaitEnd  time.Time
	// pause marks an awsvpc task's network-namespace holder: not reported
	// as a container; its address is the task's.
	pause   bool
	network *docker.ContainerNetwork // the pause container's, once running
}

type dep struct {
	target *ctr
	cond   string
}

// advance moves the status forward; it never moves it back.
func (c *ctr) advance(to ContainerStatus) bool {
	if to <= c.status {
		return false
	}
	c.status = to
	return true
}

// buildContainers makes the runner's containers from the task definition,
// with overrides applied and the dependency graph wired both ways. With a
// pause image (an awsvpc task), a pause container comes first: every other
// container is created after it and started once it runs, and it is
// stopped last.
func buildContainers(t *Task, namePrefix string, defaultStop time.Duration, pauseImage string) []*ctr {
	defs := t.Definition.ContainerDefinitions
	ctrs := make([]*ctr, 0, len(defs)+1)
	byName := map[string]*ctr{}
	var pause *ctr
	if pauseImage != "" {
		pause = &ctr{
			def:        ecsapi.ContainerDefinition{Name: docker.PauseContainerName, Image: pauseImage},
			name:       docker.PauseContainerName,
			dockerName: containerName(namePrefix, t, "internalecspause"),
			essential:  true,
			health:     HealthUnknown,
			pause:      true,
		}
		ctrs = append(ctrs, pause)
		byName[pause.name] = pause
	}
	for _, d := range defs {
		var ov *ecsapi.ContainerOverride
		for i := range t.Overrides.ContainerOverrides {
			if t.Overrides.ContainerOverrides[i].Name == d.Name {
				ov = &t.Overrides.ContainerOverrides[i]
			}
		}
		c := &ctr{
			def:         docker.ApplyOverride(d, ov),
			name:        d.Name,
			dockerName:  containerName(namePrefix, t, d.Name),
			essential:   isEssential(d),
			hasHealth:   d.HealthCheck != nil,
			health:      HealthUnknown,
			stopTimeout: defaultStop,
		}
		if d.StopTimeout != nil && *d.StopTimeout >= 0 {
			c.stopTimeout = time.Duration(*d.StopTimeout) * time.Second
		}
		if pause != nil {
			c.createDeps = append(c.createDeps, dep{pause, condCreate})
			c.deps = append(c.deps, dep{pause, condStart})
			pause.dependents = append(pause.dependents, c)
		}
		ctrs = append(ctrs, c)
		byName[d.Name] = c
	}
	for _, c := range ctrs {
		for _, e := range edges(c.def) {
			t := byName[e.ContainerName]
			if t == nil || t == c {
				continue
			}
			switch e.Condition {
			case condCreate:
				c.createDeps = append(c.createDeps, dep{t, condCreate})
			default:
				c.deps = append(c.deps, dep{t, e.Condition})
			}
			if isLink(c.def, t.name) {
				c.createDeps = append(c.createDeps, dep{t, condCreate})
			}
			if !containsCtr(t.dependents, c) {
				t.dependents = append(t.dependents, c)
			}
		}
	}
	return ctrs
}

func isLink(def ecsapi.ContainerDefinition, target string) bool {
	for _, l := range def.Links {
		if name, _, _ := strings.Cut(l, ":"); name == target {
			return true
		}
	}
	return false
}

func containsCtr(list []*ctr, c *ctr) bool {
	for _, x := range list {
		if x == c {
			return true
		}
	}
	return false
}

// containerName is the Docker name: <prefix><family>-<revision>-<container>-<task id>.
// It is deterministic so a restarted engine never creates a second container
// for the same task container (the create fails with a conflict and the
// existing container is adopted).
func containerName(prefix string, t *Task, name string) string {
	return prefix + docker.SanitizeName(fmt.Sprintf("%s-%d-%s-%s", t.family(), t.revision(), name, docker.TaskID(t.ARN)))
}

type depState int

const (
	depWaiting depState = iota
	depResolved
	depFailed
)

// resolve evaluates one dependency as amazon-ecs-agent's dependency graph
// does. It returns why it failed, or when a startTimeout will expire.
func resolve(d dep, now time.Time) (depState, string, time.Time) {
	t := d.target
	started := !t.startedAt.IsZero()
	stopped := t.status == ContainerStopped
	switch d.cond {
	case condCreate:
		if t.id != "" && t.status >= ContainerCreated {
			return depResolved, "", time.Time{}
		}
		if stopped {
			return depFailed, fmt.Sprintf("container %s was never created", t.name), time.Time{}
		}
		return depWaiting, "", time.Time{}
	case condStart:
		if t.status == ContainerRunning || (stopped && started) {
			return depResolved, "", time.Time{}
		}
		if stopped {
			return depFailed, fmt.Sprintf("container %s stopped before it started", t.name), time.Time{}
		}
		return depWaiting, "", time.Time{}
	case condComplete, condSuccess:
		if stopped {
			switch {
			case !started:
				return depFailed, fmt.Sprintf("container %s never ran (condition %s)", t.name, d.cond), time.Time{}
			case d.cond == condSuccess && t.exitCode == nil:
				return depFailed, fmt.Sprintf("container %s stopped without an exit code (condition SUCCESS)", t.name), time.Time{}
			case d.cond == condSuccess && *t.exitCode != 0:
				return depFailed, fmt.Sprintf("container %s exited with code %d (condition SUCCESS)", t.name, *t.exitCode), time.Time{}
			}
			return depResolved, "", time.Time{}
		}
	case condHealthy:
		if t.status == ContainerRunning && t.health == HealthHealthy {
			return depResolved, "", time.Time{}
		}
		if stopped {
			return depFailed, fmt.Sprintf("container %s stopped before it became HEALTHY", t.name), time.Time{}
		}
	}
	// COMPLETE, SUCCESS and HEALTHY give up after the dependency's
	// startTimeout, counted from its start.
	if started && t.def.StartTimeout != nil && *t.def.StartTimeout > 0 {
		deadline := t.startedAt.Add(time.Duration(*t.def.StartTimeout) * time.Second)
		if !now.Before(deadline) {
			return depFailed, fmt.Sprintf("container %s did not reach %s within its startTimeout of %ds", t.name, d.cond, *t.def.StartTimeout), time.Time{}
		}
		return depWaiting, "", deadline
	}
	return depWaiting, "", time.Time{}
}

// gate evaluates all deps: resolved only when every one is.
func gate(deps []dep, now time.Time) (depState, string, time.Time) {
	state := depResolved
	var wake time.Time
	for _, d := range deps {
		s, why, at := resolve(d, now)
		switch s {
		case depFailed:
			return depFailed, why, time.Time{}
		case depWaiting:
			state = depWaiting
			wake = earliest(wake, at)
		}
	}
	return state, "", wake
}

func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	default:
		return b
	}
}

// liveDependents reports whether a container that waits for c has not
// stopped yet: shutdown runs in reverse dependency order.
func liveDependents(c *ctr) bool {
	for _, d := range c.dependents {
		if d.status != ContainerStopped {
			return true
		}
	}
	return false
}

// computeStatus derives the task status from its containers, like
// amazon-ecs-agent: the earliest container status, with STOPPING while a
// stop is under way.
func computeStatus(ctrs []*ctr, stopping bool, inflight int) TaskStatus {
	allStopped, allUp := true, true
	for _, c := range ctrs {
		if c.status != ContainerStopped {
			allStopped = false
		}
		if c.status < ContainerRunning {
			allUp = false
		}
	}
	switch {
	case allStopped && inflight == 0:
		return TaskStopped
	case stopping:
		return TaskStopping
	case allUp:
		return TaskRunning
	default:
		return TaskPending
	}
}

// oomGrace is how long a container that was SIGKILLed (exit 137) under a
// memory limit, without an OOM seen yet, keeps its task from reporting
// STOPPED: Docker 20.10 may handle the exit before the OOM notification
// (State.OOMKilled false, "oom" after "die"), and the final report must
// carry the OOM reason since nothing is merged into a STOPPED task.
const oomGrace = 5 * time.Second

// awaitingOOM reports until when the task's STOPPED report waits for a
// late "oom" event of c (zero: it does not).
func awaitingOOM(c *ctr, now time.Time) time.Time {
	if c.status != ContainerStopped || c.reason != "" || c.oomKilled || c.stopSent || !c.memLimited ||
		c.exitCode == nil || *c.exitCode != 137 {
		return time.Time{}
	}
	if c.oomWaitEnd.IsZero() {
		c.oomWaitEnd = now.Add(oomGrace)
	}
	if now.Before(c.oomWaitEnd) {
		return c.oomWaitEnd
	}
	return time.Time{}
}

// taskHealth: HEALTHY when every essential container with a health check is
// healthy, UNHEALTHY when one of them is unhealthy, UNKNOWN otherwise.
func taskHealth(ctrs []*ctr) HealthStatus {
	checked, healthy := false, true
	for _, c := range ctrs {
		if !c.essential || !c.hasHealth {
			continue
		}
		checked = true
		switch c.health {
		case HealthUnhealthy:
			return HealthUnhealthy
		case HealthHealthy:
		default:
			healthy = false
		}
	}
	if checked && healthy {
		return HealthHealthy
	}
	return HealthUnknown
}

func mapHealth(docker string) HealthStatus {
	switch docker {
	case "healthy":
		return HealthHealthy
	case "unhealthy":
		return HealthUnhealthy
	default:
		return HealthUnknown
	}
}

func toBindings(ports []docker.PortBinding) []NetworkBinding {
	if len(ports) == 0 {
		return nil
	}
	out := make([]NetworkBinding, 0, len(ports))
	for _, p := range ports {
		out = append(out, NetworkBinding(p))
	}
	return out
}

// applyInspect folds what Docker says about c into c (forward only).
func applyInspect(c *ctr, in docker.Container) {
	if in.ID != "" {
		c.id = in.ID
	}
	switch {
	case in.Running:
		c.advance(ContainerRunning)
	case in.Status == "created":
		c.advance(ContainerCreated)
	default: // exited, dead, removing
		c.advance(ContainerStopped)
		if c.exitCode == nil && (in.Started() || in.ExitCode != 0) {
			code := in.ExitCode
			c.exitCode = &code
		}
	}
	if in.Memory > 0 {
		c.memLimited = true
	}
	if c.reason == "" && (in.OOMKilled || (c.oomKilled && c.status == ContainerStopped)) {
		c.reason = ReasonOutOfMemory
	}
	if !in.StartedAt.IsZero() {
		c.startedAt = in.StartedAt
	}
	if c.status == ContainerStopped && !in.FinishedAt.IsZero() {
		c.finishedAt = in.FinishedAt
	}
	if c.hasHealth && in.Health != "" {
		c.health = mapHealth(in.Health)
	}
	if in.Running {
		c.bindings = toBindings(in.Ports)
		if c.pause {
			for i := range in.Networks {
				if len(in.Networks[i].IPv4Addresses) > 0 {
					n := in.Networks[i]
					c.network = &n
				}
			}
		}
	}
}

// taskNetwork is the task's network as its pause container holds it.
func taskNetwork(pause *ctr) *TaskNetwork {
	n := pause.network
	if n == nil {
		return nil
	}
	return &TaskNetwork{
		DockerNetwork: n.Name, IPv4Address: n.IPv4Addresses[0], PrefixLen: n.PrefixLen,
		Gateway: n.Gateway, MacAddress: n.MacAddress, Attached: pause.status == ContainerRunning,
	}
}

func containerReport(c *ctr) ContainerReport {
	cr := ContainerReport{
		Name:            c.name,
		Image:           c.def.Image,
		ImageDigest:     c.digest,
		RuntimeID:       c.id,
		Essential:       c.essential,
		LastStatus:      c.status,
		Reason:          c.reason,
		HealthStatus:    c.health,
		NetworkBindings: append([]NetworkBinding(nil), c.bindings...),
		StartedAt:       c.startedAt,
		FinishedAt:      c.finishedAt,
	}
	if c.exitCode != nil {
		code := *c.exitCode
		cr.ExitCode = &code
	}
	return cr
}

// sameReport compares two reports ignoring Seq.
func sameReport(a, b Report) bool {
	a.Seq, b.Seq = 0, 0
	return reflect.DeepEqual(a, b)
}
