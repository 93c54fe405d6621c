package taskdefs_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natsutil"
)

func TestTags_InternalSubjects(t *testing.T) {
	env := startEnv(t, 1)
	c := env.ECS()
	ctx := context.Background()
	in := baseInput("tagged", main(func(*types.ContainerDefinition) {}))
	in.Tags = []types.Tag{{Key: aws.String("team"), Value: aws.String("web")}}
	if _, err := c.RegisterTaskDefinition(ctx, in); err != nil {
		t.Fatal(err)
	}
	subj := func(op string) string { return events.SubjInternal(events.ServiceTaskDefs, op) }
	list := func() []ecsapi.Tag {
		t.Helper()
		var out ecsapi.ListTagsForResourceResponse
		if err := natsutil.Call(ctx, env.NC, subj("ListTagsForResource"), ecsapi.ListTagsForResourceRequest{ResourceArn: arn("tagged", 1)}, &out); err != nil {
			t.Fatalf("list tags: %v", err)
		}
		return out.Tags
	}
	if got := list(); !reflect.DeepEqual(got, []ecsapi.Tag{{Key: "team", Value: "web"}}) {
		t.Fatalf("tags from registration: %v", got)
	}
	err := natsutil.Call(ctx, env.NC, subj("TagResource"), ecsapi.TagResourceRequest{
		ResourceArn: arn("tagged", 1),
		Tags:        []ecsapi.Tag{{Key: "env", Value: "prod"}, {Key: "team", Value: "api"}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := list(); !reflect.DeepEqual(got, []ecsapi.Tag{{Key: "team", Value: "api"}, {Key: "env", Value: "prod"}}) {
		t.Fatalf("after tag: %v", got)
	}
	if err := natsutil.Call(ctx, env.NC, subj("UntagResource"), ecsapi.UntagResourceRequest{ResourceArn: arn("tagged", 1), TagKeys: []string{"team", "absent"}}, nil); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("tagged"), Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags}})
	if err != nil || len(d.Tags) != 1 || aws.ToString(d.Tags[0].Key) != "env" {
		t.Fatalf("describe after untag: %v %+v", err, d.Tags)
	}

	many := make([]ecsapi.Tag, 50)
	for i := range many {
		many[i] = ecsapi.Tag{Key: fmt.Sprintf("k%d", i), Value: "v"}
	}
	before := bucketState(t, env)
	for _, tc := range []struct {
		name string
		op   string
		req  any
		code events.Code
	}{
		{"cluster ARN", "TagResource", ecsapi.TagResourceRequest{ResourceArn: "arn:aws:ecs:us-east-1:123456789012:cluster/default", Tags: []ecsapi.Tag{{Key: "a"}}}, events.CodeInvalidParameter},
		{"not an ARN", "ListTagsForResource", ecsapi.ListTagsForResourceRequest{ResourceArn: "tagged:1"}, events.CodeInvalidParameter},
		{"no revision", "ListTagsForResource", ecsapi.ListTagsForResourceRequest{ResourceArn: "arn:aws:ecs:us-east-1:123456789012:task-definition/tagged"}, events.CodeInvalidParameter},
		{"unknown revision", "TagResource", ecsapi.TagResourceRequest{ResourceArn: arn("tagged", 9), Tags: []ecsapi.Tag{{Key: "a"}}}, events.CodeClient},
		{"aws: prefix", "TagResource", ecsapi.TagResourceRequest{ResourceArn: arn("tagged", 1), Tags: []ecsapi.Tag{{Key: "aws:x", Value: "y"}}}, events.CodeInvalidParameter},
		{"untag aws: prefix", "UntagResource", ecsapi.UntagResourceRequest{ResourceArn: arn("tagged", 1), TagKeys: []string{"aws:x"}}, events.CodeInvalidParameter},
		{"over 50 in total", "TagResource", ecsapi.TagResourceRequest{ResourceArn: arn("tagged", 1), Tags: many}, events.CodeInvalidParameter},
		{"malformed", "TagResource", map[string]any{"resourceArn": 5}, events.CodeSerialization},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := natsutil.Call(ctx, env.NC, subj(tc.op), tc.req, nil)
			if !apierr.HasCode(err, tc.code) {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
			if after := bucketState(t, env); !mapsEqual(after, before) {
				t.Fatalf("state changed")
			}
		})
	}
}
