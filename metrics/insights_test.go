package metrics_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/logsapi"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/metrics"
)

func sample(at time.Time) events.TelemetrySample {
	return events.TelemetrySample{
		Cluster: "default", ContainerInstanceArn: "arn:aws:ecs:us-east-1:123456789012:container-instance/default/abc",
		InstanceID: "i-1", Timestamp: at, RegisteredCPU: 2048, RegisteredMemory: 4096,
		Tasks: []events.TaskSample{
			{TaskArn: "arn:aws:ecs:us-east-1:123456789012:task/default/t1", Family: "burn", Revision: 1, KnownStatus: "RUNNING", LaunchType: "EC2",
				CpuUtilized: 1000, CpuReserved: 1024, MemoryUtilized: 1, MemoryReserved: 64, HasNetwork: true, NetworkRxBytes: 10,
				Containers: []events.ContainerSample{{Name: "burn", DockerID: "d1", CpuUtilized: 1000, MemoryUtilized: 1}}},
			{TaskArn: "arn:aws:ecs:us-east-1:123456789012:task/default/t2", Family: "hog", Revision: 2, KnownStatus: "RUNNING", LaunchType: "EC2",
				ServiceName: "web", CpuUtilized: 2, CpuReserved: 256, MemoryUtilized: 100, MemoryReserved: 256},
		},
	}
}

// logsRecorder answers the logs operations the metrics service calls, the
// way the logs service will (same subjects and request shapes), and keeps
// the events: the logs service is built in another branch.
type logsRecorder struct {
	mu     sync.Mutex
	groups map[string]bool
	events map[string][]string // group -> messages
}

