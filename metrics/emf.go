package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"path"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/events/logsapi"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natsutil"
)

// PerformanceLogGroup is where Container Insights writes its performance
// events for a cluster.
func PerformanceLogGroup(cluster string) string {
	return "/aws/ecs/containerinsights/" + cluster + "/performance"
}

// emfMetric is one entry of an EMF CloudWatchMetrics block.
type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Metrics    []emfMetric `json:"Metrics"`
	Dimensions [][]string  `json:"Dimensions"`
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func msOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// TaskEvent is the EMF performance event of Type Task.
func TaskEvent(smp events.TelemetrySample, region, account string, task events.TaskSample) map[string]any {
	ev := map[string]any{
		"Version": "0", "Type": "Task",
		"TaskId":                 path.Base(task.TaskArn),
		"TaskDefinitionFamily":   task.Family,
		"TaskDefinitionRevision": task.Revision,
		"ContainerInstanceId":    path.Base(smp.ContainerInstanceArn),
		"EC2InstanceId":          smp.InstanceID,
		"ClusterName":            smp.Cluster,
		"AccountID":              account,
		"Region":                 region,
		"AvailabilityZone":       region + "a",
		"KnownStatus":            task.KnownStatus,
		"LaunchType":             task.LaunchType,
		"PullStartedAt":          msOrNil(task.PullStartedAt),
		"PullStoppedAt":          msOrNil(task.PullStoppedAt),
		"CreatedAt":              msOrNil(task.CreatedAt),
		"StartedAt":              msOrNil(task.StartedAt),
		"Timestamp":              ms(smp.Timestamp),
		"CpuUtilized":            task.CpuUtilized,
		"CpuReserved":            task.CpuReserved,
		"MemoryUtilized":         task.MemoryUtilized,
		"MemoryReserved":         task.MemoryReserved,
		"StorageReadBytes":       task.StorageReadBytes,
		"StorageWriteBytes":      task.StorageWriteBytes,
	}
	var metrics []emfMetric
	for _, m := range insightsMetrics {
		if m.network && !task.HasNetwork {
			continue
		}
		metrics = append(metrics, emfMetric{Name: m.name, Unit: m.unit})
	}
	if task.HasNetwork {
		for k, v := range map[string]float64{
			"NetworkRxBytes": task.NetworkRxBytes, "NetworkTxBytes": task.NetworkTxBytes,
			"NetworkRxPackets": task.NetworkRxPackets, "NetworkTxPackets": task.NetworkTxPackets,
			"NetworkRxDropped": task.NetworkRxDropped, "NetworkTxDropped": task.NetworkTxDropped,
			"NetworkRxErrors": task.NetworkRxErrors, "NetworkTxErrors": task.NetworkTxErrors,
		} {
			ev[k] = v
		}
	}
	dims := [][]string{{"ClusterName"}, {"ClusterName", "TaskDefinitionFamily"}}
	if task.ServiceName != "" {
		ev["ServiceName"] = task.ServiceName
		dims = append(dims, []string{"ClusterName", "ServiceName"})
	}
	ev["CloudWatchMetrics"] = []emfDirective{{Namespace: events.NamespaceInsights, Metrics: metrics, Dimensions: dims}}
	return ev
}

// ContainerEvent is the performance event of Type Container (no metrics
// block: AWS derives no standard metrics from it).
func ContainerEvent(smp events.TelemetrySample, task events.TaskSample, c events.ContainerSample) map[string]any {
	return map[string]any{
		"Version": "0", "Type": "Container",
		"ContainerName":        c.Name,
		"TaskId":               path.Base(task.TaskArn),
		"TaskDefinitionFamily": task.Family, "TaskDefinitionRevision": task.Revision,
		"ContainerInstanceId": path.Base(smp.ContainerInstanceArn), "EC2InstanceId": smp.InstanceID,
		"ServiceName": task.ServiceName, "ClusterName": smp.Cluster,
		"Timestamp": ms(smp.Timestamp), "Image": c.Image, "DockerId": c.DockerID,
		"CpuUtilized": c.CpuUtilized, "CpuReserved": c.CpuReserved,
		"MemoryUtilized": c.MemoryUtilized, "MemoryReserved": c.MemoryReserved,
	}
}

