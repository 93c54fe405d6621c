package taskdefs

import (
	"context"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/natsutil"
)

// register answers RegisterTaskDefinition. The new revision is the family's
// highest revision ever + 1. Creating the revision record is the commit
// point: the key must not exist, so of any number of concurrent registrations
// (from any replica) exactly one gets each revision, and revisions are never
// reused. A registration that finds its revision taken rolls the family index
// forward to it (whoever took it may have died before indexing it) and tries
// the next one; after its own create it indexes its revision with index.
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
		for rev := fam.rec.LastRevision + 1; ; rev++ {
			td = *base
			td.Revision = awsjson.Int32(rev)
			td.TaskDefinitionArn = s.taskDefARN(td.Family, rev)
			td.Status = events.TaskDefActive
			td.RegisteredAt = awsjson.NewTime(s.now())
			td.RegisteredBy = "arn:aws:iam::" + s.cfg.Account + ":root"
			err := s.st.createRevision(ctx, td.Family, rev, &events.TaskDefRecord{TaskDefinition: td, Tags: tags})
			if natsutil.IsConflict(err) {
				// Taken: make sure the index knows, then try the next one.
				if err := s.st.sync(ctx, td.Family, rev); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			return s.st.index(ctx, fam, rev, td.Status)
		}
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
