package control_test

import (
	"context"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/services/scheduler/control"
)

// TestDeleteCluster_Preconditions drives the counters through a fake (the
// instances, tasks and services work will implement them for real): each
// kind of content refuses the delete with AWS's error and changes nothing,
// and the counts show in DescribeClusters.
func TestDeleteCluster_Preconditions(t *testing.T) {
	f := newFakeCounts()
	env := start(t, f.config())
	ctx := context.Background()
	c := env.ECS()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("full")}); err != nil {
		t.Fatal(err)
	}

	f.set(func(f *fakeCounts) {
		f.instances["full"] = control.InstanceCounts{Registered: 2}
		f.tasks["full"] = control.TaskCounts{RunningEC2: 3, RunningFargate: 1, PendingEC2: 2, Unstopped: 6}
		f.services["full"] = control.ServiceCounts{ActiveEC2: 1, ActiveFargate: 1, DrainingEC2: 1}
	})
	got := describeOne(t, c, "full", types.ClusterFieldStatistics)
	if got.RegisteredContainerInstancesCount != 2 || got.RunningTasksCount != 4 || got.PendingTasksCount != 2 || got.ActiveServicesCount != 2 {
		t.Fatalf("counts: %+v", got)
	}
	stats := map[string]string{}
	for _, kv := range got.Statistics {
		stats[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
	}
	want := map[string]string{"runningEC2TasksCount": "3", "RunningFargateTasksCount": "1", "pendingEC2TasksCount": "2", "pendingFargateTasksCount": "0",
		"activeEC2ServiceCount": "1", "activeFargateServiceCount": "1", "drainingEC2ServiceCount": "1", "drainingFargateServiceCount": "0"}
	for k, v := range want {
		if stats[k] != v {
			t.Fatalf("statistics: got %v, want %v", stats, want)
		}
	}

	steps := []struct {
		name   string
		change func(f *fakeCounts)
		code   events.Code
		msg    string
	}{
		{"instances", func(*fakeCounts) {}, events.CodeClusterContainsInstances, "The Cluster cannot be deleted while Container Instances are active or draining."},
		{"services", func(f *fakeCounts) { f.instances["full"] = control.InstanceCounts{} }, events.CodeClusterContainsServices, "The Cluster cannot be deleted while Services are active."},
		{"draining services", func(f *fakeCounts) { f.services["full"] = control.ServiceCounts{DrainingFargate: 1} }, events.CodeClusterContainsServices, "The Cluster cannot be deleted while Services are active."},
		{"tasks", func(f *fakeCounts) { f.services["full"] = control.ServiceCounts{} }, events.CodeClusterContainsTasks, "The Cluster cannot be deleted while Tasks are active."},
		{"stopping tasks", func(f *fakeCounts) { f.tasks["full"] = control.TaskCounts{Unstopped: 1} }, events.CodeClusterContainsTasks, "The Cluster cannot be deleted while Tasks are active."},
	}
	before := bucketState(t, env)
	for _, s := range steps {
		f.set(s.change)
		_, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("full")})
		wantAPIError(t, err, s.code, s.msg)
		unchanged(t, env, before, "a refused delete ("+s.name+")")
	}

	f.set(func(f *fakeCounts) { f.tasks["full"] = control.TaskCounts{} })
	out, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("full")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Cluster.Status) != "INACTIVE" {
		t.Fatalf("delete: %+v", out.Cluster)
	}
}

// TestCreateCluster_ConcurrentReplicas: two replicas behind two gateways,
// 20 concurrent CreateCluster calls of one name: all succeed with the same
// cluster and exactly one write reaches the bucket.
func TestCreateCluster_ConcurrentReplicas(t *testing.T) {
	env := start(t, control.Config{})
	startReplica(t, env, control.Config{})
	second := env.StartGateway(t)
	clients := []*ecs.Client{env.ECS(), env.ECS(second)}
	ctx := context.Background()

	var wg sync.WaitGroup
	type result struct {
		arn string
		err error
	}
	results := make(chan result, 20)
	for i := range 20 {
		wg.Go(func() {
			out, err := clients[i%2].CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("race"),
				Settings: []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("enabled")}}})
			if err != nil {
				results <- result{err: err}
				return
			}
			results <- result{arn: aws.ToString(out.Cluster.ClusterArn)}
		})
	}
	wg.Wait()
	close(results)
	for r := range results {
		if r.err != nil || r.arn != clusterARN("race") {
			t.Fatalf("create: %+v", r)
		}
	}
	if arns := listAll(t, env.ECS(), nil); len(arns) != 1 || arns[0] != clusterARN("race") {
		t.Fatalf("list: %v", arns)
	}
	s, err := env.JS.Stream(ctx, "KV_"+events.BucketClusters.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.LastSeq != 1 {
		t.Fatalf("want exactly one write to the clusters bucket, got %d", info.State.LastSeq)
	}
}
