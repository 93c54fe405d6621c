package supervisor

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/services/supervisor/reconcile"
)

// ecsClient calls the ECS operations other services own (the scheduler's
// clusters, instances and tasks; the taskdefs service's task definitions)
// on their API subjects, exactly as the gateway would.
type ecsClient struct {
	nc *nats.Conn
}

func (c ecsClient) call(ctx context.Context, op string, in, out any) error {
	return natsutil.Call(ctx, c.nc, events.SubjAPI(events.APIECS, op), in, out)
}

// activeCluster returns the ARN of cluster if it exists and is ACTIVE, or
// ClusterNotFoundException.
func (c ecsClient) activeCluster(ctx context.Context, cluster string) (string, error) {
	var out ecsapi.DescribeClustersResponse
	if err := c.call(ctx, "DescribeClusters", &ecsapi.DescribeClustersRequest{Clusters: []string{cluster}}, &out); err != nil {
		if apierr.HasCode(err, events.CodeClusterNotFound) {
			return "", errClusterNotFound()
		}
		return "", err
	}
	for _, cl := range out.Clusters {
		if cl.Status == events.ClusterStatusActive {
			return cl.ClusterArn, nil
		}
	}
	return "", errClusterNotFound()
}

// taskDefinition resolves a task definition reference. Unknown ones are
// ClientException "TaskDefinition not found.".
func (c ecsClient) taskDefinition(ctx context.Context, ref string) (*ecsapi.TaskDefinition, error) {
	var out ecsapi.DescribeTaskDefinitionResponse
	err := c.call(ctx, "DescribeTaskDefinition", &ecsapi.DescribeTaskDefinitionRequest{TaskDefinition: ref}, &out)
	if err != nil {
		if e, ok := apierr.As(err); ok && !e.Code.Fault() {
			return nil, errClient(msgTaskDefNotFound)
		}
		return nil, err
	}
	if out.TaskDefinition == nil {
		return nil, errClient(msgTaskDefNotFound)
	}
	return out.TaskDefinition, nil
}

// hasHealthCheck reports whether an essential container of td has a
// health check.
func hasHealthCheck(td *ecsapi.TaskDefinition) bool {
	for _, cd := range td.ContainerDefinitions {
		if (cd.Essential == nil || *cd.Essential) && cd.HealthCheck != nil {
			return true
		}
	}
	return false
}

// describeTasks observes the tasks of arns (at most 100 per call).
func (c ecsClient) describeTasks(ctx context.Context, cluster string, arns []string) (map[string]reconcile.TaskObs, error) {
	obs := make(map[string]reconcile.TaskObs, len(arns))
	for chunk := range slices.Chunk(arns, 100) {
		var out ecsapi.DescribeTasksResponse
		if err := c.call(ctx, "DescribeTasks", &ecsapi.DescribeTasksRequest{Cluster: cluster, Tasks: chunk}, &out); err != nil {
			return nil, fmt.Errorf("describe tasks: %w", err)
		}
		for _, t := range out.Tasks {
			o := reconcile.TaskObs{
				LastStatus: t.LastStatus, DesiredStatus: t.DesiredStatus, HealthStatus: t.HealthStatus,
				Instance: t.ContainerInstanceArn, StopCode: t.StopCode, StoppedReason: t.StoppedReason,
			}
			if t.StartedAt != nil {
				at := t.StartedAt.Time
				o.StartedAt = &at
			}
			obs[t.TaskArn] = o
		}
		for _, f := range out.Failures {
			if f.Reason == "MISSING" {
				obs[f.Arn] = reconcile.TaskObs{Missing: true}
			}
		}
	}
	return obs, nil
}

// instances lists the cluster's container instances in status (ACTIVE or
// DRAINING) that match filter ("" = all).
func (c ecsClient) instances(ctx context.Context, cluster, status, filter string) ([]string, error) {
	var arns []string
	next := ""
	for {
		var out ecsapi.ListContainerInstancesResponse
		in := &ecsapi.ListContainerInstancesRequest{Cluster: cluster, Status: status, Filter: filter, NextToken: next, MaxResults: awsjson.Int32(100)}
		if err := c.call(ctx, "ListContainerInstances", in, &out); err != nil {
			return nil, fmt.Errorf("list container instances: %w", err)
		}
		arns = append(arns, out.ContainerInstanceArns...)
		if out.NextToken == "" {
			return arns, nil
		}
		next = out.NextToken
	}
}

// ec2IDs returns the ec2InstanceId of every instance of arns.
func (c ecsClient) ec2IDs(ctx context.Context, cluster string, arns []string) (map[string]string, error) {
	ids := map[string]string{}
	for chunk := range slices.Chunk(arns, 100) {
		var out ecsapi.DescribeContainerInstancesResponse
		if err := c.call(ctx, "DescribeContainerInstances", &ecsapi.DescribeContainerInstancesRequest{Cluster: cluster, ContainerInstances: chunk}, &out); err != nil {
			return nil, fmt.Errorf("describe container instances: %w", err)
		}
		for _, ci := range out.ContainerInstances {
			ids[ci.ContainerInstanceArn] = ci.Ec2InstanceId
		}
	}
	return ids, nil
}

// runLaunch sends a launch's RunTask request. A refusal of the scheduler
// (no instance, a task definition gone, a token conflict) is a placement
// failure of the launch; other errors leave the launch for a retry.
func (c ecsClient) runLaunch(ctx context.Context, l events.ServiceLaunch) (reconcile.LaunchResult, error) {
	var out ecsapi.RunTaskResponse
	err := natsutil.Call(ctx, c.nc, events.SubjAPI(events.APIECS, "RunTask"), json.RawMessage(l.Request), &out)
	if err != nil {
		if e, ok := apierr.As(err); ok && !e.Code.Fault() {
			return reconcile.LaunchResult{Failure: e.Message}, nil
		}
		return reconcile.LaunchResult{}, err
	}
	var r reconcile.LaunchResult
	for _, t := range out.Tasks {
		r.Tasks = append(r.Tasks, reconcile.Started{ARN: t.TaskArn, Instance: t.ContainerInstanceArn, LastStatus: t.LastStatus, DesiredStatus: t.DesiredStatus})
	}
	if len(out.Failures) > 0 {
		r.Failure = placementReason(out.Failures[0])
	}
	return r, nil
}

// placementReason renders a RunTask failure the way service events do.
func placementReason(f ecsapi.Failure) string {
	id := f.Arn[lastSlash(f.Arn)+1:]
	prefix := "The closest matching container-instance " + id
	switch f.Reason {
	case "RESOURCE:CPU":
		return prefix + " has insufficient CPU units available."
	case "RESOURCE:MEMORY":
		return prefix + " has insufficient memory available."
	case "RESOURCE:PORTS", "RESOURCE:PORTS_UDP":
		return prefix + " is already using a port required by your task."
	case "AGENT":
		return prefix + ` encountered error "AGENT".`
	}
	if f.Detail != "" {
		return f.Reason + " " + f.Detail
	}
	return f.Reason
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

// stopTask asks the scheduler to stop a task; a task it no longer knows is
// stopped already.
func (c ecsClient) stopTask(ctx context.Context, cluster, arn, reason string) error {
	err := c.call(ctx, "StopTask", &ecsapi.StopTaskRequest{Cluster: cluster, Task: arn, Reason: reason}, nil)
	if e, ok := apierr.As(err); ok && !e.Code.Fault() {
		return nil
	}
	return err
}

// callTimeout bounds one reconcile's calls.
const callTimeout = 30 * time.Second
