package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natsutil"
)

// tagOwners maps the resource types other services own to the service that
// keeps their tags. Tagging calls for them are forwarded, body and headers
// unchanged, to berth.internal.<owner>.<Operation>, and the owner's reply or
// error is relayed as is. (Services, owned by the supervisor, will join.)
var tagOwners = map[string]string{
	events.ResourceTaskDefinition: events.ServiceTaskDefs,
	events.ResourceService:        events.ServiceSupervisor,
}

// taggable are the resource types ECS tagging accepts.
var taggable = map[string]bool{
	events.ResourceCluster:           true,
	events.ResourceService:           true,
	events.ResourceTask:              true,
	events.ResourceContainerInstance: true,
	events.ResourceTaskDefinition:    true,
	events.ResourceCapacityProvider:  true,
	events.ResourceTaskSet:           true,
}

// longFormOnly are the types whose old short ARNs (no cluster) tagging
// refuses.
var longFormOnly = map[string]bool{
	events.ResourceService:           true,
	events.ResourceTask:              true,
	events.ResourceContainerInstance: true,
}

// tagger keeps the tags of one resource type this service owns. Clusters
// have one; tasks and container instances will add theirs to
// Service.taggers.
type tagger interface {
	listTags(ctx context.Context, r events.ECSResource) ([]ecsapi.Tag, error)
	tag(ctx context.Context, r events.ECSResource, tags []ecsapi.Tag) error
	untag(ctx context.Context, r events.ECSResource, keys []string) error
}

