package taskdefs

import (
	"context"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/natsutil"
)

// register answers RegisterTaskDefinition. The new revision is the family's
// highest revision ever + 1: the family record and the revision record are
// committed in one atomic batch, expecting the family record's KV revision
// and the revision key to be absent, so concurrent registrations from any
// number of replicas get consecutive revisions with no gap and no
// duplicate (the loser of a race re-reads and retries).
func (s *Service) register(ctx context.Context, r *natsutil.Request) (any, error) {
	if n := len(r.Data); n > maxDefinitionBytes {
		return nil, errTooLarge(n)
	}
	var req ecsapi.RegisterTaskDefinitionRequest
	if err := r.Decode(&req); err != nil {
		return nil, err
	}
	base, err := buildTaskDefinition(&req)
	if err != nil {
		return nil, err
	}
	tags := req.Tags
	if tags == nil {
		tags = []ecsapi.Tag{}
	}
	var td ecsapi.TaskDefinition
	err = retry(ctx, func() error {
		fam, err := s.st.family(ctx, base.Family)
		if err != nil {
			return err
		}
		rev := fam.rec.LastRevision + 1
		td = *base
		td.Revision = awsjson.Int32(rev)
		td.TaskDefinitionArn = s.taskDefARN(td.Family, rev)
		td.Status = events.TaskDefActive
		td.RegisteredAt = awsjson.NewTime(s.now())
		td.RegisteredBy = "arn:aws:iam::" + s.cfg.Account + ":root"
		fam.rec.LastRevision = rev
		fam.rec.SetStatus(rev, events.TaskDefActive)
		return s.st.commit(ctx,
			write{key: events.TaskDefFamilyKey(td.Family), v: fam.rec, rev: fam.rev},
			write{key: events.TaskDefRevisionKey(td.Family, rev), v: events.TaskDefRecord{TaskDefinition: td, Tags: tags}},
		)
	})
	if err != nil {
		return nil, err
	}
	s.cfg.Log.Debug("registered", "task_def", td.TaskDefinitionArn)
	resp := ecsapi.RegisterTaskDefinitionResponse{TaskDefinition: &td}
	if len(tags) > 0 {
		resp.Tags = tags
	}
	return resp, nil
}
