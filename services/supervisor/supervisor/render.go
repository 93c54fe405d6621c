package supervisor

import (
	"slices"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
)

// render shows a record the way DescribeServices does.
func (s *Service) render(rec *events.ServiceRecord, withTags bool) *ecsapi.Service {
	dc := rec.DeploymentConfiguration
	out := &ecsapi.Service{
		ServiceArn:                    rec.ARN,
		ServiceName:                   rec.Name,
		ClusterArn:                    rec.ClusterARN,
		Status:                        rec.Status,
		DesiredCount:                  awsjson.Int32(rec.DesiredCount),
		RunningCount:                  awsjson.Int32(rec.RunningCount),
		PendingCount:                  awsjson.Int32(rec.PendingCount),
		LaunchType:                    rec.LaunchType,
		TaskDefinition:                rec.TaskDefinition,
		DeploymentConfiguration:       &dc,
		DeploymentController:          &ecsapi.DeploymentController{Type: "ECS"},
		Deployments:                   []ecsapi.Deployment{},
		Events:                        []ecsapi.ServiceEvent{},
		LoadBalancers:                 []ecsapi.LoadBalancer{},
		ServiceRegistries:             []ecsapi.ServiceRegistry{},
		PlacementConstraints:          nonNil(slices.Clone(rec.PlacementConstraints)),
		PlacementStrategy:             nonNil(slices.Clone(rec.PlacementStrategy)),
		NetworkConfiguration:          rec.NetworkConfiguration,
		SchedulingStrategy:            rec.SchedulingStrategy,
		PropagateTags:                 rec.PropagateTags,
		EnableECSManagedTags:          awsjson.Bool(rec.EnableECSManaged),
		EnableExecuteCommand:          awsjson.Bool(rec.EnableExecute),
		HealthCheckGracePeriodSeconds: rec.HealthCheckGrace,
		CreatedAt:                     awsjson.NewTime(rec.CreatedAt),
		CreatedBy:                     rec.CreatedBy,
	}
	if out.HealthCheckGracePeriodSeconds == nil {
		out.HealthCheckGracePeriodSeconds = awsjson.Int32(0)
	}
	for _, d := range rec.Deployments {
		out.Deployments = append(out.Deployments, ecsapi.Deployment{
			Id: d.ID, Status: d.Status, TaskDefinition: d.TaskDefinition,
			DesiredCount: awsjson.Int32(d.DesiredCount), PendingCount: awsjson.Int32(d.PendingCount),
			RunningCount: awsjson.Int32(d.RunningCount), FailedTasks: awsjson.Int32(d.FailedTasks),
			CreatedAt: awsjson.NewTime(d.CreatedAt), UpdatedAt: awsjson.NewTime(d.UpdatedAt),
			LaunchType: d.LaunchType, RolloutState: d.RolloutState, RolloutStateReason: d.RolloutStateReason,
		})
	}
	for _, e := range rec.Events {
		out.Events = append(out.Events, ecsapi.ServiceEvent{Id: e.ID, CreatedAt: awsjson.NewTime(e.CreatedAt), Message: e.Message})
	}
	if withTags {
		out.Tags = nonNil(slices.Clone(rec.Tags))
	}
	return out
}
