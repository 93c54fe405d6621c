package control

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
)

// maxCachedTaskDefs bounds the cache of task definition revisions.
const maxCachedTaskDefs = 4096

// taskDefs reads task definitions from events.BucketTaskDefs, which the
// taskdefs service writes. A revision's content never changes, only its
// status, and the status lives in the family record too; so the revision
// records are cached and the (small) family record is read on every
// resolve.
type taskDefs struct {
	js jetstream.JetStream

	mu   sync.Mutex
	kv   jetstream.KeyValue
	revs map[string]*events.TaskDefRecord // family:revision -> record
}

// bucket opens the task-definition bucket; nil (and no error) while the
// taskdefs service has not created it.
func (t *taskDefs) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.kv != nil {
		return t.kv, nil
	}
	kv, err := t.js.KeyValue(ctx, events.BucketTaskDefs.Name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", events.BucketTaskDefs.Name, err)
	}
	t.kv = kv
	return kv, nil
}

// resolve finds the task definition ref names: "family" (its latest ACTIVE
// revision), "family:revision" or an ARN. The record's status is the
// current one. Unknown references are ClientException "TaskDefinition not
// found."
func (s *Service) resolveTaskDef(ctx context.Context, ref string) (*events.TaskDefRecord, error) {
	family, rev, ok := s.parseTaskDefRef(ref)
	if !ok {
		return nil, errClient(msgTaskDefNotFound)
	}
	t := s.taskdefs
	kv, err := t.bucket(ctx)
	if err != nil {
		return nil, err
	}
	if kv == nil {
		return nil, errClient(msgTaskDefNotFound)
	}
	fam, _, err := getJSON[events.FamilyRecord](ctx, kv, events.TaskDefFamilyKey(family))
	if err != nil {
		return nil, err
	}
	if fam == nil {
		return nil, errClient(msgTaskDefNotFound)
	}
	if rev == 0 {
		if rev, ok = fam.LatestActive(); !ok {
			return nil, errClient(msgTaskDefNotFound)
		}
	}
	status := fam.Status(rev)
	if status == "" {
		return nil, errClient(msgTaskDefNotFound)
	}
	cacheKey := family + ":" + strconv.Itoa(int(rev))
	t.mu.Lock()
	rec := t.revs[cacheKey]
	t.mu.Unlock()
	if rec == nil {
		if rec, _, err = getJSON[events.TaskDefRecord](ctx, kv, events.TaskDefRevisionKey(family, rev)); err != nil {
			return nil, err
		}
		if rec == nil {
			return nil, errClient(msgTaskDefNotFound)
		}
		t.mu.Lock()
		if t.revs == nil || len(t.revs) >= maxCachedTaskDefs {
			t.revs = map[string]*events.TaskDefRecord{}
		}
		t.revs[cacheKey] = rec
		t.mu.Unlock()
	}
	out := *rec
	out.TaskDefinition.Status = status
	return &out, nil
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
