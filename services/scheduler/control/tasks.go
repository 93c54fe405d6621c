package control

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/jsonx"
	"github.com/berth-project/berth/internal/natsutil"
)

// Limits of the task operations.
const (
	maxDescribeTasks = 100
	maxStopReason    = 255
	listTasksToken   = "ListTasks"
)

func (s *Service) stopTask(ctx context.Context, in *ecsapi.StopTaskRequest) (any, error) {
	c, err := s.existingCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.Task == "" {
		return nil, invalid(msgTaskRequired)
	}
	if utf8.RuneCountInString(in.Reason) > maxStopReason {
		return nil, invalid(msgReasonTooLong)
	}
	id, ok := s.taskRef(c.Name, in.Task)
	if !ok {
		return nil, invalid(msgTaskNotFound)
	}
	reason := in.Reason
	if reason == "" {
		reason = msgDefaultStopReason
	}
	t, err := s.requestStop(ctx, c.Name, id, events.StopUserInitiated, reason)
	if err != nil {
		return nil, err
	}
	out := renderTask(t, false)
	return &ecsapi.StopTaskResponse{Task: &out}, nil
}

// requestStop sets a task's desiredStatus to STOPPED, with the stop code
// and reason and stoppingAt, and its assignment's DesiredStatus with it, in
// one atomic batch, so the agent stops the containers. A task already
// stopping or stopped is returned as it is.
func (s *Service) requestStop(ctx context.Context, cluster, id, code, reason string) (*events.TaskRecord, error) {
	for range maxAttempts {
		t, rev, err := s.state.getTask(ctx, cluster, id)
		if err != nil {
			return nil, err
		}
		if t == nil {
			return nil, invalid(msgTaskNotFound)
		}
		if t.DesiredStatus == events.DesiredStopped || t.Stopped() {
			return t, nil
		}
		now := s.cfg.Now().UTC()
		next := cloneTask(t)
		next.DesiredStatus = events.DesiredStopped
		next.StopCode = code
		next.StoppedReason = reason
		if next.StoppingAt == nil {
			next.StoppingAt = &now
		}
		next.Version++
		next.UpdatedAt = now
		b := s.state.newBatch()
		at := b.putTask(next, rev)
		s.pub.carryTask(b, at, t)
		asgKey := events.AssignmentKey(cluster, t.ContainerInstanceID, id)
		a, err := s.getAssignment(ctx, asgKey)
		if err != nil {
			return nil, err
		}
		if a != nil {
			a.DesiredStatus = events.DesiredStopped
			a.StopCode = code
			a.StoppedReason = reason
			a.Version++
			// The assignment is only ever written together with its task
			// under the task's revision check, so its own revision needs no
			// check.
			b.putAny(asgKey, a)
		}
		revs, err := s.state.commit(ctx, b)
		if natsutil.IsConflict(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("stop task %s: %w", id, err)
		}
		s.cache.putTask(next, revs[at])
		s.pub.publish(ctx, s.pub.taskEvent(next))
		return next, nil
	}
	return nil, fmt.Errorf("stop task %s: %w", id, errTooMuchContention)
}

// getAssignment reads an assignment (nil when absent).
func (s *Service) getAssignment(ctx context.Context, key string) (*events.TaskAssignment, error) {
	e, err := s.state.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	var a events.TaskAssignment
	if err := jsonx.Unmarshal(e.Value(), &a); err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	return &a, nil
}

func (s *Service) describeTasks(ctx context.Context, in *ecsapi.DescribeTasksRequest) (any, error) {
	c, err := s.existingCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	switch {
	case len(in.Tasks) == 0:
		return nil, invalid(msgTasksEmpty)
	case len(in.Tasks) > maxDescribeTasks:
		return nil, invalid(msgTooManyTasks)
	}
	withTags := false
	for _, f := range in.Include {
		if f != "TAGS" {
			return nil, invalid(msgTaskInclude)
		}
		withTags = true
	}
	tasks, failures, err := describeRefs(ctx, in.Tasks,
		func(ref string) (string, bool) { return s.taskRef(c.Name, ref) },
		func(ref string) string { return s.taskARN(c.Name, ref) },
		func(ctx context.Context, id string) (*events.TaskRecord, uint64, error) {
			return s.state.getTask(ctx, c.Name, id)
		},
		func(t *events.TaskRecord) ecsapi.Task { return renderTask(t, withTags) })
	if err != nil {
		return nil, err
	}
	return &ecsapi.DescribeTasksResponse{Tasks: tasks, Failures: failures}, nil
}

var launchTypes = map[string]bool{"EC2": true, "FARGATE": true, "EXTERNAL": true, "MANAGED_INSTANCES": true}

func (s *Service) listTasks(ctx context.Context, in *ecsapi.ListTasksRequest) (any, error) {
	c, err := s.existingCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	desired := in.DesiredStatus
	switch desired {
	case "":
		desired = events.DesiredRunning
	case events.DesiredRunning, events.DesiredStopped, "PENDING":
	default:
		return nil, invalid(msgDesiredStatus, in.DesiredStatus)
	}
	if in.LaunchType != "" && !launchTypes[in.LaunchType] {
		return nil, invalid(msgListLaunchType, in.LaunchType)
	}
	size, err := pageSize(in.MaxResults)
	if err != nil {
		return nil, err
	}
	after, err := decodePageToken(listTasksToken, in.NextToken)
	if err != nil {
		return nil, err
	}
	instID := ""
	if in.ContainerInstance != "" {
		var ok bool
		if instID, ok = s.instanceRef(c.Name, in.ContainerInstance); !ok {
			instID = "-" // matches nothing
		}
	}
	group := ""
	if in.ServiceName != "" {
		name := in.ServiceName
		if events.IsARN(name) {
			name = name[strings.LastIndexByte(name, '/')+1:]
		}
		group = "service:" + name
	}
	// ECS never leaves a task desired PENDING, so that filter lists nothing.
	var ids []string
	if desired != "PENDING" {
		for _, t := range s.cache.tasks(c.Name, func(t *taskEntry) bool {
			return t.DesiredStatus == desired &&
				(in.Family == "" || t.Family == in.Family) &&
				(in.StartedBy == "" || t.StartedBy == in.StartedBy) &&
				(instID == "" || (t.ContainerInstanceID == instID && t.LaunchType != launchTypeFargate)) &&
				(group == "" || t.Group == group) &&
				(in.LaunchType == "" || t.LaunchType == in.LaunchType)
		}) {
			ids = append(ids, t.ID)
		}
	}
	start := sort.Search(len(ids), func(i int) bool { return ids[i] > after })
	end := min(start+size, len(ids))
	out := &ecsapi.ListTasksResponse{TaskArns: []string{}}
	for _, id := range ids[start:end] {
		out.TaskArns = append(out.TaskArns, s.taskARN(c.Name, id))
	}
	if end < len(ids) {
		out.NextToken = encodePageToken(listTasksToken, ids[end-1])
	}
	return out, nil
}
