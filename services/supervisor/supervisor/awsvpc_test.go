package supervisor_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/simagent"
)

// An awsvpc service (EC2 launch type) runs its tasks with its
// networkConfiguration: DescribeServices shows it and every task carries
// the ENI attachment of its first subnet.
func TestService_AWSVPCNetworkConfiguration(t *testing.T) {
	t.Parallel()
	e := start(t, 1)
	ctx := context.Background()
	e.cluster(t, "vpc")
	e.agents(t, "vpc", 2, func(i int, c *simagent.Config) { c.AWSVPCSubnet = "10.211." + string(rune('1'+i)) + ".0/24" })
	td, err := e.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("vpc"), NetworkMode: types.NetworkModeAwsvpc, Cpu: aws.String("256"), Memory: aws.String("512"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("busybox"),
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(80)}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	nc := &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-12345678"}, SecurityGroups: []string{"sg-12345678"}}}
	if _, err := e.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("vpc"), ServiceName: aws.String("web"),
		TaskDefinition: td.TaskDefinition.TaskDefinitionArn, DesiredCount: aws.Int32(3), NetworkConfiguration: nc}); err != nil {
		t.Fatal(err)
	}
	e.waitStable(t, "vpc", "web")
	svc := e.describe(t, "vpc", "web")
	if svc.NetworkConfiguration == nil || svc.NetworkConfiguration.AwsvpcConfiguration == nil || svc.NetworkConfiguration.AwsvpcConfiguration.Subnets[0] != "subnet-12345678" {
		t.Fatalf("service networkConfiguration: %+v", svc.NetworkConfiguration)
	}
	tasks := e.tasks(t, "vpc", "web")
	if len(tasks) != 3 {
		t.Fatalf("%d tasks", len(tasks))
	}
	for _, tk := range tasks {
		if len(tk.Attachments) != 1 || aws.ToString(tk.Attachments[0].Type) != "ElasticNetworkInterface" {
			t.Fatalf("task %s attachments %+v", aws.ToString(tk.TaskArn), tk.Attachments)
		}
	}
}
