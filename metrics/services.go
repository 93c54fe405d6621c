package metrics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/natsutil"
)

// serviceCountMetrics are the service-level counts Container Insights
// publishes at [ClusterName, ServiceName], in the order of AWS's Service
// performance event.
var serviceCountMetrics = []struct {
	name  string
	value func(ecsapi.Service) float64
}{
	{"DesiredTaskCount", func(s ecsapi.Service) float64 { return i32(s.DesiredCount) }},
	{"RunningTaskCount", func(s ecsapi.Service) float64 { return i32(s.RunningCount) }},
	{"PendingTaskCount", func(s ecsapi.Service) float64 { return i32(s.PendingCount) }},
	{"DeploymentCount", func(s ecsapi.Service) float64 { return float64(len(s.Deployments)) }},
	{"TaskSetCount", func(s ecsapi.Service) float64 { return float64(len(s.TaskSets)) }},
}

func i32(p *int32) float64 {
	if p == nil {
		return 0
	}
	return float64(*p)
}

// ServiceEvent is the performance event of Type Service: the service's
// task counts with their CloudWatchMetrics block at [ServiceName,
// ClusterName].
func ServiceEvent(cluster string, svc ecsapi.Service, t time.Time) map[string]any {
	ev := map[string]any{
		"Version": "0", "Type": "Service", "ServiceName": svc.ServiceName, "ClusterName": cluster, "Timestamp": ms(t),
	}
	var mets []emfMetric
	for _, m := range serviceCountMetrics {
		ev[m.name] = int64(m.value(svc))
		mets = append(mets, emfMetric{Name: m.name, Unit: "Count"})
	}
	ev["CloudWatchMetrics"] = []emfDirective{{Namespace: events.NamespaceInsights, Metrics: mets,
		Dimensions: [][]string{{"ServiceName", "ClusterName"}}}}
	return ev
}

// servicePoints are the service counts of one interval as datapoints.
func servicePoints(cluster string, svcs []ecsapi.Service, t time.Time) []events.StoredPoint {
	var pts []events.StoredPoint
	for _, svc := range svcs {
		for _, m := range serviceCountMetrics {
			pts = append(pts, point(events.NamespaceInsights, m.name, "Count", t, m.value(svc),
				dim("ClusterName", cluster), dim("ServiceName", svc.ServiceName)))
		}
	}
	return pts
}

// publishServiceCounts turns the ACTIVE services of a cluster (the
// supervisor's ListServices and DescribeServices, as any client asks) into
// the service counts and Service performance events. A Berth without a
// supervisor has no services: nothing is published.
func (s *Service) publishServiceCounts(ctx context.Context, cluster string, now time.Time) error {
	svcs, err := s.activeServices(ctx, cluster)
	if errors.Is(err, natsutil.ErrUnavailable) {
		return nil
	}
	if err != nil || len(svcs) == 0 {
		return err
	}
	id := fmt.Sprintf("svc-counts-%s-%d", cluster, now.Unix())
	if err := s.publish(ctx, events.NamespaceInsights, servicePoints(cluster, svcs, now), id); err != nil {
		return err
	}
	evs := make([]map[string]any, 0, len(svcs))
	for _, svc := range svcs {
		evs = append(evs, ServiceEvent(cluster, svc, now))
	}
	s.putLogEvents(ctx, cluster, "ServiceTelemetry", now, evs)
	return nil
}

// activeServices lists and describes a cluster's services (ListServices
// returns only ACTIVE ones).
func (s *Service) activeServices(ctx context.Context, cluster string) ([]ecsapi.Service, error) {
	var arns []string
	next := ""
	for {
		var out ecsapi.ListServicesResponse
		size := int32(100)
		if err := natsutil.Call(ctx, s.nc, events.SubjAPI(events.APIECS, "ListServices"),
			ecsapi.ListServicesRequest{Cluster: cluster, MaxResults: &size, NextToken: next}, &out); err != nil {
			return nil, err
		}
		arns = append(arns, out.ServiceArns...)
		if next = out.NextToken; next == "" {
			break
		}
	}
	var svcs []ecsapi.Service
	for len(arns) > 0 {
		batch := arns[:min(10, len(arns))]
		arns = arns[len(batch):]
		var out ecsapi.DescribeServicesResponse
		if err := natsutil.Call(ctx, s.nc, events.SubjAPI(events.APIECS, "DescribeServices"),
			ecsapi.DescribeServicesRequest{Cluster: cluster, Services: batch}, &out); err != nil {
			return nil, err
		}
		svcs = append(svcs, out.Services...)
	}
	return svcs, nil
}
