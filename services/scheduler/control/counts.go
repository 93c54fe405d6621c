package control

import (
	"context"
	"fmt"
	"strconv"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
)

// InstanceCounter counts the container instances of a cluster. The
// service's own state cache implements it (the default).
type InstanceCounter interface {
	CountInstances(ctx context.Context, cluster string) (InstanceCounts, error)
}

// InstanceCounts are a cluster's container-instance counters.
type InstanceCounts struct {
	// Registered counts instances that are ACTIVE or DRAINING (or still
	// REGISTERING): registeredContainerInstancesCount, and any of them
	// blocks DeleteCluster.
	Registered int32
}

// TaskCounter counts the tasks of a cluster. The service's own state cache
// implements it (the default).
type TaskCounter interface {
	CountTasks(ctx context.Context, cluster string) (TaskCounts, error)
}

// TaskCounts are a cluster's task counters, by launch type.
type TaskCounts struct {
	RunningEC2, RunningFargate int32
	PendingEC2, PendingFargate int32
	// Unstopped counts every task whose lastStatus is not yet STOPPED
	// (including PROVISIONING, ACTIVATING, DEACTIVATING, STOPPING, ...); any
	// of them blocks DeleteCluster.
	Unstopped int32
}

// Running is runningTasksCount.
func (c TaskCounts) Running() int32 { return c.RunningEC2 + c.RunningFargate }

// Pending is pendingTasksCount.
func (c TaskCounts) Pending() int32 { return c.PendingEC2 + c.PendingFargate }

// ServiceCounter counts the ECS services of a cluster. Services belong to
// the supervisor; its implementation reads their bucket or asks.
type ServiceCounter interface {
	CountServices(ctx context.Context, cluster string) (ServiceCounts, error)
}

// ServiceCounts are a cluster's service counters, by launch type.
type ServiceCounts struct {
	ActiveEC2, ActiveFargate     int32
	DrainingEC2, DrainingFargate int32
}

// Active is activeServicesCount.
func (c ServiceCounts) Active() int32 { return c.ActiveEC2 + c.ActiveFargate }

// Blocking counts the services that block DeleteCluster: ACTIVE or DRAINING.
func (c ServiceCounts) Blocking() int32 {
	return c.Active() + c.DrainingEC2 + c.DrainingFargate
}

// none is the counter of a Berth that has no instances, tasks or services
// yet: every count is zero.
type none struct{}

func (none) CountInstances(context.Context, string) (InstanceCounts, error) {
	return InstanceCounts{}, nil
}
func (none) CountTasks(context.Context, string) (TaskCounts, error) { return TaskCounts{}, nil }
func (none) CountServices(context.Context, string) (ServiceCounts, error) {
	return ServiceCounts{}, nil
}

var (
	_ InstanceCounter = none{}
	_ TaskCounter     = none{}
	_ ServiceCounter  = none{}
	_ InstanceCounter = (*cache)(nil)
	_ TaskCounter     = (*cache)(nil)
)

// CountInstances counts the cluster's registered (not INACTIVE) container
// instances in this replica's cache.
func (c *cache) CountInstances(_ context.Context, cluster string) (InstanceCounts, error) {
	var n InstanceCounts
	for _, rec := range c.instances(cluster) {
		if rec.Registered() {
			n.Registered++
		}
	}
	return n, nil
}

// CountTasks counts the cluster's tasks in this replica's cache: PENDING
// counts the tasks not yet RUNNING (PROVISIONING, PENDING, ACTIVATING),
// RUNNING those that are, and every task not STOPPED blocks DeleteCluster.
// Every task Berth runs has launch type EC2.
func (c *cache) CountTasks(_ context.Context, cluster string) (TaskCounts, error) {
	var n TaskCounts
	running := events.TaskStatusRank(events.TaskRunning)
	for _, t := range c.tasks(cluster, nil) {
		r := events.TaskStatusRank(t.LastStatus)
		if t.LastStatus == events.TaskStopped {
			continue
		}
		n.Unstopped++
		fargate := t.LaunchType == "FARGATE"
		switch {
		case r < running && fargate:
			n.PendingFargate++
		case r < running:
			n.PendingEC2++
		case r == running && fargate:
			n.RunningFargate++
		case r == running:
			n.RunningEC2++
		}
	}
	return n, nil
}

// Counts are every counter of one cluster.
type Counts struct {
	Instances InstanceCounts
	Tasks     TaskCounts
	Services  ServiceCounts
}

// counts asks the three counters about cluster.
func (s *Service) counts(ctx context.Context, cluster string) (Counts, error) {
	var c Counts
	var err error
	if c.Instances, err = s.instances.CountInstances(ctx, cluster); err != nil {
		return Counts{}, fmt.Errorf("count instances of %s: %w", cluster, err)
	}
	if c.Tasks, err = s.tasks.CountTasks(ctx, cluster); err != nil {
		return Counts{}, fmt.Errorf("count tasks of %s: %w", cluster, err)
	}
	if c.Services, err = s.services.CountServices(ctx, cluster); err != nil {
		return Counts{}, fmt.Errorf("count services of %s: %w", cluster, err)
	}
	return c, nil
}

// statistics renders counts the way DescribeClusters does with include
// STATISTICS, AWS's mixed-case names included.
func statistics(c Counts) []ecsapi.KeyValuePair {
	kv := func(name string, v int32) ecsapi.KeyValuePair {
		return ecsapi.KeyValuePair{Name: name, Value: strconv.Itoa(int(v))}
	}
	return []ecsapi.KeyValuePair{
		kv("runningEC2TasksCount", c.Tasks.RunningEC2),
		kv("RunningFargateTasksCount", c.Tasks.RunningFargate),
		kv("pendingEC2TasksCount", c.Tasks.PendingEC2),
		kv("pendingFargateTasksCount", c.Tasks.PendingFargate),
		kv("activeEC2ServiceCount", c.Services.ActiveEC2),
		kv("activeFargateServiceCount", c.Services.ActiveFargate),
		kv("drainingEC2ServiceCount", c.Services.DrainingEC2),
		kv("drainingFargateServiceCount", c.Services.DrainingFargate),
	}
}
