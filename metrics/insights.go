package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/natsutil"
)

// telemetryConsumer is the durable consumer every replica shares: the
// work queue hands each sample to one replica, and the datapoints it
// derives are stored with the sample's message id, so a redelivered sample
// counts once.
const telemetryConsumer = "metrics-telemetry"

func (s *Service) consumeTelemetry(ctx context.Context) error {
	cons, err := s.js.CreateOrUpdateConsumer(ctx, events.StreamTelemetry.Name, jetstream.ConsumerConfig{
		Durable:       telemetryConsumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 256,
	})
	if err != nil {
		return fmt.Errorf("metrics: telemetry consumer: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if err := s.handleTelemetry(ctx, m); err != nil {
			s.cfg.Log.Warn("telemetry sample not stored; will retry", "err", err)
			_ = m.NakWithDelay(time.Second)
			return
		}
		_ = m.Ack()
	})
	if err != nil {
		return fmt.Errorf("metrics: telemetry consumer: %w", err)
	}
	<-ctx.Done()
	cc.Stop()
	return nil
}

func (s *Service) handleTelemetry(ctx context.Context, m jetstream.Msg) error {
	var smp events.TelemetrySample
	if err := json.Unmarshal(m.Data(), &smp); err != nil {
		s.cfg.Log.Warn("bad telemetry sample dropped", "err", err)
		return nil
	}
	id := m.Headers().Get(nats_MsgID)
	if id == "" {
		md, _ := m.Metadata()
		if md != nil {
			id = fmt.Sprintf("seq-%d", md.Sequence.Stream)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := s.publish(ctx, events.NamespaceInsights, insightsPoints(smp), "ci-"+id); err != nil {
		return err
	}
	if err := s.publish(ctx, events.NamespaceECS, ecsPoints(smp), "ecs-"+id); err != nil {
		return err
	}
	if s.cfg.Observer != nil {
		s.cfg.Observer.ObserveTelemetry(smp)
	}
	s.writePerformanceLogs(ctx, smp)
	return nil
}

const nats_MsgID = "Nats-Msg-Id" //nolint:revive // the NATS header name

func point(ns, name, unit string, t time.Time, v float64, dims ...events.Dimension) events.StoredPoint {
	return events.StoredPoint{Namespace: ns, MetricName: name, Unit: unit, Time: t, Dimensions: dims,
		Count: 1, Sum: v, Min: v, Max: v, Values: []float64{v}}
}

func dim(name, value string) events.Dimension { return events.Dimension{Name: name, Value: value} }

// insightsMetric is one Container Insights resource metric of a task.
type insightsMetric struct {
	name, unit string
	value      func(events.TaskSample) float64
	network    bool
}

var insightsMetrics = []insightsMetric{
	{name: "CpuUtilized", unit: "None", value: func(t events.TaskSample) float64 { return t.CpuUtilized }},
	{name: "CpuReserved", unit: "None", value: func(t events.TaskSample) float64 { return t.CpuReserved }},
	{name: "MemoryUtilized", unit: "Megabytes", value: func(t events.TaskSample) float64 { return t.MemoryUtilized }},
	{name: "MemoryReserved", unit: "Megabytes", value: func(t events.TaskSample) float64 { return t.MemoryReserved }},
	{name: "NetworkRxBytes", unit: "Bytes/Second", network: true, value: func(t events.TaskSample) float64 { return t.NetworkRxBytes }},
	{name: "NetworkTxBytes", unit: "Bytes/Second", network: true, value: func(t events.TaskSample) float64 { return t.NetworkTxBytes }},
	{name: "StorageReadBytes", unit: "Bytes/Second", value: func(t events.TaskSample) float64 { return t.StorageReadBytes }},
	{name: "StorageWriteBytes", unit: "Bytes/Second", value: func(t events.TaskSample) float64 { return t.StorageWriteBytes }},
}

// insightsPoints turns a sample into ECS/ContainerInsights datapoints: one
// per task and metric at [ClusterName], [ClusterName, TaskDefinitionFamily]
// and, for a service's tasks, [ClusterName, ServiceName] — as CloudWatch
// derives them from the Task performance events (so Sum over a period and
// a level adds the tasks up, Average is per task).
func insightsPoints(smp events.TelemetrySample) []events.StoredPoint {
	var pts []events.StoredPoint
	t := smp.Timestamp.UTC().Truncate(time.Second)
	for _, task := range smp.Tasks {
		dimSets := [][]events.Dimension{
			{dim("ClusterName", smp.Cluster)},
			{dim("ClusterName", smp.Cluster), dim("TaskDefinitionFamily", task.Family)},
		}
		if task.ServiceName != "" {
			dimSets = append(dimSets, []events.Dimension{dim("ClusterName", smp.Cluster), dim("ServiceName", task.ServiceName)})
		}
		for _, m := range insightsMetrics {
			if m.network && !task.HasNetwork {
				continue
			}
			for _, d := range dimSets {
				pts = append(pts, point(events.NamespaceInsights, m.name, m.unit, t, m.value(task), d...))
			}
		}
	}
	return pts
}

// ecsPoints are the free AWS/ECS metrics for the sample's instance:
// CPU/Memory Reservation (reserved / registered) and Utilization (used /
// registered) at [ClusterName], and per service used / reserved at
// [ClusterName, ServiceName], in Percent.
func ecsPoints(smp events.TelemetrySample) []events.StoredPoint {
	if smp.RegisteredCPU <= 0 || smp.RegisteredMemory <= 0 {
		return nil
	}
	t := smp.Timestamp.UTC().Truncate(time.Second)
	var cpuRes, memRes, cpuUse, memUse float64
	type svcSum struct{ cpuRes, memRes, cpuUse, memUse float64 }
	bySvc := map[string]*svcSum{}
	for _, task := range smp.Tasks {
		cpuRes += task.CpuReserved
		memRes += task.MemoryReserved
		cpuUse += task.CpuUtilized
		memUse += task.MemoryUtilized
		if task.ServiceName != "" {
			v := bySvc[task.ServiceName]
			if v == nil {
				v = &svcSum{}
				bySvc[task.ServiceName] = v
			}
			v.cpuRes += task.CpuReserved
			v.memRes += task.MemoryReserved
			v.cpuUse += task.CpuUtilized
			v.memUse += task.MemoryUtilized
		}
	}
	c := dim("ClusterName", smp.Cluster)
	pct := func(a, b float64) float64 { return 100 * a / b }
	pts := []events.StoredPoint{
		point(events.NamespaceECS, "CPUReservation", "Percent", t, pct(cpuRes, smp.RegisteredCPU), c),
		point(events.NamespaceECS, "MemoryReservation", "Percent", t, pct(memRes, smp.RegisteredMemory), c),
		point(events.NamespaceECS, "CPUUtilization", "Percent", t, pct(cpuUse, smp.RegisteredCPU), c),
		point(events.NamespaceECS, "MemoryUtilization", "Percent", t, pct(memUse, smp.RegisteredMemory), c),
	}
	for name, v := range bySvc {
		sd := dim("ServiceName", name)
		if v.cpuRes > 0 {
			pts = append(pts, point(events.NamespaceECS, "CPUUtilization", "Percent", t, pct(v.cpuUse, v.cpuRes), c, sd))
		}
		if v.memRes > 0 {
			pts = append(pts, point(events.NamespaceECS, "MemoryUtilization", "Percent", t, pct(v.memUse, v.memRes), c, sd))
		}
	}
	return pts
}

// countsLoop turns the control plane's counts into datapoints once per
// interval. Every replica does it; the message id (cluster and interval)
// makes the stream keep one.
func (s *Service) countsLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.CountsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.publishCounts(ctx); err != nil && ctx.Err() == nil {
				s.cfg.Log.Debug("cluster counts not published", "err", err)
			}
		}
	}
}

