package supervisor

import (
	"context"
	"slices"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/apierr"
)

// Tagging calls for service ARNs arrive from the scheduler (which answers
// TagResource, UntagResource and ListTagsForResource for every ECS ARN and
// forwards those of services here), already checked for form and account.

// taggedService returns the key of the service an ARN names.
func (s *Service) taggedService(arn string) (string, error) {
	r, err := events.ParseECSARN(arn)
	if err != nil || r.Type != events.ResourceService || r.Cluster == "" || r.Region != s.cfg.Region {
		return "", apierr.New(events.CodeResourceNotFound, msgResourceNotFound)
	}
	return events.ServiceKey(r.Cluster, r.Name), nil
}

func (s *Service) listTagsForResource(ctx context.Context, in *ecsapi.ListTagsForResourceRequest) (any, error) {
	key, err := s.taggedService(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	rec, _, err := s.store.get(ctx, key)
	if err != nil {
		return nil, err
	}
	if rec == nil || rec.Status == events.ServiceInactive {
		return nil, s.notFound(ctx, in.ResourceArn)
	}
	return &ecsapi.ListTagsForResourceResponse{Tags: nonNil(rec.Tags)}, nil
}

func (s *Service) tagResource(ctx context.Context, in *ecsapi.TagResourceRequest) (any, error) {
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	err := s.retag(ctx, in.ResourceArn, func(tags []ecsapi.Tag) ([]ecsapi.Tag, error) {
		for _, t := range in.Tags {
			i := slices.IndexFunc(tags, func(x ecsapi.Tag) bool { return x.Key == t.Key })
			if i >= 0 {
				tags[i] = t
			} else {
				tags = append(tags, t)
			}
		}
		if len(tags) > 50 {
			return nil, invalid(msgTooManyTags)
		}
		return tags, nil
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.TagResourceResponse{}, nil
}

func (s *Service) untagResource(ctx context.Context, in *ecsapi.UntagResourceRequest) (any, error) {
	err := s.retag(ctx, in.ResourceArn, func(tags []ecsapi.Tag) ([]ecsapi.Tag, error) {
		return slices.DeleteFunc(tags, func(t ecsapi.Tag) bool { return slices.Contains(in.TagKeys, t.Key) }), nil
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.UntagResourceResponse{}, nil
}

// retag changes a service's tags (a tag change is no state change: the
// service is not reconciled for it).
func (s *Service) retag(ctx context.Context, arn string, fn func([]ecsapi.Tag) ([]ecsapi.Tag, error)) error {
	key, err := s.taggedService(arn)
	if err != nil {
		return err
	}
	for range maxAttempts {
		rec, rev, err := s.store.get(ctx, key)
		if err != nil {
			return err
		}
		if rec == nil || rec.Status == events.ServiceInactive {
			return s.notFound(ctx, arn)
		}
		tags, err := fn(slices.Clone(rec.Tags))
		if err != nil {
			return err
		}
		rec.Tags = nonNil(tags)
		rec.Outbox = nil
		rec.Version++
		n, err := s.store.put(ctx, key, rec, rev)
		if err == errConflict {
			continue
		}
		if err != nil {
			return err
		}
		s.cache.put(key, rec, n)
		return nil
	}
	return errConflict
}

// notFound is the error for a service ARN that names no service: the
// cluster's error first, then ResourceNotFoundException.
func (s *Service) notFound(ctx context.Context, arn string) error {
	if r, err := events.ParseECSARN(arn); err == nil && r.Cluster != "" {
		if _, err := s.ecs.activeCluster(ctx, r.Cluster); err != nil {
			return err
		}
	}
	return apierr.New(events.CodeResourceNotFound, msgResourceNotFound)
}
