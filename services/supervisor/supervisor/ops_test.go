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
)

func TestService_Lifecycle(t *testing.T) {
	e := start(t, 1)
	ctx := context.Background()
	e.cluster(t, "c1")
	e.agents(t, "c1", 3, nil)
	td1 := e.taskDef(t, "web", "nginx:1")
	out, err := e.ecs.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("c1"), ServiceName: aws.String("web"), TaskDefinition: aws.String(td1), DesiredCount: aws.Int32(3),
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := out.Service
	if aws.ToString(s.Status) != "ACTIVE" || s.DesiredCount != 3 || string(s.SchedulingStrategy) != "REPLICA" ||
		len(s.Deployments) != 1 || aws.ToInt32(s.DeploymentConfiguration.MaximumPercent) != 200 || aws.ToInt32(s.DeploymentConfiguration.MinimumHealthyPercent) != 100 {
		t.Fatalf("created: %+v", s)
	}
	e.waitStable(t, "c1", "web")
	var d types.Service
	natstest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		d = e.describe(t, "c1", "web")
		if d.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted || messages(d)[0] != "(service web) has reached a steady state." {
			return fmt.Errorf("rollout %s, events %q", d.Deployments[0].RolloutState, messages(d))
		}
		return nil
	})
	if d.RunningCount != 3 || len(d.Tags) != 1 || d.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted {
		t.Fatalf("stable: running %d tags %v rollout %s", d.RunningCount, d.Tags, d.Deployments[0].RolloutState)
	}
	msgs := messages(d)
	if msgs[0] != "(service web) has reached a steady state." || !slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "(service web) has started 3 tasks: (task ") }) {
		t.Fatalf("events: %q", msgs)
	}
	for _, tk := range e.tasks(t, "c1", "web") {
		if aws.ToString(tk.Group) != "service:web" || !strings.HasPrefix(aws.ToString(tk.StartedBy), "ecs-svc/") || len(aws.ToString(tk.StartedBy)) != len("ecs-svc/")+19 {
			t.Fatalf("task group %q startedBy %q", aws.ToString(tk.Group), aws.ToString(tk.StartedBy))
		}
	}
	// Same request again: the same service. Another one: not idempotent.
	again, err := e.ecs.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("c1"), ServiceName: aws.String("web"), TaskDefinition: aws.String(td1), DesiredCount: aws.Int32(3),
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}},
	})
	if err != nil || aws.ToString(again.Service.ServiceArn) != aws.ToString(s.ServiceArn) {
		t.Fatalf("idempotent create: %v", err)
	}
	_, err = e.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("c1"), ServiceName: aws.String("web"), TaskDefinition: aws.String(td1), DesiredCount: aws.Int32(4)})
	wantCode(t, err, events.CodeInvalidParameter, "Creation of service was not idempotent.")

	list, err := e.ecs.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("c1")})
	if err != nil || len(list.ServiceArns) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	cl, err := e.ecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"c1"}})
	if err != nil || cl.Clusters[0].ActiveServicesCount != 1 {
		t.Fatalf("activeServicesCount: %+v %v", cl, err)
	}
	testServiceTags(t, e, aws.ToString(s.ServiceArn))

	// Delete refused while scaled above 0.
	_, err = e.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("c1"), Service: aws.String("web")})
	wantCode(t, err, events.CodeInvalidParameter, "The service cannot be stopped while it is scaled above 0.")
	if _, err := e.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("c1"), Service: aws.String("web"), DesiredCount: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	del, err := e.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("c1"), Service: aws.String("web")})
	if err != nil || aws.ToString(del.Service.Status) != "DRAINING" {
		t.Fatalf("delete: %v", err)
	}
	_, err = e.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("c1"), Service: aws.String("web"), DesiredCount: aws.Int32(1)})
	wantCode(t, err, events.CodeServiceNotActive, "Service was not ACTIVE.")
	w := ecs.NewServicesInactiveWaiter(e.ecs, func(o *ecs.ServicesInactiveWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 200*time.Millisecond
	})
	if err := w.Wait(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("c1"), Services: []string{"web"}}, 30*time.Second); err != nil {
		t.Fatalf("services-inactive: %v", err)
	}
	list, _ = e.ecs.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("c1")})
	if len(list.ServiceArns) != 0 {
		t.Fatalf("INACTIVE service listed: %v", list.ServiceArns)
	}
	// Force-delete of a scaled service.
	if _, err := e.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("c1"), ServiceName: aws.String("web"), TaskDefinition: aws.String(td1), DesiredCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	e.waitStable(t, "c1", "web")
	if _, err := e.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("c1"), Service: aws.String("web"), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("c1"), Services: []string{"web"}}, 30*time.Second); err != nil {
		t.Fatalf("services-inactive after force: %v", err)
	}
	natstest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		if n := len(e.tasks(t, "c1", "web")); n != 0 {
			return fmt.Errorf("%d tasks left", n)
		}
		return nil
	})
}

