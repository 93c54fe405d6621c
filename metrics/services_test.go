package metrics_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/metrics"
)

// fakeECS answers the read operations the metrics service asks the
// scheduler and the supervisor (same subjects and shapes): one cluster
// "default" with Container Insights enabled and one service "web".
func fakeECS(t *testing.T, nc *nats.Conn) {
	t.Helper()
	n := func(v int32) *int32 { return &v }
	replies := map[string]any{
		"ListClusters": ecsapi.ListClustersResponse{ClusterArns: []string{"arn:aws:ecs:us-east-1:123456789012:cluster/default"}},
		"DescribeClusters": ecsapi.DescribeClustersResponse{Clusters: []ecsapi.Cluster{{
			ClusterName: "default", RunningTasksCount: n(2), PendingTasksCount: n(1), RegisteredContainerInstancesCount: n(1),
			ActiveServicesCount: n(1), Settings: []ecsapi.ClusterSetting{{Name: "containerInsights", Value: "enabled"}}}}},
		"ListServices": ecsapi.ListServicesResponse{ServiceArns: []string{"arn:aws:ecs:us-east-1:123456789012:service/default/web"}},
		"DescribeServices": ecsapi.DescribeServicesResponse{Services: []ecsapi.Service{{
			ServiceName: "web", Status: "ACTIVE", DesiredCount: n(3), RunningCount: n(2), PendingCount: n(1),
			Deployments: []ecsapi.Deployment{{Id: "ecs-svc/1"}, {Id: "ecs-svc/2"}}}}},
	}
	for op, reply := range replies {
		data, _ := json.Marshal(reply)
		sub, err := nc.Subscribe(events.SubjAPI(events.APIECS, op), func(m *nats.Msg) { _ = m.Respond(data) })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}
}

// TestCounts_ServiceMetricsAndEvents: every counts round turns each ACTIVE
// service into DesiredTaskCount, RunningTaskCount, PendingTaskCount,
// DeploymentCount and TaskSetCount at [ClusterName, ServiceName] and a
// Service performance event, next to the cluster's counts and Cluster event.
func TestCounts_ServiceMetricsAndEvents(t *testing.T) {
	e := newEnv(t, metrics.Config{NoTelemetry: true})
	fakeECS(t, e.NC)
	logs := recordLogs(t, e.NC)
	startMetrics(t, e.Env, metrics.Config{NoTelemetry: true, CountsInterval: 200 * time.Millisecond})
	svcDims := []types.Dimension{{Name: aws.String("ClusterName"), Value: aws.String("default")}, {Name: aws.String("ServiceName"), Value: aws.String("web")}}
	get := func(name string, dims []types.Dimension) (*types.Datapoint, error) {
		now := time.Now()
		out, err := e.cw.GetMetricStatistics(ctx(t), &cloudwatch.GetMetricStatisticsInput{
			Namespace: aws.String(events.NamespaceInsights), MetricName: aws.String(name), Dimensions: dims,
			StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now.Add(time.Hour)), Period: aws.Int32(3600),
			Statistics: []types.Statistic{types.StatisticMaximum, types.StatisticMinimum},
		})
		if err != nil {
			return nil, err
		}
		if len(out.Datapoints) == 0 {
			return nil, fmt.Errorf("no %s datapoint yet", name)
		}
		return &out.Datapoints[0], nil
	}
	want := map[string]float64{"DesiredTaskCount": 3, "RunningTaskCount": 2, "PendingTaskCount": 1, "DeploymentCount": 2, "TaskSetCount": 0}
	natstest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		for name := range want {
			if _, err := get(name, svcDims); err != nil {
				return err
			}
		}
		return nil
	})
	for name, v := range want {
		d, err := get(name, svcDims)
		if err != nil || *d.Maximum != v || *d.Minimum != v || d.Unit != types.StandardUnitCount {
			t.Errorf("%s: %v %+v, want %v Count", name, err, d, v)
		}
	}
	if d, err := get("ServiceCount", svcDims[:1]); err != nil || *d.Maximum != 1 {
		t.Errorf("ServiceCount: %v %+v", err, d)
	}

	group := metrics.PerformanceLogGroup("default")
	var svc map[string]any
	natstest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		logs.mu.Lock()
		defer logs.mu.Unlock()
		for _, msg := range logs.events[group] {
			var ev map[string]any
			if json.Unmarshal([]byte(msg), &ev) == nil && ev["Type"] == "Service" {
				svc = ev
				return nil
			}
		}
		return fmt.Errorf("no Service event among %d", len(logs.events[group]))
	})
	if svc["ServiceName"] != "web" || svc["ClusterName"] != "default" || svc["RunningTaskCount"] != 2.0 ||
		svc["DesiredTaskCount"] != 3.0 || svc["PendingTaskCount"] != 1.0 || svc["DeploymentCount"] != 2.0 || svc["TaskSetCount"] != 0.0 {
		t.Errorf("service event %v", svc)
	}
}

func TestEMF_ServiceEventShape(t *testing.T) {
	n := func(v int32) *int32 { return &v }
	ev := metrics.ServiceEvent("prod", ecsapi.Service{ServiceName: "web", DesiredCount: n(2), RunningCount: n(2)}, time.UnixMilli(1561586460000))
	raw, _ := json.Marshal(ev)
	var got struct {
		Version, Type, ServiceName, ClusterName string
		Timestamp                               int64
		DesiredTaskCount, RunningTaskCount      int
		CloudWatchMetrics                       []struct {
			Namespace  string
			Metrics    []struct{ Name, Unit string }
			Dimensions [][]string
		}
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	cw := got.CloudWatchMetrics
	if got.Version != "0" || got.Type != "Service" || got.ServiceName != "web" || got.ClusterName != "prod" || got.Timestamp != 1561586460000 ||
		got.DesiredTaskCount != 2 || got.RunningTaskCount != 2 || len(cw) != 1 || cw[0].Namespace != "ECS/ContainerInsights" ||
		len(cw[0].Metrics) != 5 || fmt.Sprint(cw[0].Dimensions) != "[[ServiceName ClusterName]]" {
		t.Fatalf("service event: %s", raw)
	}
	for _, m := range cw[0].Metrics {
		if m.Unit != "Count" {
			t.Errorf("%s unit %s", m.Name, m.Unit)
		}
	}
}