// ClusterEvent is the performance event of Type Cluster.
func ClusterEvent(c ecsapi.Cluster, t time.Time) map[string]any {
	n := func(p *int32) int32 {
		if p == nil {
			return 0
		}
		return *p
	}
	return map[string]any{
		"Version": "0", "Type": "Cluster", "ClusterName": c.ClusterName, "Timestamp": ms(t),
		"TaskCount":              n(c.RunningTasksCount) + n(c.PendingTasksCount),
		"ContainerInstanceCount": n(c.RegisteredContainerInstancesCount),
		"ServiceCount":           n(c.ActiveServicesCount),
		"CloudWatchMetrics": []emfDirective{{Namespace: events.NamespaceInsights, Dimensions: [][]string{{"ClusterName"}},
			Metrics: []emfMetric{{"TaskCount", "Count"}, {"ContainerInstanceCount", "Count"}, {"ServiceCount", "Count"}}}},
	}
}

func (s *Service) writePerformanceLogs(ctx context.Context, smp events.TelemetrySample) {
	var evs []map[string]any
	for _, task := range smp.Tasks {
		evs = append(evs, TaskEvent(smp, s.cfg.Region, s.cfg.Account, task))
		for _, c := range task.Containers {
			evs = append(evs, ContainerEvent(smp, task, c))
		}
	}
	s.putLogEvents(ctx, smp.Cluster, "AgentTelemetry-"+path.Base(smp.ContainerInstanceArn), smp.Timestamp, evs)
}

func (s *Service) writeClusterEvent(ctx context.Context, c ecsapi.Cluster, t time.Time) {
	s.putLogEvents(ctx, c.ClusterName, "ClusterTelemetry", t, []map[string]any{ClusterEvent(c, t)})
}

// putLogEvents writes EMF events through the logs service. Without a logs
// service the events are dropped (the datapoints are already stored).
func (s *Service) putLogEvents(ctx context.Context, cluster, stream string, t time.Time, evs []map[string]any) {
	if len(evs) == 0 {
		return
	}
	group := PerformanceLogGroup(cluster)
	if err := s.ensureLogStream(ctx, group, stream); err != nil {
		s.cfg.Log.Debug("performance log events dropped", "group", group, "err", err)
		return
	}
	req := logsapi.PutLogEventsRequest{LogGroupName: group, LogStreamName: stream}
	ts := t.UnixMilli()
	for _, ev := range evs {
		b, _ := json.Marshal(ev)
		req.LogEvents = append(req.LogEvents, logsapi.InputLogEvent{Message: string(b), Timestamp: &ts})
	}
	if err := natsutil.Call(ctx, s.nc, events.SubjAPI(events.APILogs, "PutLogEvents"), req, nil); err != nil {
		s.cfg.Log.Debug("performance log events dropped", "group", group, "err", err)
		s.logStreams.Delete(group + "\x00" + stream)
	}
}

func (s *Service) ensureLogStream(ctx context.Context, group, stream string) error {
	key := group + "\x00" + stream
	if _, ok := s.logStreams.Load(key); ok {
		return nil
	}
	err := natsutil.Call(ctx, s.nc, events.SubjAPI(events.APILogs, "CreateLogGroup"), logsapi.CreateLogGroupRequest{LogGroupName: group}, nil)
	if err != nil && !apierr.HasCode(err, events.CodeResourceAlreadyExists) {
		if errors.Is(err, natsutil.ErrUnavailable) {
			return errNoLogs
		}
		return err
	}
	err = natsutil.Call(ctx, s.nc, events.SubjAPI(events.APILogs, "CreateLogStream"), logsapi.CreateLogStreamRequest{LogGroupName: group, LogStreamName: stream}, nil)
	if err != nil && !apierr.HasCode(err, events.CodeResourceAlreadyExists) {
		return err
	}
	s.logStreams.Store(key, true)
	return nil
}
