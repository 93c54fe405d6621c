package supervisor_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/simagent"
)

// healthByImage reports the health status named in the image tag:
// app:hc-HEALTHY, app:hc-UNKNOWN, app:hc-UNHEALTHY.
func healthByImage(_ int, c *simagent.Config) {
	c.Health = func(a events.TaskAssignment) string {
		if a.TaskDefinition == nil {
			return "UNKNOWN"
		}
		_, h, ok := strings.Cut(a.TaskDefinition.ContainerDefinitions[0].Image, "hc-")
		if !ok {
			return "UNKNOWN"
		}
		return h
	}
}

// healthTaskDef registers a task definition with a container health check.
func (e *svcEnv) healthTaskDef(t testing.TB, image string) string {
	t.Helper()
	out, err := e.ecs.RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("hc"),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String(image), Cpu: 128, Memory: aws.Int32(128),
			HealthCheck: &types.HealthCheck{Command: []string{"CMD-SHELL", "true"}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("hc:%d", out.TaskDefinition.Revision)
}

// TestHealth_OnlyHealthyCounts: with a container health check, a RUNNING
// task counts toward minimumHealthyPercent only once HEALTHY, so a rollout
// whose tasks stay UNKNOWN keeps the old tasks; UNHEALTHY tasks are stopped
// ("failed container health checks") and count for the circuit breaker's
// second stage.
func TestHealth_OnlyHealthyCounts(t *testing.T) {
	e := start(t, 1)
	ctx := context.Background()
	e.cluster(t, "c1")
	e.agents(t, "c1", 3, healthByImage)
	ok := e.healthTaskDef(t, "app:hc-HEALTHY")
	unknown := e.healthTaskDef(t, "app:hc-UNKNOWN")
	bad := e.healthTaskDef(t, "app:hc-UNHEALTHY")
	if _, err := e.ecs.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("c1"), ServiceName: aws.String("hc"), TaskDefinition: aws.String(ok), DesiredCount: aws.Int32(3),
		DeploymentConfiguration: &types.DeploymentConfiguration{
			MinimumHealthyPercent: aws.Int32(100), MaximumPercent: aws.Int32(200),
			DeploymentCircuitBreaker: &types.DeploymentCircuitBreaker{Enable: true, Rollback: true},
		},
	}); err != nil {
		t.Fatal(err)
	}
	completed := func(td string) func() error {
		return func() error {
			d := e.describe(t, "c1", "hc")
			if len(d.Deployments) != 1 || !strings.HasSuffix(aws.ToString(d.TaskDefinition), td) || d.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted || d.RunningCount != 3 {
				return fmt.Errorf("deployments %d td %s rollout %s running %d", len(d.Deployments), aws.ToString(d.TaskDefinition), d.Deployments[0].RolloutState, d.RunningCount)
			}
			return nil
		}
	}
	natstest.Eventually(t, 20*time.Second, 50*time.Millisecond, completed(ok))

	// New tasks RUNNING but never HEALTHY: the old ones stay.
	if _, err := e.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("c1"), Service: aws.String("hc"), TaskDefinition: aws.String(unknown)}); err != nil {
		t.Fatal(err)
	}
	natstest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		d := e.describe(t, "c1", "hc")
		if len(d.Deployments) != 2 || d.Deployments[0].RunningCount != 3 || d.Deployments[1].RunningCount != 3 {
			return fmt.Errorf("deployments %+v", d.Deployments)
		}
		return nil
	})
	// Well past HealthyAfter: still both, still IN_PROGRESS.
	deadline := time.Now().Add(4 * testConfig().HealthyAfter)
	natstest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		if time.Now().Before(deadline) {
			return fmt.Errorf("waiting")
		}
		return nil
	})
	if d := e.describe(t, "c1", "hc"); len(d.Deployments) != 2 || d.Deployments[1].RunningCount != 3 || d.Deployments[0].RolloutState != types.DeploymentRolloutStateInProgress {
		t.Fatalf("UNKNOWN tasks replaced healthy ones: %+v", d.Deployments)
	}

	// Back to a healthy revision: completes, the UNKNOWN tasks go.
	if _, err := e.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("c1"), Service: aws.String("hc"), TaskDefinition: aws.String(ok)}); err != nil {
		t.Fatal(err)
	}
	natstest.Eventually(t, 20*time.Second, 50*time.Millisecond, completed(ok))

	// UNHEALTHY tasks: stopped, replaced, and after the threshold (10)
	// the circuit breaker rolls back.
	if _, err := e.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("c1"), Service: aws.String("hc"), TaskDefinition: aws.String(bad)}); err != nil {
		t.Fatal(err)
	}
	natstest.Eventually(t, 60*time.Second, 100*time.Millisecond, func() error {
		msgs := messages(e.describe(t, "c1", "hc"))
		if !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, "failed container health checks.") }) ||
			!slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "(service hc) rolling back to deployment ") }) {
			return fmt.Errorf("events %q", msgs[:min(4, len(msgs))])
		}
		return completed(ok)()
	})
}
