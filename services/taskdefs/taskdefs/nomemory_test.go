package taskdefs_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TestSDK_ContainerWithoutMemory registers the ECS tutorial's sleep360
// with no cpu or memory anywhere, for the default (EC2) and an explicit EC2
// compatibility. AWS refuses it ("At least one of 'memory' or
// 'memoryReservation' must be specified."); Berth accepts it, and the
// container reserves no memory and runs without a limit.
func TestSDK_ContainerWithoutMemory(t *testing.T) {
	env := startEnv(t, 1)
	c := env.ECS()
	ctx := context.Background()
	for _, compat := range [][]types.Compatibility{nil, {types.CompatibilityEc2}} {
		out, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
			Family:                  aws.String("sleep360"),
			RequiresCompatibilities: compat,
			ContainerDefinitions: []types.ContainerDefinition{{
				Name: aws.String("sleep"), Image: aws.String("busybox"),
				Command: []string{"sleep", "360"}, Essential: aws.Bool(true),
			}},
		})
		if err != nil {
			t.Fatalf("register %v: %v", compat, err)
		}
		cd := out.TaskDefinition.ContainerDefinitions[0]
		if cd.Memory != nil || cd.MemoryReservation != nil || out.TaskDefinition.Memory != nil {
			t.Fatalf("registered memory: container %v/%v, task %v", cd.Memory, cd.MemoryReservation, out.TaskDefinition.Memory)
		}
	}
	// The rules on the values given stay: zero memory is still refused.
	_, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("sleep360"),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("sleep"), Image: aws.String("busybox"), Memory: aws.Int32(0),
		}},
	})
	if err == nil {
		t.Fatal("memory 0 was accepted")
	}
}
