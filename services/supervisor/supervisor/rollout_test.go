package supervisor_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/simagent"
)

// failBad makes tasks of images containing "missing" fail to start.
func failBad(_ int, c *simagent.Config) {
	c.FailStart = func(a events.TaskAssignment) bool {
		return a.TaskDefinition != nil && strings.Contains(a.TaskDefinition.ContainerDefinitions[0].Image, "missing")
	}
}

// sampler records the fewest RUNNING and the most unstopped tasks of a
// service while it runs.
type sampler struct {
	minRunning, maxTotal atomic.Int64
	samples              atomic.Int64
	stop                 chan struct{}
	wg                   sync.WaitGroup
}

func (e *svcEnv) sample(t testing.TB, cluster, name string) *sampler {
	s := &sampler{stop: make(chan struct{})}
	s.minRunning.Store(1 << 30)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			select {
			case <-s.stop:
				return
			default:
			}
			// A task may move from desired RUNNING to STOPPED between the
			// two lists: count each task once, at its later state.
			running, total := 0, 0
			seen := map[string]types.Task{}
			for _, status := range []string{"RUNNING", "STOPPED"} {
				list, err := e.ecs.ListTasks(context.Background(), &ecs.ListTasksInput{Cluster: aws.String(cluster), ServiceName: aws.String(name), DesiredStatus: types.DesiredStatus(status)})
				if err != nil || len(list.TaskArns) == 0 {
					continue
				}
				for chunk := range slices.Chunk(list.TaskArns, 100) {
					out, err := e.ecs.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: chunk})
					if err != nil {
						continue
					}
					for _, tk := range out.Tasks {
						seen[aws.ToString(tk.TaskArn)] = tk
					}
				}
			}
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
			if running < int(s.minRunning.Load()) {
				s.minRunning.Store(int64(running))
			}
			if total > int(s.maxTotal.Load()) {
				s.maxTotal.Store(int64(total))
			}
			s.samples.Add(1)
		}
	}()
	return s
}

func (s *sampler) done() (minRunning, maxTotal, samples int64) {
	close(s.stop)
	s.wg.Wait()
	return s.minRunning.Load(), s.maxTotal.Load(), s.samples.Load()
}

func TestReplica_RollingDeploymentBounds(t *testing.T) {
	for _, replicas := range []int{1, 3} {
		t.Run(fmt.Sprintf("replicas=%d", replicas), func(t *testing.T) { testRollingBounds(t, replicas) })
	}
}

// testRollingBounds rolls 6 tasks (min 50, max 200) to a new revision with
// supervisors replicas deciding at once, sampling the task counts, then
// stops a task and sees it replaced.
func testRollingBounds(t *testing.T, replicas int) {
	e := start(t, replicas)
	ctx := context.Background()
	e.cluster(t, "c1")
	e.agents(t, "c1", 4, nil)
	td1 := e.taskDef(t, "web", "app:1")
	td2 := e.taskDef(t, "web", "app:2")
	if _, err := e.ecs.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("c1"), ServiceName: aws.String("web"), TaskDefinition: aws.String(td1), DesiredCount: aws.Int32(6),
		DeploymentConfiguration: &types.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(50), MaximumPercent: aws.Int32(200)},
	}); err != nil {
		t.Fatal(err)
	}
	e.waitStable(t, "c1", "web")
	natstest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		if st := e.describe(t, "c1", "web").Deployments[0].RolloutState; st != types.DeploymentRolloutStateCompleted {
			return fmt.Errorf("rollout %s", st)
		}
		return nil
	})
	s := e.sample(t, "c1", "web")
	up, err := e.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("c1"), Service: aws.String("web"), TaskDefinition: aws.String(td2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(up.Service.Deployments) != 2 || aws.ToString(up.Service.Deployments[0].Status) != "PRIMARY" || aws.ToString(up.Service.Deployments[1].Status) != "ACTIVE" {
		t.Fatalf("deployments after update: %+v", up.Service.Deployments)
	}
	newID := aws.ToString(up.Service.Deployments[0].Id)
	e.waitStable(t, "c1", "web")
	minRunning, maxTotal, samples := s.done()
	t.Logf("rollout of 6 (min 50, max 200): %d samples, fewest RUNNING %d, most tasks %d", samples, minRunning, maxTotal)
	if minRunning < 3 || maxTotal > 12 {
		t.Fatalf("bounds broken: fewest RUNNING %d (want >= 3), most tasks %d (want <= 12)", minRunning, maxTotal)
	}
	d := e.describe(t, "c1", "web")
	if len(d.Deployments) != 1 || aws.ToString(d.Deployments[0].Id) != newID || !strings.HasSuffix(aws.ToString(d.TaskDefinition), td2) {
		t.Fatalf("after rollout: %+v", d.Deployments)
	}
	for _, tk := range e.tasks(t, "c1", "web") {
		if aws.ToString(tk.StartedBy) != newID {
			t.Fatalf("task of %s still running", aws.ToString(tk.StartedBy))
		}
	}
	// Stopping a task: the service replaces it.
	tasks := e.tasks(t, "c1", "web")
	if _, err := e.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("c1"), Task: tasks[0].TaskArn}); err != nil {
		t.Fatal(err)
	}
	natstest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		ts := e.tasks(t, "c1", "web")
		running := 0
		for _, tk := range ts {
			if aws.ToString(tk.TaskArn) == aws.ToString(tasks[0].TaskArn) {
				return fmt.Errorf("stopped task still listed")
			}
			if aws.ToString(tk.LastStatus) == "RUNNING" {
				running++
			}
		}
		if running != 6 {
			return fmt.Errorf("%d running", running)
		}
		return nil
	})
}