func TestCreateService_BadInput(t *testing.T) {
	e := start(t, 1)
	ctx := context.Background()
	e.cluster(t, "c1")
	td := e.taskDef(t, "web", "nginx:1")
	cases := []struct {
		name string
		in   ecs.CreateServiceInput
		code events.Code
		msg  string
	}{
		{"missing task definition", ecs.CreateServiceInput{TaskDefinition: aws.String("nope:1"), DesiredCount: aws.Int32(1)}, events.CodeClient, "TaskDefinition not found."},
		{"replica without desired", ecs.CreateServiceInput{TaskDefinition: aws.String(td)}, events.CodeInvalidParameter, "The desiredCount must be specified for services with the REPLICA scheduling strategy."},
		{"negative desired", ecs.CreateServiceInput{TaskDefinition: aws.String(td), DesiredCount: aws.Int32(-1)}, events.CodeInvalidParameter, ""},
		{"max below 100", ecs.CreateServiceInput{TaskDefinition: aws.String(td), DesiredCount: aws.Int32(1), DeploymentConfiguration: &types.DeploymentConfiguration{MaximumPercent: aws.Int32(50)}}, events.CodeInvalidParameter, ""},
		{"min 100 max 150 accepted", ecs.CreateServiceInput{TaskDefinition: aws.String(td), DesiredCount: aws.Int32(1), DeploymentConfiguration: &types.DeploymentConfiguration{MaximumPercent: aws.Int32(150), MinimumHealthyPercent: aws.Int32(100)}}, "", ""},
		{"min above 100", ecs.CreateServiceInput{TaskDefinition: aws.String(td), DesiredCount: aws.Int32(1), DeploymentConfiguration: &types.DeploymentConfiguration{MaximumPercent: aws.Int32(200), MinimumHealthyPercent: aws.Int32(150)}}, events.CodeInvalidParameter, ""},
		{"daemon with desired", ecs.CreateServiceInput{TaskDefinition: aws.String(td), DesiredCount: aws.Int32(1), SchedulingStrategy: types.SchedulingStrategyDaemon}, events.CodeInvalidParameter, "The daemon scheduling strategy does not support a desired count for services."},
		{"daemon with strategy", ecs.CreateServiceInput{TaskDefinition: aws.String(td), SchedulingStrategy: types.SchedulingStrategyDaemon, PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeRandom}}}, events.CodeInvalidParameter, "The daemon scheduling strategy does not support placement strategies."},
		{"unknown cluster", ecs.CreateServiceInput{Cluster: aws.String("nope"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(1)}, events.CodeClusterNotFound, "Cluster not found."},
		{"bad constraint", ecs.CreateServiceInput{TaskDefinition: aws.String(td), DesiredCount: aws.Int32(1), PlacementConstraints: []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:x ==")}}}, events.CodeInvalidParameter, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := c.in
			if in.Cluster == nil {
				in.Cluster = aws.String("c1")
			}
			in.ServiceName = aws.String("bad")
			_, err := e.ecs.CreateService(ctx, &in)
			if c.code == "" {
				// AWS accepts min 100 / max 150: check it was created, then
				// remove it for the next case.
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if _, err := e.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("c1"), Service: aws.String("bad"), Force: aws.Bool(true)}); err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, c.code, c.msg)
			out, err := e.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("c1"), Services: []string{"bad"}})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range out.Services {
				if aws.ToString(s.Status) == "ACTIVE" {
					t.Fatalf("refused request created %+v", s)
				}
			}
		})
	}
	_, err := e.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("c1"), Service: aws.String("nope"), DesiredCount: aws.Int32(1)})
	wantCode(t, err, events.CodeServiceNotFound, "Service not found.")
	_, err = e.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("c1"), Service: aws.String("nope")})
	wantCode(t, err, events.CodeServiceNotFound, "Service not found.")
	_, err = e.ecs.ListServicesByNamespace(ctx, &ecs.ListServicesByNamespaceInput{Namespace: aws.String("ns")})
	wantCode(t, err, events.CodeNamespaceNotFound, "")
	miss, err := e.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("c1"), Services: []string{"nope"}})
	if err != nil || len(miss.Failures) != 1 || aws.ToString(miss.Failures[0].Reason) != "MISSING" {
		t.Fatalf("describe unknown: %+v %v", miss, err)
	}
}

// testServiceTags checks TagResource, UntagResource and ListTagsForResource
// on the service arn (created with the tag team=a) in cluster c1.
func testServiceTags(t *testing.T, e *svcEnv, arn string) {
	ctx := context.Background()
	s := struct{ ServiceArn *string }{aws.String(arn)}
	tags, err := e.ecs.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: s.ServiceArn})
	if err != nil || len(tags.Tags) != 1 {
		t.Fatalf("list tags: %v %v", tags, err)
	}
	if _, err := e.ecs.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: s.ServiceArn, Tags: []types.Tag{{Key: aws.String("b"), Value: aws.String("c")}}}); err != nil {
		t.Fatal(err)
	}
	if d := e.describe(t, "c1", "web"); len(d.Tags) != 2 {
		t.Fatalf("tags after TagResource: %v", d.Tags)
	}
	if _, err := e.ecs.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: s.ServiceArn, TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	if d := e.describe(t, "c1", "web"); len(d.Tags) != 1 || aws.ToString(d.Tags[0].Key) != "b" {
		t.Fatalf("tags after UntagResource: %v", d.Tags)
	}
	_, err = e.ecs.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(strings.Replace(aws.ToString(s.ServiceArn), "/web", "/nope", 1))})
	wantCode(t, err, events.CodeResourceNotFound, "")
	_, err = e.ecs.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(strings.Replace(aws.ToString(s.ServiceArn), "/c1/", "/c9/", 1))})
	wantCode(t, err, events.CodeClusterNotFound, "")

}
