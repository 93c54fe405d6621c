package control

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natsutil"
)

// resolveTaskDef finds the task definition ref names: "family" (its latest
// ACTIVE revision), "family:revision" or an ARN. It asks the taskdefs
// service, which owns events.BucketTaskDefs, over
// berth.internal.taskdefs.DescribeTaskDefinition: the answer is exactly
// DescribeTaskDefinition's (with the tags), including the roll-forward of a
// registration whose replica died before indexing it, and the status is
// the current one. Unknown references are ClientException "TaskDefinition
// not found."; a taskdefs service that does not answer is a server fault.
func (s *Service) resolveTaskDef(ctx context.Context, ref string) (*events.TaskDefRecord, error) {
	if _, _, ok := s.parseTaskDefRef(ref); !ok {
		return nil, errClient(msgTaskDefNotFound)
	}
	resp, err := s.describeTaskDef(ctx, ref)
	if e, ok := apierr.As(err); ok && (e.Code == events.CodeClient || e.Code == events.CodeInvalidParameter) {
		return nil, errClient(msgTaskDefNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("resolve task definition %s: %w", ref, err)
	}
	if resp.TaskDefinition == nil {
		return nil, fmt.Errorf("resolve task definition %s: empty answer", ref)
	}
	return &events.TaskDefRecord{TaskDefinition: *resp.TaskDefinition, Tags: resp.Tags}, nil
}

// resolveAttempt bounds one request to the taskdefs service. A request or
// its reply can be lost (core NATS is at most once, and a taskdefs replica
// can die with it); describing is a read, so it is asked again.
const resolveAttempt = 5 * time.Second

// describeTaskDef asks the taskdefs service, again after a lost request or
// while no replica answers, until ctx ends.
func (s *Service) describeTaskDef(ctx context.Context, ref string) (ecsapi.DescribeTaskDefinitionResponse, error) {
	req := ecsapi.DescribeTaskDefinitionRequest{TaskDefinition: ref, Include: []string{"TAGS"}}
	subj := events.SubjInternal(events.ServiceTaskDefs, "DescribeTaskDefinition")
	for {
		var resp ecsapi.DescribeTaskDefinitionResponse
		actx, cancel := context.WithTimeout(ctx, resolveAttempt)
		err := natsutil.Call(actx, s.nc, subj, req, &resp)
		cancel()
		lost := errors.Is(err, context.DeadlineExceeded) || errors.Is(err, natsutil.ErrUnavailable)
		if !lost || ctx.Err() != nil {
			return resp, err
		}
		select {
		case <-ctx.Done():
			return resp, err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// parseTaskDefRef splits a task definition reference into family and
// revision (0: the latest ACTIVE). ARNs of another account or region name
// nothing here.
func (s *Service) parseTaskDefRef(ref string) (string, int32, bool) {
	if events.IsARN(ref) {
		r, err := events.ParseECSARN(ref)
		if err != nil || r.Type != events.ResourceTaskDefinition || r.Account != s.cfg.Account || r.Region != s.cfg.Region {
			return "", 0, false
		}
		if r.Revision > 1<<31-1 || !validClusterName(r.Name) {
			return "", 0, false
		}
		return r.Name, int32(r.Revision), true
	}
	family, revText, hasRev := strings.Cut(ref, ":")
	if !validClusterName(family) {
		return "", 0, false
	}
	if !hasRev {
		return family, 0, true
	}
	n, err := strconv.ParseInt(revText, 10, 32)
	if err != nil || n < 1 {
		return "", 0, false
	}
	return family, int32(n), true
}