func recordLogs(t *testing.T, nc *nats.Conn) *logsRecorder {
	r := &logsRecorder{groups: map[string]bool{}, events: map[string][]string{}}
	for _, op := range []string{"CreateLogGroup", "CreateLogStream", "PutLogEvents"} {
		sub, err := nc.Subscribe(events.SubjAPI(events.APILogs, op), func(m *nats.Msg) {
			r.mu.Lock()
			defer r.mu.Unlock()
			switch op {
			case "CreateLogGroup":
				var in logsapi.CreateLogGroupRequest
				_ = json.Unmarshal(m.Data, &in)
				r.groups[in.LogGroupName] = true
			case "PutLogEvents":
				var in logsapi.PutLogEventsRequest
				_ = json.Unmarshal(m.Data, &in)
				for _, ev := range in.LogEvents {
					r.events[in.LogGroupName] = append(r.events[in.LogGroupName], ev.Message)
				}
			}
			_ = m.Respond([]byte("{}"))
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}
	return r
}

// TestTelemetry_TwoReplicasCountOnce: a sample published twice (an agent's
// retry, same message id) and consumed by two replicas becomes one
// datapoint per task and dimension set; the cluster level adds the tasks
// up; AWS/ECS gets the reservation and utilisation; EMF Task and Container
// events reach the performance log group.
func TestTelemetry_TwoReplicasCountOnce(t *testing.T) {
	e := newEnv(t, metrics.Config{})
	startMetrics(t, e.Env, metrics.Config{})
	logs := recordLogs(t, e.NC)
	at := time.Now().UTC().Truncate(time.Minute).Add(-2 * time.Minute).Add(20 * time.Second)
	data, _ := json.Marshal(sample(at))
	for range 2 {
		if _, err := e.JS.Publish(ctx(t), events.SubjTelemetry("default", "i-1"), data, jetstream.WithMsgID("i-1-1")); err != nil {
			t.Fatal(err)
		}
	}
	get := func(dims map[string]string, name string) *types.Datapoint {
		var d []types.Dimension
		for k, v := range dims {
			d = append(d, types.Dimension{Name: aws.String(k), Value: aws.String(v)})
		}
		out, err := e.cw.GetMetricStatistics(ctx(t), &cloudwatch.GetMetricStatisticsInput{
			Namespace: aws.String(events.NamespaceInsights), MetricName: aws.String(name), Dimensions: d,
			StartTime: aws.Time(at.Add(-time.Hour)), EndTime: aws.Time(at.Add(time.Hour)), Period: aws.Int32(60),
			Statistics: []types.Statistic{types.StatisticSum, types.StatisticSampleCount, types.StatisticMaximum},
		})
		if err != nil || len(out.Datapoints) == 0 {
			return nil
		}
		return &out.Datapoints[0]
	}
	natstest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		if get(map[string]string{"ClusterName": "default"}, "CpuUtilized") == nil {
			return fmt.Errorf("no datapoint yet")
		}
		return nil
	})
	c := get(map[string]string{"ClusterName": "default"}, "CpuUtilized")
	if *c.SampleCount != 2 || *c.Sum != 1002 || *c.Maximum != 1000 || c.Unit != types.StandardUnitNone {
		t.Errorf("cluster CpuUtilized: %+v", *c)
	}
	f := get(map[string]string{"ClusterName": "default", "TaskDefinitionFamily": "hog"}, "MemoryUtilized")
	if f == nil || *f.SampleCount != 1 || *f.Sum != 100 || f.Unit != types.StandardUnitMegabytes {
		t.Errorf("family MemoryUtilized: %+v", f)
	}
	if s := get(map[string]string{"ClusterName": "default", "ServiceName": "web"}, "CpuReserved"); s == nil || *s.Sum != 256 {
		t.Errorf("service CpuReserved: %+v", s)
	}
	if n := get(map[string]string{"ClusterName": "default", "TaskDefinitionFamily": "hog"}, "NetworkRxBytes"); n != nil {
		t.Errorf("hog has no network, got NetworkRxBytes %+v", n)
	}
	lm, err := e.cw.ListMetrics(ctx(t), &cloudwatch.ListMetricsInput{Namespace: aws.String(events.NamespaceECS)})
	if err != nil || len(lm.Metrics) != 6 { // 4 at the cluster, 2 for service web
		t.Errorf("AWS/ECS metrics: %v %d", err, len(lm.Metrics))
	}
	group := metrics.PerformanceLogGroup("default")
	natstest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		logs.mu.Lock()
		defer logs.mu.Unlock()
		if n := len(logs.events[group]); n != 3 { // 2 Task + 1 Container
			return fmt.Errorf("%d performance events", n)
		}
		return nil
	})
	var task map[string]any
	_ = json.Unmarshal([]byte(logs.events[group][0]), &task)
	if task["Type"] != "Task" || task["TaskId"] != "t1" || task["CpuUtilized"] != 1000.0 || task["CloudWatchMetrics"] == nil {
		t.Errorf("task event %v", task)
	}
}

func TestEMF_TaskEventShape(t *testing.T) {
	smp := sample(time.UnixMilli(1700000000000))
	ev := metrics.TaskEvent(smp, "us-east-1", "123456789012", smp.Tasks[1])
	raw, _ := json.Marshal(ev)
	var got struct {
		Version, Type, TaskId, ClusterName, ServiceName string
		Timestamp                                       int64
		MemoryUtilized                                  float64
		CloudWatchMetrics                               []struct {
			Namespace  string
			Metrics    []struct{ Name, Unit string }
			Dimensions [][]string
		}
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	cw := got.CloudWatchMetrics
	if got.Version != "0" || got.Type != "Task" || got.TaskId != "t2" || got.Timestamp != 1700000000000 || got.MemoryUtilized != 100 ||
		len(cw) != 1 || cw[0].Namespace != "ECS/ContainerInsights" || len(cw[0].Metrics) != 6 || len(cw[0].Dimensions) != 3 {
		t.Fatalf("task event: %s", raw)
	}
	for _, m := range cw[0].Metrics {
		var want string
		switch m.Name {
		case "CpuUtilized", "CpuReserved":
			want = "None"
		case "MemoryUtilized", "MemoryReserved":
			want = "Megabytes"
		default:
			want = "Bytes/Second"
		}
		if m.Unit != want {
			t.Errorf("%s unit %s, want %s", m.Name, m.Unit, want)
		}
	}
}
