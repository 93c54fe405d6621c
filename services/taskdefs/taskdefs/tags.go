package taskdefs

import (
	"context"
	"slices"

	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/natsutil"
)

// The tagging operations answer on berth.internal.taskdefs.<Op> with the
// AWS JSON bodies of TagResource, UntagResource and ListTagsForResource. The
// scheduler answers the public ECS operations and forwards task-definition
// ARNs here.

// tagTarget parses the resourceArn of a tagging call: it must be a task
// definition ARN with a revision.
func (s *Service) tagTarget(arn string) (ident, error) {
	id, ok, err := parseIdent(arn)
	if err != nil {
		return id, err
	}
	if !ok || !id.ARN || id.Revision == 0 {
		return id, errInvalidARN()
	}
	if !s.ours(id) {
		return id, errNotFound()
	}
	return id, nil
}

// updateTags applies change to the tags of one revision and commits the
// revision record (compare-and-set on its KV revision, retried on conflict).
func (s *Service) updateTags(ctx context.Context, id ident, change func([]ecsapi.Tag) ([]ecsapi.Tag, error)) error {
	return retry(ctx, func() error {
		e, found, err := s.st.revision(ctx, id.Family, id.Revision)
		if err != nil {
			return err
		}
		if !found {
			return errNotFound()
		}
		tags, err := change(slices.Clone(e.rec.Tags))
		if err != nil {
			return err
		}
		rec := *e.rec
		rec.Tags = tags
		return s.st.updateRevision(ctx, id.Family, id.Revision, &rec, e.rev)
	})
}

// tagResource adds tags, replacing the value of keys already present.
func (s *Service) tagResource(ctx context.Context, r *natsutil.Request) (any, error) {
	var req ecsapi.TagResourceRequest
	if err := r.Decode(&req); err != nil {
		return nil, err
	}
	id, err := s.tagTarget(req.ResourceArn)
	if err != nil {
		return nil, err
	}
	if err := checkTags(req.Tags); err != nil {
		return nil, err
	}
	err = s.updateTags(ctx, id, func(tags []ecsapi.Tag) ([]ecsapi.Tag, error) {
		for _, t := range req.Tags {
			if i := slices.IndexFunc(tags, func(x ecsapi.Tag) bool { return x.Key == t.Key }); i >= 0 {
				tags[i].Value = t.Value
				continue
			}
			tags = append(tags, t)
		}
		if len(tags) > maxTags {
			return nil, errInvalid("Too many tags. A resource can have at most %d tags.", maxTags)
		}
		return tags, nil
	})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// untagResource removes tag keys; absent keys are ignored.
func (s *Service) untagResource(ctx context.Context, r *natsutil.Request) (any, error) {
	var req ecsapi.UntagResourceRequest
	if err := r.Decode(&req); err != nil {
		return nil, err
	}
	id, err := s.tagTarget(req.ResourceArn)
	if err != nil {
		return nil, err
	}
	for i, k := range req.TagKeys {
		if err := checkTagKey(k, i); err != nil {
			return nil, err
		}
	}
	err = s.updateTags(ctx, id, func(tags []ecsapi.Tag) ([]ecsapi.Tag, error) {
		return slices.DeleteFunc(tags, func(t ecsapi.Tag) bool { return slices.Contains(req.TagKeys, t.Key) }), nil
	})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// listTags answers ListTagsForResource; tags is always present.
func (s *Service) listTags(ctx context.Context, r *natsutil.Request) (any, error) {
	var req ecsapi.ListTagsForResourceRequest
	if err := r.Decode(&req); err != nil {
		return nil, err
	}
	id, err := s.tagTarget(req.ResourceArn)
	if err != nil {
		return nil, err
	}
	e, found, err := s.st.revision(ctx, id.Family, id.Revision)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, errNotFound()
	}
	return ecsapi.ListTagsForResourceResponse{Tags: nonNilTags(e.rec.Tags)}, nil
}
