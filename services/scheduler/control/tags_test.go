package control_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/nats-io/nats.go/micro"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/services/scheduler/control"
)

func tagsOf(t testing.TB, c *ecs.Client, arn string) map[string]string {
	t.Helper()
	out, err := c.ListTagsForResource(context.Background(), &ecs.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Tags == nil {
		t.Fatal("tags: want a list, got none")
	}
	m := map[string]string{}
	for _, tg := range out.Tags {
		m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return m
}

func TestTags_Cluster(t *testing.T) {
	env := start(t, control.Config{})
	ctx := context.Background()
	c := env.ECS()
	arn := clusterARN("tagged")
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("tagged"),
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("blue")}}}); err != nil {
		t.Fatal(err)
	}
	if got := tagsOf(t, c, arn); len(got) != 1 || got["team"] != "blue" {
		t.Fatalf("tags after create: %v", got)
	}
	_, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{
		{Key: aws.String("team"), Value: aws.String("red")}, {Key: aws.String("cost-center"), Value: aws.String("42")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := tagsOf(t, c, arn); len(got) != 2 || got["team"] != "red" || got["cost-center"] != "42" {
		t.Fatalf("tags after tag: %v", got)
	}
	if got := describeOne(t, c, "tagged", "TAGS"); len(got.Tags) != 2 {
		t.Fatalf("describe TAGS: %+v", got.Tags)
	}
	if _, err := c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"team", "absent"}}); err != nil {
		t.Fatal(err)
	}
	if got := tagsOf(t, c, arn); len(got) != 1 || got["cost-center"] != "42" {
		t.Fatalf("tags after untag: %v", got)
	}

	// Bad tags and limits change nothing.
	before := bucketState(t, env)
	var many []types.Tag
	for i := range 50 {
		many = append(many, types.Tag{Key: aws.String(fmt.Sprintf("k%02d", i)), Value: aws.String("v")})
	}
	_, err = c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: many}) // 1 + 50 > 50
	wantCode(t, err, events.CodeInvalidParameter)
	_, err = c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("v")}}})
	wantCode(t, err, events.CodeInvalidParameter)
	_, err = c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"Aws:x"}})
	wantCode(t, err, events.CodeInvalidParameter)
	_, err = c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(clusterARN("nope")), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	wantAPIError(t, err, events.CodeClusterNotFound, "Cluster not found.")
	_, err = c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(clusterARN("nope"))})
	wantAPIError(t, err, events.CodeClusterNotFound, "Cluster not found.")
	_, err = c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String("not-an-arn"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	wantCode(t, err, events.CodeInvalidParameter)
	_, err = c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String("arn:aws:ecs:us-east-1:999999999999:cluster/tagged"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	wantAPIError(t, err, events.CodeInvalidParameter, "Invalid identifier: Identifier is for 999999999999. Your accountId is 123456789012")
	unchanged(t, env, before, "bad tagging calls")

	// INACTIVE clusters answer the inactive-cluster error.
	if _, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("tagged")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	wantAPIError(t, err, events.CodeInvalidParameter, "The specified cluster is inactive. Specify an active cluster and try again.")
	_, err = c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	wantAPIError(t, err, events.CodeInvalidParameter, "The specified cluster is inactive. Specify an active cluster and try again.")
}

// TestTags_ConcurrentTagResource: 20 concurrent TagResource calls with
// distinct keys, through two replicas, all land (revision-checked writes
// retried on conflict).
func TestTags_ConcurrentTagResource(t *testing.T) {
	env := start(t, control.Config{})
	startReplica(t, env, control.Config{})
	ctx := context.Background()
	c := env.ECS()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("busy")}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			_, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(clusterARN("busy")),
				Tags: []types.Tag{{Key: aws.String(fmt.Sprintf("k%02d", i)), Value: aws.String("v")}}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := tagsOf(t, c, clusterARN("busy")); len(got) != 20 {
		t.Fatalf("want 20 tags, got %d: %v", len(got), got)
	}
}

// fakeTaskDefs answers the internal tagging subjects the way the taskdefs
// service will, and records what it received.
type fakeTaskDefs struct {
	mu   sync.Mutex
	got  map[string]json.RawMessage
	hdrs map[string]micro.Headers
}

