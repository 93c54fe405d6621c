package supervisor_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/simagent"
)

// perInstance counts a service's RUNNING tasks per container instance.
func (e *svcEnv) perInstance(t testing.TB, cluster, name string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, tk := range e.tasks(t, cluster, name) {
		if aws.ToString(tk.LastStatus) == "RUNNING" {
			out[aws.ToString(tk.ContainerInstanceArn)]++
		}
	}
	return out
}

func TestDaemon_OnePerInstance(t *testing.T) {
	e := start(t, 1)
	ctx := context.Background()
	e.cluster(t, "c1")
	agents := e.agents(t, "c1", 5, func(i int, c *simagent.Config) {
		if i == 4 {
			c.Attributes = map[string]string{"role": "edge"}
		}
	})
	td := e.taskDef(t, "agent", "log:1")
	out, err := e.ecs.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("c1"), ServiceName: aws.String("logs"), TaskDefinition: aws.String(td),
		SchedulingStrategy: types.SchedulingStrategyDaemon,
	})
	if err != nil {
		t.Fatal(err)
	}
	if dc := out.Service.DeploymentConfiguration; aws.ToInt32(dc.MaximumPercent) != 100 || aws.ToInt32(dc.MinimumHealthyPercent) != 0 {
		t.Fatalf("DAEMON defaults: max %d min %d", aws.ToInt32(dc.MaximumPercent), aws.ToInt32(dc.MinimumHealthyPercent))
	}
	onEach := func(n int) func() error {
		return func() error {
			per := e.perInstance(t, "c1", "logs")
			if len(per) != n {
				return fmt.Errorf("tasks on %d instances, want %d: %v", len(per), n, per)
			}
			for inst, k := range per {
				if k != 1 {
					return fmt.Errorf("%d tasks on %s", k, inst)
				}
			}
			if d := e.describe(t, "c1", "logs"); d.DesiredCount != int32(n) || d.RunningCount != int32(n) {
				return fmt.Errorf("desired %d running %d", d.DesiredCount, d.RunningCount)
			}
			return nil
		}
	}
	natstest.Eventually(t, 20*time.Second, 50*time.Millisecond, onEach(5))
	// A sixth instance registers later and gets its task.
	e.agents(t, "c1", 1, nil)
	natstest.Eventually(t, 20*time.Second, 50*time.Millisecond, onEach(6))
	// A DRAINING instance loses its task.
	if _, err := e.ecs.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
		Cluster: aws.String("c1"), ContainerInstances: []string{agents[0].InstanceArn()}, Status: types.ContainerInstanceStatusDraining,
	}); err != nil {
		t.Fatal(err)
	}
	natstest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		if err := onEach(5)(); err != nil {
			return err
		}
		if n := e.perInstance(t, "c1", "logs")[agents[0].InstanceArn()]; n != 0 {
			return fmt.Errorf("draining instance still has %d tasks", n)
		}
		return nil
	})
	// A new revision: every instance swaps its task, one at a time or
	// all at once (minimumHealthyPercent 0), never two on one instance.
	td2 := e.taskDef(t, "agent", "log:2")
	up, err := e.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("c1"), Service: aws.String("logs"), TaskDefinition: aws.String(td2)})
	if err != nil {
		t.Fatal(err)
	}
	newID := aws.ToString(up.Service.Deployments[0].Id)
	natstest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		if err := onEach(5)(); err != nil {
			return err
		}
		for _, tk := range e.tasks(t, "c1", "logs") {
			if aws.ToString(tk.StartedBy) != newID {
				return fmt.Errorf("task of %s left", aws.ToString(tk.StartedBy))
			}
		}
		if d := e.describe(t, "c1", "logs"); len(d.Deployments) != 1 {
			return fmt.Errorf("%d deployments", len(d.Deployments))
		}
		return nil
	})
	// Constraints: only instances with role == edge.
	if _, err := e.ecs.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("c1"), ServiceName: aws.String("edge"), TaskDefinition: aws.String(td),
		SchedulingStrategy:   types.SchedulingStrategyDaemon,
		PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:role == edge")}},
	}); err != nil {
		t.Fatal(err)
	}
	natstest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		per := e.perInstance(t, "c1", "edge")
		if len(per) != 1 || per[agents[4].InstanceArn()] != 1 {
			return fmt.Errorf("edge tasks: %v", per)
		}
		return nil
	})
}

func TestReplica_DrainingMovesTasks(t *testing.T) {
	e := start(t, 1)
	ctx := context.Background()
	e.cluster(t, "c1")
	agents := e.agents(t, "c1", 3, nil)
	td := e.taskDef(t, "web", "app:1")
	if _, err := e.ecs.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("c1"), ServiceName: aws.String("web"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(6),
		PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeSpread, Field: aws.String("instanceId")}},
	}); err != nil {
		t.Fatal(err)
	}
	e.waitStable(t, "c1", "web")
	drained := agents[0].InstanceArn()
	if n := e.perInstance(t, "c1", "web")[drained]; n == 0 {
		t.Fatalf("no task on the instance to drain")
	}
	s := e.sample(t, "c1", "web")
	if _, err := e.ecs.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
		Cluster: aws.String("c1"), ContainerInstances: []string{drained}, Status: types.ContainerInstanceStatusDraining,
	}); err != nil {
		t.Fatal(err)
	}
	natstest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		per := e.perInstance(t, "c1", "web")
		total := 0
		for _, n := range per {
			total += n
		}
		if per[drained] != 0 || total != 6 {
			return fmt.Errorf("per instance %v", per)
		}
		return nil
	})
	e.waitStable(t, "c1", "web")
	minRunning, maxTotal, samples := s.done()
	t.Logf("draining (min 100, max 200): %d samples, fewest RUNNING %d, most tasks %d", samples, minRunning, maxTotal)
	if minRunning < 6 || maxTotal > 12 {
		t.Fatalf("draining broke the bounds: fewest RUNNING %d, most tasks %d", minRunning, maxTotal)
	}
}