func (s *Service) publishCounts(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	clusters, err := s.insightsClusters(ctx)
	if err != nil {
		return err
	}
	now := s.cfg.Now().UTC().Truncate(s.cfg.CountsInterval)
	for _, c := range clusters {
		d := dim("ClusterName", c.ClusterName)
		n := func(p *int32) float64 {
			if p == nil {
				return 0
			}
			return float64(*p)
		}
		pts := []events.StoredPoint{
			point(events.NamespaceInsights, "TaskCount", "Count", now, n(c.RunningTasksCount)+n(c.PendingTasksCount), d),
			point(events.NamespaceInsights, "ContainerInstanceCount", "Count", now, n(c.RegisteredContainerInstancesCount), d),
			point(events.NamespaceInsights, "ServiceCount", "Count", now, n(c.ActiveServicesCount), d),
		}
		id := fmt.Sprintf("counts-%s-%d", c.ClusterName, now.Unix())
		if err := s.publish(ctx, events.NamespaceInsights, pts, id); err != nil {
			return err
		}
		s.writeClusterEvent(ctx, c, now)
		if err := s.publishServiceCounts(ctx, c.ClusterName, now); err != nil {
			s.cfg.Log.Debug("service counts not published", "cluster", c.ClusterName, "err", err)
		}
	}
	return nil
}

// insightsClusters returns the clusters with containerInsights enabled,
// read from the scheduler (ListClusters, DescribeClusters with SETTINGS).
func (s *Service) insightsClusters(ctx context.Context) ([]ecsapi.Cluster, error) {
	var arns []string
	next := ""
	for {
		var out ecsapi.ListClustersResponse
		if err := natsutil.Call(ctx, s.nc, events.SubjAPI(events.APIECS, "ListClusters"), ecsapi.ListClustersRequest{NextToken: next}, &out); err != nil {
			return nil, err
		}
		arns = append(arns, out.ClusterArns...)
		if next = out.NextToken; next == "" {
			break
		}
	}
	var enabled []ecsapi.Cluster
	for len(arns) > 0 {
		batch := arns[:min(100, len(arns))]
		arns = arns[len(batch):]
		var out ecsapi.DescribeClustersResponse
		if err := natsutil.Call(ctx, s.nc, events.SubjAPI(events.APIECS, "DescribeClusters"),
			ecsapi.DescribeClustersRequest{Clusters: batch, Include: []string{"SETTINGS"}}, &out); err != nil {
			return nil, err
		}
		for _, c := range out.Clusters {
			if InsightsEnabled(c.Settings) {
				enabled = append(enabled, c)
			}
		}
	}
	return enabled, nil
}

// InsightsEnabled reports whether cluster settings turn Container Insights
// on ("enabled" or "enhanced").
func InsightsEnabled(settings []ecsapi.ClusterSetting) bool {
	for _, st := range settings {
		if st.Name == events.ClusterSettingContainerInsights {
			return st.Value == events.ContainerInsightsEnabled || st.Value == events.ContainerInsightsEnhanced
		}
	}
	return false
}

var errNoLogs = errors.New("metrics: the logs service is not available")
