package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/natstest"
)

// TestE2E_Services is the acceptance of issue 11 (the service supervisor)
// on the real Docker daemon through the all-in-one binary, its local agent
// and the aws CLI: create-service desired 3 and services-stable; docker kill
// one container and see it replaced; a rolling update (min 50 / max 200)
// sampled for its bounds; an image that does not exist: circuit breaker and
// rollback; desired 0 + delete -> INACTIVE; delete without force refused.
func TestE2E_Services(t *testing.T) {
	requireDocker(t)
	t.Parallel()
	bin := buildBerth(t)
	owner := e2eOwner(t)
	p := startBerthWithAgent(t, bin, t.TempDir(), owner, "--service-healthy-after", "2s")
	c := p.ecs(t)
	image := p.pushBusybox(t, "svc", "v1")
	image2 := p.pushImage(t, "svc", "v2", busyboxVariant(t, "v2"))
	td1 := p.registerTaskDef(t, taskDef("websvc", ctrDef("app", image, "sleep", "3600")))
	td2 := p.registerTaskDef(t, taskDef("websvc", ctrDef("app", image2, "sleep", "3600")))
	tdBad := p.registerTaskDef(t, taskDef("websvc", ctrDef("app", p.registry+"/svc:does-not-exist", "sleep", "3600")))

	out := p.aws(t, "ecs", "create-service", "--service-name", "web", "--task-definition", td1, "--desired-count", "3",
		"--deployment-configuration", "minimumHealthyPercent=50,maximumPercent=200,deploymentCircuitBreaker={enable=true,rollback=true}")
	if svc := out["service"].(map[string]any); svc["status"] != "ACTIVE" || svc["desiredCount"] != float64(3) {
		t.Fatalf("create-service: %v", svc)
	}
	p.aws(t, "ecs", "wait", "services-stable", "--services", "web")
	tasks := serviceTasks(t, c, "web")
	if len(tasks) != 3 {
		t.Fatalf("%d tasks after services-stable", len(tasks))
	}
	// berth events --type service shows the service's public events.
	ectx, cancel := context.WithTimeout(context.Background(), time.Minute)
	out2, err := exec.CommandContext(ectx, bin, "events", "--nats-creds", filepath.Join(p.data, "aws", "nats-events.json"), "--type", "service", "--all", "--count", "2").Output()
	cancel()
	if err != nil || !strings.Contains(string(out2), `"detail-type":"ECS Deployment State Change"`) || !strings.Contains(string(out2), "SERVICE_DEPLOYMENT_IN_PROGRESS") {
		t.Fatalf("berth events --type service: %v\n%s", err, out2)
	}

	// docker kill one container: a replacement runs, and an event says so.
	victim := aws.ToString(tasks[0].TaskArn)
	ids := taskContainers(t, victim)
	if len(ids) != 1 {
		t.Fatalf("task %s has containers %v", victim, ids)
	}
	dockerCmd(t, "kill", ids[0])
	natstest.Eventually(t, 2*time.Minute, 200*time.Millisecond, func() error {
		ts := serviceTasks(t, c, "web")
		running := 0
		for _, tk := range ts {
			if aws.ToString(tk.TaskArn) == victim {
				return fmt.Errorf("killed task still desired RUNNING")
			}
			if aws.ToString(tk.LastStatus) == "RUNNING" {
				running++
			}
		}
		if running != 3 {
			return fmt.Errorf("%d RUNNING", running)
		}
		return nil
	})
	if msgs := serviceEvents(t, c, "web"); !slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "(service web) has started 1 tasks: (task ") }) {
		t.Fatalf("no replacement event in %q", msgs)
	}
	p.aws(t, "ecs", "wait", "services-stable", "--services", "web")

	// Rolling update to a new revision, min 50 / max 200: at least 2
	// RUNNING, at most 6 tasks at every sampled moment.
	s := sampleService(c, "web")
	p.aws(t, "ecs", "update-service", "--service", "web", "--task-definition", td2)
	natstest.Eventually(t, 3*time.Minute, 500*time.Millisecond, func() error { return rolledOut(c, "web", td2) })
	minRunning, maxTotal, samples := s.done()
	t.Logf("rolling update of 3 (min 50, max 200): %d samples, fewest RUNNING %d, most tasks %d", samples, minRunning, maxTotal)
	if samples < 5 || minRunning < 2 || maxTotal > 6 {
		t.Fatalf("bounds: %d samples, fewest RUNNING %d (want >= 2), most tasks %d (want <= 6)", samples, minRunning, maxTotal)
	}

	// An image that does not exist: the circuit breaker fails the
	// deployment and rolls back to td2, which keeps serving.
	p.aws(t, "ecs", "update-service", "--service", "web", "--task-definition", tdBad)
	natstest.Eventually(t, 4*time.Minute, time.Second, func() error {
		msgs := serviceEvents(t, c, "web")
		if !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, "deployment failed: tasks failed to start.") }) ||
			!slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "(service web) rolling back to deployment ") }) {
			return fmt.Errorf("no circuit breaker yet: %q", msgs[:min(3, len(msgs))])
		}
		return rolledOut(c, "web", td2)
	})

	// desired 0, delete -> INACTIVE.
	p.aws(t, "ecs", "update-service", "--service", "web", "--desired-count", "0")
	p.aws(t, "ecs", "delete-service", "--service", "web")
	p.aws(t, "ecs", "wait", "services-inactive", "--services", "web")

	// delete-service on desired 2 without force: refused.
	p.aws(t, "ecs", "create-service", "--service-name", "api", "--task-definition", td1, "--desired-count", "2")
	res := p.cli.Run(t, "", "ecs", "delete-service", "--service", "api")
	if res.Exit != 254 || !strings.Contains(res.Stderr, "(InvalidParameterException)") || !strings.Contains(res.Stderr, "The service cannot be stopped while it is scaled above 0.") {
		t.Fatalf("delete-service without force: exit %d %s", res.Exit, res.Stderr)
	}
	p.aws(t, "ecs", "delete-service", "--service", "api", "--force")
	p.aws(t, "ecs", "wait", "services-inactive", "--services", "api")
	natstest.Eventually(t, time.Minute, 500*time.Millisecond, func() error {
		if n := len(serviceTasks(t, c, "api")) + len(serviceTasks(t, c, "web")); n > 0 {
			return fmt.Errorf("%d tasks left", n)
		}
		return nil
	})
	p.stop(t, syscall.SIGTERM)
}