func (s *Service) tagResource(ctx context.Context, req *natsutil.Request) (any, error) {
	var in ecsapi.TagResourceRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	r, err := s.tagTarget(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if owner, ok := tagOwners[r.Type]; ok {
		return s.forward(ctx, owner, req, r)
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	t, err := s.taggerFor(ctx, r)
	if err != nil {
		return nil, err
	}
	if err := t.tag(ctx, r, in.Tags); err != nil {
		return nil, err
	}
	return &ecsapi.TagResourceResponse{}, nil
}

func (s *Service) untagResource(ctx context.Context, req *natsutil.Request) (any, error) {
	var in ecsapi.UntagResourceRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	r, err := s.tagTarget(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if owner, ok := tagOwners[r.Type]; ok {
		return s.forward(ctx, owner, req, r)
	}
	if err := checkTagKeys(in.TagKeys); err != nil {
		return nil, err
	}
	t, err := s.taggerFor(ctx, r)
	if err != nil {
		return nil, err
	}
	if err := t.untag(ctx, r, in.TagKeys); err != nil {
		return nil, err
	}
	return &ecsapi.UntagResourceResponse{}, nil
}

func (s *Service) listTagsForResource(ctx context.Context, req *natsutil.Request) (any, error) {
	var in ecsapi.ListTagsForResourceRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	r, err := s.tagTarget(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if owner, ok := tagOwners[r.Type]; ok {
		return s.forward(ctx, owner, req, r)
	}
	t, err := s.taggerFor(ctx, r)
	if err != nil {
		return nil, err
	}
	tags, err := t.listTags(ctx, r)
	if err != nil {
		return nil, err
	}
	return &ecsapi.ListTagsForResourceResponse{Tags: tags}, nil
}

// tagTarget parses and checks the resourceArn of a tagging call.
func (s *Service) tagTarget(arn string) (events.ECSResource, error) {
	if arn == "" {
		return events.ECSResource{}, invalid(msgResourceRequired)
	}
	r, err := events.ParseECSARN(arn)
	if err != nil {
		return events.ECSResource{}, invalid(msgInvalidARN)
	}
	switch {
	case r.Account != s.cfg.Account:
		return events.ECSResource{}, invalid(msgOtherAccount, r.Account, s.cfg.Account)
	case !taggable[r.Type]:
		return events.ECSResource{}, invalid(msgNotTaggable)
	case longFormOnly[r.Type] && r.Cluster == "":
		return events.ECSResource{}, invalid(msgLongARN)
	}
	return r, nil
}

// taggerFor returns the tagger of r's type, or the error AWS answers for a
// resource that does not exist.
func (s *Service) taggerFor(ctx context.Context, r events.ECSResource) (tagger, error) {
	if t := s.taggers[r.Type]; t != nil && r.Region == s.cfg.Region {
		return t, nil
	}
	return nil, s.missing(ctx, r)
}

// missing is the error for a resource that does not exist: the cluster's
// error first (not found, or inactive) for resources inside a cluster, then
// ResourceNotFoundException.
func (s *Service) missing(ctx context.Context, r events.ECSResource) error {
	if r.Region != s.cfg.Region {
		if r.Type == events.ResourceCluster {
			return errClusterNotFound()
		}
		return apierr.New(events.CodeResourceNotFound, msgResourceNotFound)
	}
	if r.Cluster != "" {
		c, err := s.clusters.get(ctx, r.Cluster)
		if err != nil {
			return err
		}
		if err := checkActive(c); err != nil {
			return err
		}
	}
	return apierr.New(events.CodeResourceNotFound, msgResourceNotFound)
}

// forward relays a tagging call to the service that owns the resource and
// returns its reply unchanged; an error reply comes back as the owner's
// *apierr.Error and reaches the caller as is.
func (s *Service) forward(ctx context.Context, owner string, req *natsutil.Request, r events.ECSResource) (any, error) {
	subj := events.SubjInternal(owner, req.Operation)
	reply, err := natsutil.RequestRaw(ctx, s.nc, subj, req.Data, nats.Header(req.Headers))
	if errors.Is(err, natsutil.ErrUnavailable) && owner == events.ServiceSupervisor {
		// A Berth without a supervisor has no services.
		return nil, s.missing(ctx, r)
	}
	if err != nil {
		return nil, fmt.Errorf("forward %s: %w", req.Operation, err)
	}
	if len(bytes.TrimSpace(reply.Data)) == 0 {
		return nil, nil
	}
	return json.RawMessage(reply.Data), nil
}

// clusterTagger keeps cluster tags inside the cluster record.
type clusterTagger struct{ s *Service }

func (t clusterTagger) listTags(ctx context.Context, r events.ECSResource) ([]ecsapi.Tag, error) {
	c, err := t.s.clusters.get(ctx, r.Cluster)
	if err != nil {
		return nil, err
	}
	if err := checkActive(c); err != nil {
		return nil, err
	}
	return apiTags(c.Tags), nil
}

func (t clusterTagger) tag(ctx context.Context, r events.ECSResource, tags []ecsapi.Tag) error {
	_, err := t.s.updateActiveChecked(ctx, r.Cluster, func(next *events.ClusterRecord) error {
		merged := mergeTags(apiTags(next.Tags), tags)
		if len(merged) > maxTags {
			return invalid(msgTooManyTags)
		}
		next.Tags = recordTags(merged)
		return nil
	})
	return err
}

func (t clusterTagger) untag(ctx context.Context, r events.ECSResource, keys []string) error {
	_, err := t.s.updateActiveChecked(ctx, r.Cluster, func(next *events.ClusterRecord) error {
		next.Tags = recordTags(removeTags(apiTags(next.Tags), keys))
		return nil
	})
	return err
}

var _ tagger = clusterTagger{}

// taskTagger keeps task tags inside the task record.
type taskTagger struct{ s *Service }

func (t taskTagger) listTags(ctx context.Context, r events.ECSResource) ([]ecsapi.Tag, error) {
	task, _, err := t.s.state.getTask(ctx, r.Cluster, r.ID)
	if err != nil {
		return nil, err
	}
	if task == nil || !validID(r.ID) {
		return nil, t.s.missing(ctx, r)
	}
	return nonNilTags(task.Tags), nil
}

func (t taskTagger) tag(ctx context.Context, r events.ECSResource, tags []ecsapi.Tag) error {
	return t.modify(ctx, r, func(cur []ecsapi.Tag) ([]ecsapi.Tag, error) {
		merged := mergeTags(cur, tags)
		if len(merged) > maxTags {
			return nil, invalid(msgTooManyTags)
		}
		return merged, nil
	})
}

func (t taskTagger) untag(ctx context.Context, r events.ECSResource, keys []string) error {
	return t.modify(ctx, r, func(cur []ecsapi.Tag) ([]ecsapi.Tag, error) { return removeTags(cur, keys), nil })
}

func (t taskTagger) modify(ctx context.Context, r events.ECSResource, fn func([]ecsapi.Tag) ([]ecsapi.Tag, error)) error {
	if !validID(r.ID) {
		return t.s.missing(ctx, r)
	}
	var missing bool
	err := t.s.updateTaskQuiet(ctx, r.Cluster, r.ID, func(cur *events.TaskRecord) (*events.TaskRecord, error) {
		if cur == nil {
			missing = true
			return nil, nil
		}
		tags, err := fn(cur.Tags)
		if err != nil {
			return nil, err
		}
		next := cloneTask(cur)
		next.Tags = tags
		return next, nil
	})
	if err == nil && missing {
		return t.s.missing(ctx, r)
	}
	return err
}

// instanceTagger keeps container instance tags inside the instance record.
// A tag change is not a state change: no new version, no event.
type instanceTagger struct{ s *Service }

func (t instanceTagger) listTags(ctx context.Context, r events.ECSResource) ([]ecsapi.Tag, error) {
	if !validID(r.ID) {
		return nil, t.s.missing(ctx, r)
	}
	rec, _, err := t.s.state.getInstance(ctx, r.Cluster, r.ID)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, t.s.missing(ctx, r)
	}
	return nonNilTags(rec.Tags), nil
}

func (t instanceTagger) tag(ctx context.Context, r events.ECSResource, tags []ecsapi.Tag) error {
	return t.modify(ctx, r, func(cur []ecsapi.Tag) ([]ecsapi.Tag, error) {
		merged := mergeTags(cur, tags)
		if len(merged) > maxTags {
			return nil, invalid(msgTooManyTags)
		}
		return merged, nil
	})
}

func (t instanceTagger) untag(ctx context.Context, r events.ECSResource, keys []string) error {
	return t.modify(ctx, r, func(cur []ecsapi.Tag) ([]ecsapi.Tag, error) { return removeTags(cur, keys), nil })
}

func (t instanceTagger) modify(ctx context.Context, r events.ECSResource, fn func([]ecsapi.Tag) ([]ecsapi.Tag, error)) error {
	if !validID(r.ID) {
		return t.s.missing(ctx, r)
	}
	for range maxAttempts {
		cur, rev, err := t.s.state.getInstance(ctx, r.Cluster, r.ID)
		if err != nil {
			return err
		}
		if cur == nil {
			return t.s.missing(ctx, r)
		}
		tags, err := fn(cur.Tags)
		if err != nil {
			return err
		}
		next := cloneInstance(cur)
		next.Tags = tags
		b := t.s.state.newBatch()
		b.putInstance(r.Cluster, r.ID, next, rev)
		revs, err := t.s.state.commit(ctx, b)
		if natsutil.IsConflict(err) {
			continue
		}
		if err != nil {
			return err
		}
		t.s.cache.putInstance(next, revs[0])
		return nil
	}
	return errTooMuchContention
}

var (
	_ tagger = taskTagger{}
	_ tagger = instanceTagger{}
)