func startFakeTaskDefs(t testing.TB, env *testenv.Env) *fakeTaskDefs {
	t.Helper()
	f := &fakeTaskDefs{got: map[string]json.RawMessage{}, hdrs: map[string]micro.Headers{}}
	nc := natstest.Connect(t, env.Server)
	svc, err := micro.AddService(nc, micro.Config{Name: "fake-taskdefs", Version: "0.0.1", QueueGroup: events.QueueGroup})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	g := svc.AddGroup("berth.internal."+events.ServiceTaskDefs, micro.WithGroupQueueGroup(events.QueueGroup))
	record := func(op string, r micro.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.got[op] = append(json.RawMessage{}, r.Data()...)
		f.hdrs[op] = r.Headers()
	}
	add := func(op string, h micro.HandlerFunc) {
		if err := g.AddEndpoint(op, h); err != nil {
			t.Fatal(err)
		}
	}
	add("TagResource", func(r micro.Request) {
		record("TagResource", r)
		_ = r.Respond([]byte(`{}`))
	})
	add("ListTagsForResource", func(r micro.Request) {
		record("ListTagsForResource", r)
		_ = r.Respond([]byte(`{"tags":[{"key":"family","value":"web"}]}`))
	})
	add("UntagResource", func(r micro.Request) {
		record("UntagResource", r)
		_ = r.Error(string(events.CodeClient), "Unable to describe task definition.", []byte(`{"reason":"fake"}`))
	})
	// The endpoints' subscriptions reach the server before the test calls.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fakeTaskDefs) received(op string) (json.RawMessage, micro.Headers) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got[op], f.hdrs[op]
}

func TestTags_TaskDefinitionsForwarded(t *testing.T) {
	env := start(t, control.Config{})
	ctx := context.Background()
	c := env.ECS()
	tdARN := events.TaskDefinitionARN(testenv.Region, testenv.Account, "web", 3)

	// Nobody serves task definitions yet: a retryable server fault.
	_, err := c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(tdARN)})
	wantCode(t, err, events.CodeServer)

	f := startFakeTaskDefs(t, env)
	_, err = c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(tdARN), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	if err != nil {
		t.Fatal(err)
	}
	body, hdr := f.received("TagResource")
	var in struct {
		ResourceArn string              `json:"resourceArn"`
		Tags        []map[string]string `json:"tags"`
	}
	if err := json.Unmarshal(body, &in); err != nil || in.ResourceArn != tdARN || len(in.Tags) != 1 || in.Tags[0]["key"] != "k" {
		t.Fatalf("forwarded body %s (%v)", body, err)
	}
	if hdr.Get(events.HeaderRequestID) == "" || hdr.Get(events.HeaderAccessKey) != env.Key.AccessKeyID {
		t.Fatalf("forwarded headers: %v", hdr)
	}

	if got := tagsOf(t, c, tdARN); len(got) != 1 || got["family"] != "web" {
		t.Fatalf("relayed tags: %v", got)
	}
	_, err = c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(tdARN), TagKeys: []string{"k"}})
	wantAPIError(t, err, events.CodeClient, "Unable to describe task definition.")
	if body, _ := f.received("UntagResource"); len(body) == 0 {
		t.Fatal("untag not forwarded")
	}
}

// TestTags_OtherResources: resource types nobody serves yet answer as for a
// resource that does not exist, after the checks of the ARN itself.
func TestTags_OtherResources(t *testing.T) {
	env := start(t, control.Config{})
	ctx := context.Background()
	c := env.ECS()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("live")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("dead")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("dead")}); err != nil {
		t.Fatal(err)
	}
	id := "0123456789abcdef0123456789abcdef"
	cases := []struct {
		arn  string
		code events.Code
		msg  string
	}{
		{events.TaskARN(testenv.Region, testenv.Account, "live", id), events.CodeResourceNotFound, "The specified resource wasn't found."},
		{events.ServiceARN(testenv.Region, testenv.Account, "live", "web"), events.CodeResourceNotFound, "The specified resource wasn't found."},
		{events.ContainerInstanceARN(testenv.Region, testenv.Account, "live", id), events.CodeResourceNotFound, "The specified resource wasn't found."},
		{events.TaskARN(testenv.Region, testenv.Account, "nope", id), events.CodeClusterNotFound, "Cluster not found."},
		{events.TaskARN(testenv.Region, testenv.Account, "dead", id), events.CodeInvalidParameter, "The specified cluster is inactive. Specify an active cluster and try again."},
		{"arn:aws:ecs:us-east-1:123456789012:task/" + id, events.CodeInvalidParameter, "Long arn format must be used for tagging operations"},
		{"arn:aws:ecs:us-east-1:123456789012:service/web", events.CodeInvalidParameter, "Long arn format must be used for tagging operations"},
		{events.ContainerARN(testenv.Region, testenv.Account, "live", id, "u"), events.CodeInvalidParameter, ""},
		{"arn:aws:ecs:us-east-1:123456789012:widget/x", events.CodeInvalidParameter, ""},
		{events.CapacityProviderARN(testenv.Region, testenv.Account, "mine"), events.CodeResourceNotFound, ""},
	}
	for _, tc := range cases {
		_, err := c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(tc.arn)})
		wantAPIError(t, err, tc.code, tc.msg)
		_, err = c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(tc.arn), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
		wantAPIError(t, err, tc.code, tc.msg)
		_, err = c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(tc.arn), TagKeys: []string{"k"}})
		wantAPIError(t, err, tc.code, tc.msg)
	}
}