// serviceTasks lists and describes a service's tasks (desired RUNNING).
func serviceTasks(t testing.TB, c *ecs.Client, name string) []ecstypes.Task {
	t.Helper()
	ts, err := listService(c, name, "RUNNING")
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func listService(c *ecs.Client, name, desired string) ([]ecstypes.Task, error) {
	ctx := context.Background()
	list, err := c.ListTasks(ctx, &ecs.ListTasksInput{ServiceName: aws.String(name), DesiredStatus: ecstypes.DesiredStatus(desired)})
	if err != nil || len(list.TaskArns) == 0 {
		return nil, err
	}
	out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: list.TaskArns})
	if err != nil {
		return nil, err
	}
	return out.Tasks, nil
}

func serviceEvents(t testing.TB, c *ecs.Client, name string) []string {
	t.Helper()
	out, err := c.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Services: []string{name}})
	if err != nil || len(out.Services) != 1 {
		t.Fatalf("describe-services %s: %v %+v", name, err, out)
	}
	var msgs []string
	for _, e := range out.Services[0].Events {
		msgs = append(msgs, aws.ToString(e.Message))
	}
	return msgs
}

// rolledOut reports nil once the service has one COMPLETED deployment of
// taskDef with every task RUNNING.
func rolledOut(c *ecs.Client, name, taskDef string) error {
	out, err := c.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Services: []string{name}})
	if err != nil {
		return err
	}
	s := out.Services[0]
	if len(s.Deployments) != 1 || !strings.HasSuffix(aws.ToString(s.TaskDefinition), taskDef) ||
		s.Deployments[0].RolloutState != ecstypes.DeploymentRolloutStateCompleted || s.RunningCount != s.DesiredCount {
		var ds []string
		for _, d := range s.Deployments {
			ds = append(ds, fmt.Sprintf("%s %s %s running=%d failed=%d", aws.ToString(d.TaskDefinition), aws.ToString(d.Status), d.RolloutState, d.RunningCount, d.FailedTasks))
		}
		return fmt.Errorf("not rolled out to %s: %v", taskDef, ds)
	}
	return nil
}

// svcSampler records the fewest RUNNING and the most unstopped tasks of a
// service.
type svcSampler struct {
	minRunning, maxTotal, samples atomic.Int64
	stop                          chan struct{}
	wg                            sync.WaitGroup
}

func sampleService(c *ecs.Client, name string) *svcSampler {
	s := &svcSampler{stop: make(chan struct{})}
	s.minRunning.Store(1 << 30)
	s.wg.Go(func() {
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			// A task may move from desired RUNNING to STOPPED between the
			// two lists: count each task once, at its later state.
			running, total := 0, 0
			ok := true
			seen := map[string]ecstypes.Task{}
			for _, desired := range []string{"RUNNING", "STOPPED"} {
				ts, err := listService(c, name, desired)
				if err != nil {
					ok = false
					break
				}
				for _, tk := range ts {
					seen[aws.ToString(tk.TaskArn)] = tk
				}
			}
			if ok {
				for _, tk := range seen {
					switch aws.ToString(tk.LastStatus) {
					case "STOPPED":
					case "RUNNING":
						running++
						total++
					default:
						total++
					}
				}
			}
			if !ok {
				continue
			}
			s.minRunning.Store(min(s.minRunning.Load(), int64(running)))
			s.maxTotal.Store(max(s.maxTotal.Load(), int64(total)))
			s.samples.Add(1)
		}
	})
	return s
}

func (s *svcSampler) done() (minRunning, maxTotal, samples int64) {
	close(s.stop)
	s.wg.Wait()
	return s.minRunning.Load(), s.maxTotal.Load(), s.samples.Load()
}