func TestReplica_CircuitBreakerRollback(t *testing.T) {
	e := start(t, 1)
	ctx := context.Background()
	e.cluster(t, "c1")
	e.agents(t, "c1", 3, failBad)
	good := e.taskDef(t, "web", "app:1")
	bad := e.taskDef(t, "web", "app:missing")
	if _, err := e.ecs.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("c1"), ServiceName: aws.String("web"), TaskDefinition: aws.String(good), DesiredCount: aws.Int32(3),
		DeploymentConfiguration: &types.DeploymentConfiguration{
			MinimumHealthyPercent: aws.Int32(50), MaximumPercent: aws.Int32(200),
			DeploymentCircuitBreaker: &types.DeploymentCircuitBreaker{Enable: true, Rollback: true},
		},
	}); err != nil {
		t.Fatal(err)
	}
	e.waitStable(t, "c1", "web")
	var firstID string
	natstest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		d := e.describe(t, "c1", "web").Deployments[0]
		firstID = aws.ToString(d.Id)
		if d.RolloutState != types.DeploymentRolloutStateCompleted {
			return fmt.Errorf("rollout %s", d.RolloutState)
		}
		return nil
	})
	up, err := e.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("c1"), Service: aws.String("web"), TaskDefinition: aws.String(bad)})
	if err != nil {
		t.Fatal(err)
	}
	badID := aws.ToString(up.Service.Deployments[0].Id)
	var d types.Service
	natstest.Eventually(t, 60*time.Second, 100*time.Millisecond, func() error {
		d = e.describe(t, "c1", "web")
		if len(d.Deployments) != 1 || aws.ToString(d.Deployments[0].Id) == badID || !strings.HasSuffix(aws.ToString(d.TaskDefinition), good) ||
			d.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted || d.RunningCount != 3 {
			var ds []string
			for _, x := range d.Deployments {
				ds = append(ds, fmt.Sprintf("%s %s %s failed=%d", aws.ToString(x.Id), aws.ToString(x.Status), x.RolloutState, x.FailedTasks))
			}
			return fmt.Errorf("deployments %v running %d", ds, d.RunningCount)
		}
		return nil
	})
	msgs := messages(d)
	want := []string{
		fmt.Sprintf("(service web) (deployment %s) deployment failed: tasks failed to start.", badID),
		fmt.Sprintf("(service web) rolling back to deployment %s.", firstID),
		"(service web) is unable to consistently start tasks successfully.",
	}
	for _, w := range want {
		if !slices.Contains(msgs, w) {
			t.Fatalf("no event %q in %q", w, msgs)
		}
	}
	if !strings.Contains(aws.ToString(d.Deployments[0].RolloutStateReason), "completed") {
		t.Fatalf("rollback deployment: %+v", d.Deployments[0])
	}
}
