package taskdefs

import (
	"context"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/natsutil"
)

// Limits of DeleteTaskDefinitions.
const maxDeleteBatch = 10

// transition moves one revision to status `to` when it is in status
// `from`: a compare-and-set on the revision record (the commit point, stamp
// sets the timestamp of the move), then sync of the family index. It returns
// the revision as stored afterwards; a revision already past `from` is
// returned unchanged (after making sure the index agrees), so a repeated call
// is a no-op.
func (s *Service) transition(ctx context.Context, family string, rev int32, from, to string, stamp func(*ecsapi.TaskDefinition)) (*events.TaskDefRecord, error) {
	var out *events.TaskDefRecord
	err := retry(ctx, func() error {
		e, found, err := s.st.revision(ctx, family, rev)
		if err != nil {
			return err
		}
		if !found {
			return errNotFound()
		}
		out = e.rec
		if e.rec.TaskDefinition.Status != from {
			return nil
		}
		rec := *e.rec
		rec.TaskDefinition.Status = to
		stamp(&rec.TaskDefinition)
		if err := s.st.updateRevision(ctx, family, rev, &rec, e.rev); err != nil {
			return err
		}
		out = &rec
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.st.sync(ctx, family, rev); err != nil {
		return nil, err
	}
	return out, nil
}

// deregister answers DeregisterTaskDefinition: ACTIVE -> INACTIVE with
// deregisteredAt. The reference must name a revision. Deregistering a
// revision that is already INACTIVE (or being deleted) returns it unchanged.
func (s *Service) deregister(ctx context.Context, r *natsutil.Request) (any, error) {
	var req ecsapi.DeregisterTaskDefinitionRequest
	if err := r.Decode(&req); err != nil {
		return nil, err
	}
	id, ok, err := parseIdent(req.TaskDefinition)
	if err != nil {
		return nil, err
	}
	if !ok || !s.ours(id) {
		return nil, errNotFound()
	}
	if id.Revision == 0 {
		return nil, errClient("Revision is missing.")
	}
	now := s.now()
	rec, err := s.transition(ctx, id.Family, id.Revision, events.TaskDefActive, events.TaskDefInactive,
		func(td *ecsapi.TaskDefinition) { td.DeregisteredAt = awsjson.NewTime(now) })
	if err != nil {
		return nil, err
	}
	return ecsapi.DeregisterTaskDefinitionResponse{TaskDefinition: &rec.TaskDefinition}, nil
}

// delete answers DeleteTaskDefinitions: INACTIVE -> DELETE_IN_PROGRESS with
// deleteRequestedAt; anything else is reported in failures[]. Revisions in
// DELETE_IN_PROGRESS stay describable by family:revision.
func (s *Service) delete(ctx context.Context, r *natsutil.Request) (any, error) {
	var req ecsapi.DeleteTaskDefinitionsRequest
	if err := r.Decode(&req); err != nil {
		return nil, err
	}
	switch {
	case len(req.TaskDefinitions) == 0:
		return nil, errInvalid("size of TaskDefinition references list must be greater than 0")
	case len(req.TaskDefinitions) > maxDeleteBatch:
		return nil, errInvalid("Size of TaskDefinition references list cannot exceed %d", maxDeleteBatch)
	}
	resp := ecsapi.DeleteTaskDefinitionsResponse{TaskDefinitions: []ecsapi.TaskDefinition{}, Failures: []ecsapi.Failure{}}
	now := s.now()
	for _, ref := range req.TaskDefinitions {
		id, ok, err := parseIdent(ref)
		if err != nil || !ok || id.Revision == 0 {
			resp.Failures = append(resp.Failures, ecsapi.Failure{Arn: ref, Reason: reasonInvalidIdentifier})
			continue
		}
		arn := s.taskDefARN(id.Family, id.Revision)
		if !s.ours(id) {
			resp.Failures = append(resp.Failures, ecsapi.Failure{Arn: ref, Reason: reasonDoesNotExist})
			continue
		}
		rec, err := s.transition(ctx, id.Family, id.Revision, events.TaskDefInactive, events.TaskDefDeleteInProgress,
			func(td *ecsapi.TaskDefinition) { td.DeleteRequestedAt = awsjson.NewTime(now) })
		switch {
		case codeOf(err) == events.CodeClient:
			resp.Failures = append(resp.Failures, ecsapi.Failure{Arn: arn, Reason: reasonDoesNotExist})
		case err != nil:
			return nil, err
		case rec.TaskDefinition.Status == events.TaskDefActive:
			resp.Failures = append(resp.Failures, ecsapi.Failure{Arn: arn, Reason: reasonStillActive})
		default:
			resp.TaskDefinitions = append(resp.TaskDefinitions, rec.TaskDefinition)
		}
	}
	return resp, nil
}
