package control

import (
	"context"
	"sort"
	"strings"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/scheduler"
)

// listInstancesToken names ListContainerInstances page tokens.
const listInstancesToken = "ListContainerInstances"

func (s *Service) deregisterContainerInstance(ctx context.Context, in *ecsapi.DeregisterContainerInstanceRequest) (any, error) {
	c, err := s.existingCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.ContainerInstance == "" {
		return nil, invalid(msgInstanceRequired)
	}
	id, ok := s.instanceRef(c.Name, in.ContainerInstance)
	if !ok {
		return nil, invalid(msgInstanceNotFound)
	}
	force := awsjson.Value(in.Force)
	rec, _, err := s.updateInstance(ctx, c.Name, id, func(cur *events.InstanceRecord) (*events.InstanceRecord, error) {
		if cur == nil || !cur.Registered() {
			return nil, invalid(msgInstanceNotFound)
		}
		if !force && (cur.Tasks > 0 || len(s.unstoppedOn(c.Name, id)) > 0) {
			return nil, invalid(msgRunningTasks)
		}
		now := s.cfg.Now().UTC()
		next := cloneInstance(cur)
		next.Status = events.InstanceInactive
		next.DeregisteredAt = &now
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	if force {
		// The instance takes no new task any more; ask its agent to stop
		// the ones it has. Their resources come back as they report
		// STOPPED.
		for _, t := range s.unstoppedOn(c.Name, id) {
			if _, err := s.requestStop(ctx, c.Name, t.ID, events.StopUserInitiated, msgDeregisterReason); err != nil {
				s.log.Warn("stop task of deregistered instance", "task_id", t.ID, "err", err)
			}
		}
	}
	ci := s.renderInstance(rec, true)
	return &ecsapi.DeregisterContainerInstanceResponse{ContainerInstance: &ci}, nil
}

// unstoppedOn lists the cached tasks on an instance that have not stopped.
func (s *Service) unstoppedOn(cluster, id string) []taskEntry {
	return s.cache.tasks(cluster, func(t *taskEntry) bool {
		return t.ContainerInstanceID == id && t.LastStatus != events.TaskStopped
	})
}

func (s *Service) describeContainerInstances(ctx context.Context, in *ecsapi.DescribeContainerInstancesRequest) (any, error) {
	c, err := s.existingCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	switch {
	case len(in.ContainerInstances) == 0:
		return nil, errClient(msgInstancesEmpty)
	case len(in.ContainerInstances) > maxDescribeInstances:
		return nil, invalid(msgTooManyInstances, maxDescribeInstances)
	}
	withTags := false
	for _, f := range in.Include {
		switch f {
		case "TAGS":
			withTags = true
		case "CONTAINER_INSTANCE_HEALTH":
		default:
			return nil, invalid(msgInstanceInclude)
		}
	}
	insts, failures, err := describeRefs(ctx, in.ContainerInstances,
		func(ref string) (string, bool) { return s.instanceRef(c.Name, ref) },
		func(ref string) string { return s.instanceARN(c.Name, ref) },
		func(ctx context.Context, id string) (*events.InstanceRecord, uint64, error) {
			return s.state.getInstance(ctx, c.Name, id)
		},
		func(rec *events.InstanceRecord) ecsapi.ContainerInstance { return s.renderInstance(rec, withTags) })
	if err != nil {
		return nil, err
	}
	return &ecsapi.DescribeContainerInstancesResponse{ContainerInstances: insts, Failures: failures}, nil
}

// instanceStatuses are the statuses ListContainerInstances filters by.
var instanceStatuses = map[string]bool{
	"ACTIVE": true, "DRAINING": true, "REGISTERING": true, "DEREGISTERING": true, "REGISTRATION_FAILED": true,
}

func (s *Service) listContainerInstances(ctx context.Context, in *ecsapi.ListContainerInstancesRequest) (any, error) {
	c, err := s.existingCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.Status != "" && !instanceStatuses[in.Status] {
		return nil, invalid(msgListStatus, in.Status)
	}
	var filter *scheduler.Expr
	if strings.TrimSpace(in.Filter) != "" {
		if filter, err = scheduler.Parse(in.Filter); err != nil {
			return nil, invalid("%s", err.Error())
		}
	}
	size, err := pageSize(in.MaxResults)
	if err != nil {
		return nil, err
	}
	after, err := decodePageToken(listInstancesToken, in.NextToken)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	var arns []string
	for _, rec := range s.cache.instances(c.Name) {
		switch {
		case in.Status != "" && rec.Status != in.Status,
			in.Status == "" && !rec.Registered():
			continue
		}
		if filter != nil {
			_, running := s.cache.taskCounts(c.Name, rec.ID)
			view := schedInstance(rec, running)
			view.AgentConnected = s.connected(rec, now)
			if !filter.Match(&view) {
				continue
			}
		}
		arns = append(arns, rec.ARN)
	}
	sort.Strings(arns)
	start := sort.Search(len(arns), func(i int) bool { return arns[i] > after })
	end := min(start+size, len(arns))
	out := &ecsapi.ListContainerInstancesResponse{ContainerInstanceArns: append([]string{}, arns[start:end]...)}
	if end < len(arns) {
		out.NextToken = encodePageToken(listInstancesToken, arns[end-1])
	}
	return out, nil
}

func (s *Service) updateContainerInstancesState(ctx context.Context, in *ecsapi.UpdateContainerInstancesStateRequest) (any, error) {
	c, err := s.existingCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.Status != events.InstanceActive && in.Status != events.InstanceDraining {
		return nil, invalid(msgInstanceStatus)
	}
	switch {
	case len(in.ContainerInstances) == 0:
		return nil, errClient(msgInstancesEmpty)
	case len(in.ContainerInstances) > maxUpdateInstances:
		return nil, invalid(msgTooManyInstances, maxUpdateInstances)
	}
	out := &ecsapi.UpdateContainerInstancesStateResponse{ContainerInstances: []ecsapi.ContainerInstance{}, Failures: []ecsapi.Failure{}}
	for _, ref := range in.ContainerInstances {
		arn := ref
		if !events.IsARN(ref) {
			arn = s.instanceARN(c.Name, ref)
		}
		id, ok := s.instanceRef(c.Name, ref)
		if !ok {
			out.Failures = append(out.Failures, ecsapi.Failure{Arn: arn, Reason: "MISSING"})
			continue
		}
		var reason string
		rec, _, err := s.updateInstance(ctx, c.Name, id, func(cur *events.InstanceRecord) (*events.InstanceRecord, error) {
			switch {
			case cur == nil:
				reason = "MISSING"
				return nil, nil
			case !cur.Registered():
				reason = "INACTIVE"
				return nil, nil
			case cur.Status == in.Status:
				return nil, nil
			}
			next := cloneInstance(cur)
			next.Status = in.Status
			return next, nil
		})
		if err != nil {
			return nil, err
		}
		if reason != "" {
			out.Failures = append(out.Failures, ecsapi.Failure{Arn: arn, Reason: reason})
			continue
		}
		out.ContainerInstances = append(out.ContainerInstances, s.renderInstance(rec, false))
	}
	return out, nil
}
