package control

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/natsutil"
)

// updateInstance is an optimistic read-modify-write of one instance record.
// fn gets the current record (nil when absent; it must not modify it) and
// returns the next one, or nil to change nothing. The version and
// updatedAt are bumped here; the commit checks the revision read and is
// retried on conflict; the new record goes into the cache and out as an
// "ECS Container Instance State Change" event.
func (s *Service) updateInstance(ctx context.Context, cluster, id string, fn func(cur *events.InstanceRecord) (*events.InstanceRecord, error)) (*events.InstanceRecord, bool, error) {
	for range maxAttempts {
		cur, rev, err := s.state.getInstance(ctx, cluster, id)
		if err != nil {
			return nil, false, err
		}
		next, err := fn(cur)
		if err != nil {
			return nil, false, err
		}
		if next == nil {
			return cur, false, nil
		}
		next.Version = 1
		if cur != nil {
			next.Version = cur.Version + 1
		}
		next.UpdatedAt = s.cfg.Now().UTC()
		b := s.state.newBatch()
		s.pub.carryInstance(b, b.putInstance(cluster, id, next, rev), cur)
		revs, err := s.state.commit(ctx, b)
		if natsutil.IsConflict(err) {
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("write instance %s: %w", id, err)
		}
		s.cache.putInstance(next, revs[0])
		s.pub.publish(ctx, s.pub.instanceEvent(next))
		return next, true, nil
	}
	return nil, false, fmt.Errorf("instance %s: %w", id, errTooMuchContention)
}

// updateTaskQuiet is an optimistic read-modify-write of one task record for
// changes that are not state changes (tags): no version bump, no event.
func (s *Service) updateTaskQuiet(ctx context.Context, cluster, id string, fn func(cur *events.TaskRecord) (*events.TaskRecord, error)) error {
	for range maxAttempts {
		cur, rev, err := s.state.getTask(ctx, cluster, id)
		if err != nil {
			return err
		}
		next, err := fn(cur)
		if err != nil || next == nil {
			return err
		}
		b := s.state.newBatch()
		b.putTask(next, rev)
		revs, err := s.state.commit(ctx, b)
		if natsutil.IsConflict(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("write task %s: %w", id, err)
		}
		s.cache.putTask(next, revs[0])
		return nil
	}
	return fmt.Errorf("task %s: %w", id, errTooMuchContention)
}

// cloneInstance copies a record deeply enough that changing the copy leaves
// the original (which the cache may share) untouched.
func cloneInstance(r *events.InstanceRecord) *events.InstanceRecord {
	next := *r
	next.RegisteredTCP = slices.Clone(r.RegisteredTCP)
	next.RegisteredUDP = slices.Clone(r.RegisteredUDP)
	next.ReservedTCP = slices.Clone(r.ReservedTCP)
	next.ReservedUDP = slices.Clone(r.ReservedUDP)
	next.Groups = maps.Clone(r.Groups)
	next.Attributes = slices.Clone(r.Attributes)
	next.Tags = slices.Clone(r.Tags)
	if r.VersionInfo != nil {
		vi := *r.VersionInfo
		next.VersionInfo = &vi
	}
	return &next
}

// cloneTask copies a task record deeply enough for a report or a stop to
// change the copy.
func cloneTask(t *events.TaskRecord) *events.TaskRecord {
	next := *t
	next.Containers = make([]events.TaskContainer, len(t.Containers))
	for i, c := range t.Containers {
		c.NetworkBindings = slices.Clone(c.NetworkBindings)
		next.Containers[i] = c
	}
	next.Tags = slices.Clone(t.Tags)
	next.Attributes = slices.Clone(t.Attributes)
	return &next
}

// instanceRef resolves a container instance reference (a 32-hex id or an
// ARN) in cluster to its id. ok is false when an ARN names another cluster,
// account or region, or is not a container-instance ARN.
func (s *Service) instanceRef(cluster, ref string) (string, bool) {
	return s.resourceRef(cluster, ref, events.ResourceContainerInstance)
}

// taskRef is instanceRef for tasks.
func (s *Service) taskRef(cluster, ref string) (string, bool) {
	return s.resourceRef(cluster, ref, events.ResourceTask)
}

func (s *Service) resourceRef(cluster, ref, typ string) (string, bool) {
	if !events.IsARN(ref) {
		return ref, validID(ref)
	}
	r, err := events.ParseECSARN(ref)
	if err != nil || r.Type != typ || r.Account != s.cfg.Account || r.Region != s.cfg.Region {
		return "", false
	}
	if r.Cluster != "" && r.Cluster != cluster {
		return "", false
	}
	return r.ID, validID(r.ID)
}

// validID reports whether id can be a task or instance id (and so a KV key
// token): Berth's ids are 32 hex digits, but any plain token is looked up.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// instanceARN and taskARN build ARNs in this service's region and account.
func (s *Service) instanceARN(cluster, id string) string {
	return events.ContainerInstanceARN(s.cfg.Region, s.cfg.Account, cluster, id)
}

func (s *Service) taskARN(cluster, id string) string {
	return events.TaskARN(s.cfg.Region, s.cfg.Account, cluster, id)
}

// activeCluster resolves an optional cluster reference (default
// "default") and returns its ACTIVE record: ClusterNotFoundException when
// there is none, the inactive-cluster error for an INACTIVE one.
func (s *Service) activeCluster(ctx context.Context, ref string) (*events.ClusterRecord, error) {
	c, err := s.existingCluster(ctx, ref)
	if err != nil {
		return nil, err
	}
	if !c.Active() {
		return nil, errClusterInactive()
	}
	return c, nil
}

// existingCluster is activeCluster that also accepts an INACTIVE cluster
// (reads keep working on a deleted cluster).
func (s *Service) existingCluster(ctx context.Context, ref string) (*events.ClusterRecord, error) {
	if ref == "" {
		ref = defaultCluster
	}
	name, err := s.clusterRef(ref)
	if err != nil {
		return nil, err
	}
	if !validClusterName(name) {
		return nil, errClusterNotFound()
	}
	c, err := s.clusters.get(ctx, name)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, errClusterNotFound()
	}
	return c, nil
}

// sortAttributes orders attributes by name, as records keep them.
func sortAttributes(attrs []ecsapi.Attribute) {
	slices.SortFunc(attrs, func(a, b ecsapi.Attribute) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
}

// describeRefs looks up each of refs (ids or ARNs) once, in order, with
// get: what exists is rendered, what does not (or is no ref of this
// cluster) is a MISSING failure named by its ARN, as DescribeTasks and
// DescribeContainerInstances answer.
func describeRefs[R, T any](ctx context.Context, refs []string, id func(string) (string, bool), arn func(string) string,
	get func(ctx context.Context, id string) (*R, uint64, error), render func(*R) T) ([]T, []ecsapi.Failure, error) {
	found, failures := []T{}, []ecsapi.Failure{}
	seen := map[string]bool{}
	for _, ref := range refs {
		missing := ecsapi.Failure{Arn: ref, Reason: "MISSING"}
		if !events.IsARN(ref) {
			missing.Arn = arn(ref)
		}
		key, ok := id(ref)
		if !ok {
			failures = append(failures, missing)
			continue
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		rec, _, err := get(ctx, key)
		if err != nil {
			return nil, nil, err
		}
		if rec == nil {
			failures = append(failures, missing)
			continue
		}
		found = append(found, render(rec))
	}
	return found, failures, nil
}
