package taskdefs_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// Two gateways, two taskdefs replicas, eight SDK clients (four per gateway)
// registering one family 50 times each: the revisions must be exactly
// 1..400, with no gap and no duplicate.
func TestConcurrency_RevisionsHaveNoGapsOrDuplicates(t *testing.T) {
	const clients, perClient = 8, 50
	env := startEnv(t, 2)
	endpoints := []string{env.Endpoint, env.StartGateway(t)}
	ctx := context.Background()
	in := &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("race"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(32)}},
	}

	var mu sync.Mutex
	var revisions []int32
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		c := env.ECS(endpoints[i%2])
		wg.Go(func() {
			for range perClient {
				out, err := c.RegisterTaskDefinition(ctx, in)
				if err != nil {
					errs <- err
					return
				}
				if aws.ToString(out.TaskDefinition.TaskDefinitionArn) != arn("race", int(out.TaskDefinition.Revision)) {
					errs <- &mismatch{arn: aws.ToString(out.TaskDefinition.TaskDefinitionArn)}
					return
				}
				mu.Lock()
				revisions = append(revisions, out.TaskDefinition.Revision)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("register: %v", err)
	}
	slices.Sort(revisions)
	for i, r := range revisions {
		if r != int32(i+1) {
			t.Fatalf("revisions are not 1..%d: position %d holds %d", clients*perClient, i, r)
		}
	}
	if len(revisions) != clients*perClient {
		t.Fatalf("%d revisions", len(revisions))
	}
	got := listAll(t, env.ECS(endpoints[1]), "ACTIVE")
	want := make([]string, clients*perClient)
	for i := range want {
		want[i] = arn("race", i+1)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("list has %d ARNs; first difference around %v", len(got), firstDiff(got, want))
	}
	d, err := env.ECS().DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("race")})
	if err != nil || d.TaskDefinition.Revision != clients*perClient {
		t.Fatalf("latest: %v %+v", err, d)
	}
}

type mismatch struct{ arn string }

func (m *mismatch) Error() string { return "ARN does not match revision: " + m.arn }

func firstDiff(a, b []string) []string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return []string{a[i], b[i]}
		}
	}
	return nil
}
