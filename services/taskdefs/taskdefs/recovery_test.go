package taskdefs_test

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natsutil"
)

// TestRecovery_IndexRollsForward simulates replicas that died between their
// two writes: a revision record created but never indexed, and a
// deregistration recorded on the revision but not in the index. Readers and
// the next registration roll the index forward; nothing is lost or reused.
func TestRecovery_IndexRollsForward(t *testing.T) {
	env := startEnv(t, 1)
	ctx := t.Context()
	c := env.ECS()
	in := baseInput("recov", types.ContainerDefinition{Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(64)})
	for range 2 {
		if _, err := c.RegisterTaskDefinition(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	kv, err := natsutil.EnsureKV(ctx, env.JS, events.BucketTaskDefs, 1)
	if err != nil {
		t.Fatal(err)
	}
	// A registration of revision 3 that died after its commit point.
	e, err := kv.Get(ctx, events.TaskDefRevisionKey("recov", 2))
	if err != nil {
		t.Fatal(err)
	}
	var rec events.TaskDefRecord
	_ = json.Unmarshal(e.Value(), &rec)
	rec.TaskDefinition.Revision = aws.Int32(3)
	rec.TaskDefinition.TaskDefinitionArn = arn("recov", 3)
	raw, _ := json.Marshal(rec)
	if _, err := kv.Create(ctx, events.TaskDefRevisionKey("recov", 3), raw); err != nil {
		t.Fatal(err)
	}
	// The family lookup finds it (and repairs the index)...
	out, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("recov")})
	if err != nil || out.TaskDefinition.Revision != 3 {
		t.Fatalf("describe after lost index write: %v %v", out, err)
	}
	// ...and the next registration never reuses it.
	reg, err := c.RegisterTaskDefinition(ctx, in)
	if err != nil || reg.TaskDefinition.Revision != 4 {
		t.Fatalf("register after lost index write: %v %v", reg, err)
	}

	// A deregistration of revision 4 that died before updating the index.
	e, _ = kv.Get(ctx, events.TaskDefRevisionKey("recov", 4))
	_ = json.Unmarshal(e.Value(), &rec)
	rec.TaskDefinition.Status = events.TaskDefInactive
	raw, _ = json.Marshal(rec)
	if _, err := kv.Update(ctx, events.TaskDefRevisionKey("recov", 4), raw, e.Revision()); err != nil {
		t.Fatal(err)
	}
	out, err = c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("recov")})
	if err != nil || out.TaskDefinition.Revision != 3 {
		t.Fatalf("latest ACTIVE after lost index write: %v %v", out, err)
	}
	if got := listAll(t, c, "INACTIVE"); len(got) != 1 || got[0] != arn("recov", 4) {
		t.Fatalf("INACTIVE list after repair: %v", got)
	}
}
