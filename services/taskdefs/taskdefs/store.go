package taskdefs

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natsutil"
)

// store reads and writes BucketTaskDefs with single-key compare-and-set
// writes only (a multi-key atomic batch costs milliseconds on a single-node
// file store). The revision record is the truth about a revision (content,
// status, tags); the family record is an index over the family's revisions
// (highest revision, revisions by status). Every change writes the revision
// record first, as its commit point, then brings the index up to date with
// sync. An index that lags (a replica died between the two writes) is rolled
// forward by the next sync of that revision, by the next registration in the
// family, or by a reader that notices.
type store struct {
	kv jetstream.KeyValue
}

// familyEntry is a family record with the KV revision it was read at (0 when
// the family does not exist yet).
type familyEntry struct {
	rec *events.FamilyRecord
	rev uint64
}

// revisionEntry is a revision record with its KV revision.
type revisionEntry struct {
	rec *events.TaskDefRecord
	rev uint64
}

// family reads a family record; a missing family returns an empty record at
// KV revision 0, so a commit creates it.
func (st *store) family(ctx context.Context, family string) (familyEntry, error) {
	e, err := st.kv.Get(ctx, events.TaskDefFamilyKey(family))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return familyEntry{rec: &events.FamilyRecord{Family: family}}, nil
	}
	if err != nil {
		return familyEntry{}, wrapStore("read family "+family, err)
	}
	var rec events.FamilyRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return familyEntry{}, wrapStore("decode family "+family, err)
	}
	return familyEntry{rec: &rec, rev: e.Revision()}, nil
}

// revision reads one revision record; found is false when there is none.
func (st *store) revision(ctx context.Context, family string, revision int32) (revisionEntry, bool, error) {
	e, err := st.kv.Get(ctx, events.TaskDefRevisionKey(family, revision))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return revisionEntry{}, false, nil
	}
	if err != nil {
		return revisionEntry{}, false, wrapStore("read revision", err)
	}
	var rec events.TaskDefRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return revisionEntry{}, false, wrapStore("decode revision", err)
	}
	return revisionEntry{rec: &rec, rev: e.Revision()}, true, nil
}

// families reads every family record in one pass (an ordered consumer over
// the last value of each fam.> key).
func (st *store) families(ctx context.Context) ([]events.FamilyRecord, error) {
	w, err := st.kv.WatchFiltered(ctx, []string{events.TaskDefFamilyFilter}, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, wrapStore("watch families", err)
	}
	defer func() { _ = w.Stop() }()
	var out []events.FamilyRecord
	for {
		select {
		case <-ctx.Done():
			return nil, wrapStore("list families", ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, wrapStore("list families", errors.New("watcher closed"))
			}
			if e == nil {
				return out, nil
			}
			var rec events.FamilyRecord
			if err := json.Unmarshal(e.Value(), &rec); err != nil {
				return nil, wrapStore("decode family "+e.Key(), err)
			}
			out = append(out, rec)
		}
	}
}

// createRevision stores a new revision record; it fails with a conflict
// when the revision already exists.
func (st *store) createRevision(ctx context.Context, family string, revision int32, rec *events.TaskDefRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return wrapStore("encode revision", err)
	}
	if _, err := st.kv.Create(ctx, events.TaskDefRevisionKey(family, revision), b); err != nil {
		return wrapStore("create revision", err)
	}
	return nil
}

// updateRevision replaces a revision record read at KV revision rev.
func (st *store) updateRevision(ctx context.Context, family string, revision int32, rec *events.TaskDefRecord, rev uint64) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return wrapStore("encode revision", err)
	}
	if _, err := st.kv.Update(ctx, events.TaskDefRevisionKey(family, revision), b, rev); err != nil {
		return wrapStore("update revision", err)
	}
	return nil
}

// putFamily writes a family record read at KV revision rev (0: it must not
// exist yet).
func (st *store) putFamily(ctx context.Context, fam familyEntry) error {
	b, err := json.Marshal(fam.rec)
	if err != nil {
		return wrapStore("encode family", err)
	}
	key := events.TaskDefFamilyKey(fam.rec.Family)
	if fam.rev == 0 {
		_, err = st.kv.Create(ctx, key, b)
	} else {
		_, err = st.kv.Update(ctx, key, b, fam.rev)
	}
	if err != nil {
		return wrapStore("write family", err)
	}
	return nil
}

// sync brings the family index up to date with the revision record of
// `revision`: LastRevision covers it and it is listed under its current
// status. It reads the index before the revision record, so a successful
// compare-and-set never installs a status older than the record's: a writer
// that changes the record afterwards runs its own sync, which re-reads both.
func (st *store) sync(ctx context.Context, family string, revision int32) error {
	return retry(ctx, func() error {
		fam, err := st.family(ctx, family)
		if err != nil {
			return err
		}
		e, found, err := st.revision(ctx, family, revision)
		if err != nil || !found {
			return err
		}
		status := e.rec.TaskDefinition.Status
		if fam.rec.LastRevision >= revision && fam.rec.Status(revision) == status {
			return nil
		}
		fam.rec.LastRevision = max(fam.rec.LastRevision, revision)
		fam.rec.SetStatus(revision, status)
		return st.putFamily(ctx, fam)
	})
}

// index brings the family index up to date with a revision record just
// created with status, in one write: fam is the index as read before the
// create, so the compare-and-set succeeds only if nobody has written the
// index since, and then nobody can have indexed a newer status of the
// record either (a writer that changes the record writes the index after
// it). This is sync without its two reads; on a conflict it falls back to
// sync, which re-reads both. It changes fam.rec.
func (st *store) index(ctx context.Context, fam familyEntry, revision int32, status string) error {
	if fam.rec.LastRevision < revision || fam.rec.Status(revision) != status {
		fam.rec.LastRevision = max(fam.rec.LastRevision, revision)
		fam.rec.SetStatus(revision, status)
		err := st.putFamily(ctx, fam)
		if err == nil || !natsutil.IsConflict(err) {
			return err
		}
	}
	return st.sync(ctx, fam.rec.Family, revision)
}

// retry runs fn until it succeeds, fails with anything but a revision
// conflict, or ctx ends. Between attempts it waits a random time that grows
// with the attempt, so concurrent writers from any number of replicas spread
// out instead of colliding again.
func retry(ctx context.Context, fn func() error) error {
	ceiling := 200 * time.Microsecond
	for {
		err := fn()
		if err == nil || !natsutil.IsConflict(err) {
			return err
		}
		wait := time.Duration(rand.Int64N(int64(ceiling)) + int64(50*time.Microsecond))
		ceiling = min(2*ceiling, 64*time.Millisecond)
		select {
		case <-ctx.Done():
			return wrapStore("retry after conflict", errors.Join(ctx.Err(), err))
		case <-time.After(wait):
		}
	}
}
