package taskdefs

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natsutil"
)

// store reads and writes BucketTaskDefs. Every change that touches a
// revision's status goes through commit, which writes the family record and
// the revision record in one atomic batch with expected revisions.
type store struct {
	nc     *nats.Conn
	kv     jetstream.KeyValue
	bucket string
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

// write is one key of a commit: value v stored at key, expected at KV
// revision rev (0 = the key must not exist).
type write struct {
	key string
	v   any
	rev uint64
}

// commit writes all keys atomically, or none. A stale expected revision
// returns an error natsutil.IsConflict matches.
func (st *store) commit(ctx context.Context, ws ...write) error {
	kw := make([]natsutil.KVWrite, len(ws))
	for i, w := range ws {
		b, err := json.Marshal(w.v)
		if err != nil {
			return wrapStore("encode "+w.key, err)
		}
		kw[i] = natsutil.KVWrite{Bucket: st.bucket, Key: w.key, Value: b, Revision: w.rev}
	}
	if _, err := natsutil.CommitKV(ctx, st.nc, kw); err != nil {
		return wrapStore("commit", err)
	}
	return nil
}

// retry runs fn until it succeeds, fails with anything but a revision
// conflict, or ctx ends. Between attempts it waits a random time that grows
// with the attempt, so concurrent writers from any number of replicas spread
// out instead of colliding again. The first ceiling is of the order of one
// atomic batch commit on a single file-backed server (several ms: the server
// stages each batch in its own synced file store), since that is how long a
// racing winner holds the family record.
func retry(ctx context.Context, fn func() error) error {
	ceiling := 4 * time.Millisecond
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
