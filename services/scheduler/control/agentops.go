package control

import (
	"context"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
)

// acknowledgment is what ECS answers to the agents' state-change calls.
const acknowledgment = "ACK"

// submitTaskStateChange is the ECS agent's SubmitTaskStateChange, applied
// as an agent report through the same transition as AGENT_REPORTS.
func (s *Service) submitTaskStateChange(ctx context.Context, in *ecsapi.SubmitTaskStateChangeRequest) (any, error) {
	c, err := s.existingCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	t, err := s.submittedTask(ctx, c.Name, in.Task)
	if err != nil {
		return nil, err
	}
	status := in.Status
	if status == "" {
		status = t.LastStatus
	}
	if events.TaskStatusRank(status) == 0 {
		return nil, invalid(msgTaskStatus, status)
	}
	r := events.TaskStateReport{
		TaskArn:            t.ARN,
		LastStatus:         status,
		StoppedReason:      in.Reason,
		PullStartedAt:      timeOf(in.PullStartedAt),
		PullStoppedAt:      timeOf(in.PullStoppedAt),
		ExecutionStoppedAt: timeOf(in.ExecutionStoppedAt),
		ReportedAt:         s.cfg.Now().UTC(),
	}
	for _, cs := range in.Containers {
		r.Containers = append(r.Containers, events.ContainerStateReport{
			Name: cs.ContainerName, RuntimeID: cs.RuntimeId, ImageDigest: cs.ImageDigest,
			LastStatus: cs.Status, ExitCode: cs.ExitCode, Reason: cs.Reason, NetworkBindings: cs.NetworkBindings,
		})
	}
	if err := s.applyReport(ctx, &r, false); err != nil {
		return nil, err
	}
	return &ecsapi.SubmitTaskStateChangeResponse{Acknowledgment: acknowledgment}, nil
}

// submitContainerStateChange is the ECS agent's SubmitContainerStateChange:
// one container's state, the task's status unchanged.
func (s *Service) submitContainerStateChange(ctx context.Context, in *ecsapi.SubmitContainerStateChangeRequest) (any, error) {
	c, err := s.existingCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	t, err := s.submittedTask(ctx, c.Name, in.Task)
	if err != nil {
		return nil, err
	}
	r := events.TaskStateReport{
		TaskArn:    t.ARN,
		LastStatus: t.LastStatus,
		ReportedAt: s.cfg.Now().UTC(),
		Containers: []events.ContainerStateReport{{
			Name: in.ContainerName, RuntimeID: in.RuntimeId, LastStatus: in.Status,
			ExitCode: in.ExitCode, Reason: in.Reason, NetworkBindings: in.NetworkBindings,
		}},
	}
	if err := s.applyReport(ctx, &r, false); err != nil {
		return nil, err
	}
	return &ecsapi.SubmitContainerStateChangeResponse{Acknowledgment: acknowledgment}, nil
}

// submittedTask reads the task a state-change call names.
func (s *Service) submittedTask(ctx context.Context, cluster, ref string) (*events.TaskRecord, error) {
	if ref == "" {
		return nil, invalid(msgTaskRequired)
	}
	id, ok := s.taskRef(cluster, ref)
	if !ok {
		return nil, invalid(msgTaskNotFound)
	}
	t, _, err := s.state.getTask(ctx, cluster, id)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, invalid(msgTaskNotFound)
	}
	return t, nil
}

func timeOf(t *awsjson.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.Time
	return &v
}
