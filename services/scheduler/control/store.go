package control

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/jsonx"
	"github.com/berth-project/berth/internal/natsutil"
)

// maxAttempts bounds the read-modify-write retries of one change. Each lost
// attempt means another replica committed in between, so a few suffice.
const maxAttempts = 32

// errTooMuchContention is returned when a key kept changing under a write.
var errTooMuchContention = errors.New("control: key kept changing; giving up")

// getJSON reads key and decodes it into a new T. It returns nil and revision
// 0 when the key does not exist (or was deleted).
func getJSON[T any](ctx context.Context, kv jetstream.KeyValue, key string) (*T, uint64, error) {
	return getDecoded(ctx, kv, key, func(b []byte) (*T, error) {
		v := new(T)
		return v, jsonx.Unmarshal(b, v)
	})
}

// getDecoded reads key and decodes it with decode, like getJSON.
func getDecoded[T any](ctx context.Context, kv jetstream.KeyValue, key string, decode func([]byte) (*T, error)) (*T, uint64, error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get %s: %w", key, err)
	}
	v, err := decode(e.Value())
	if err != nil {
		return nil, 0, fmt.Errorf("decode %s: %w", key, err)
	}
	return v, e.Revision(), nil
}

// modifyJSON is an optimistic read-modify-write of one key. It reads the
// key, calls fn with the current value (nil when absent) and writes what fn
// returns with a revision check: Create when the key was absent, Update with
// the read revision otherwise. When another writer got there first it reads
// again and calls fn again, so fn must be a pure function of its input. If
// fn returns nil, nothing is written and the current value is returned
// (written reports false). An error from fn is returned as is.
func modifyJSON[T any](ctx context.Context, kv jetstream.KeyValue, key string, fn func(cur *T) (*T, error)) (v *T, written bool, err error) {
	for range maxAttempts {
		cur, rev, err := getJSON[T](ctx, kv, key)
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
		data, err := jsonx.Marshal(next)
		if err != nil {
			return nil, false, fmt.Errorf("encode %s: %w", key, err)
		}
		if rev == 0 {
			_, err = kv.Create(ctx, key, data)
		} else {
			_, err = kv.Update(ctx, key, data, rev)
		}
		if natsutil.IsConflict(err) {
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("write %s: %w", key, err)
		}
		return next, true, nil
	}
	return nil, false, fmt.Errorf("%s: %w", key, errTooMuchContention)
}

// allJSON returns the current value of every key of the bucket, read with
// one watcher (an ordered consumer) rather than a request per key.
func allJSON[T any](ctx context.Context, kv jetstream.KeyValue) ([]*T, error) {
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", kv.Bucket(), err)
	}
	defer func() { _ = w.Stop() }()
	var out []*T
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("watch %s: closed", kv.Bucket())
			}
			if e == nil { // every current value has been delivered
				return out, nil
			}
			v := new(T)
			if err := jsonx.Unmarshal(e.Value(), v); err != nil {
				return nil, fmt.Errorf("decode %s: %w", e.Key(), err)
			}
			out = append(out, v)
		}
	}
}

// clusterStore reads and writes events.BucketClusters.
type clusterStore struct {
	kv jetstream.KeyValue
}

// get returns the cluster named name, or nil when there is none.
func (s *clusterStore) get(ctx context.Context, name string) (*events.ClusterRecord, error) {
	c, _, err := getJSON[events.ClusterRecord](ctx, s.kv, events.ClusterKey(name))
	return c, err
}

// modify changes cluster name with modifyJSON.
func (s *clusterStore) modify(ctx context.Context, name string, fn func(cur *events.ClusterRecord) (*events.ClusterRecord, error)) (*events.ClusterRecord, bool, error) {
	return modifyJSON(ctx, s.kv, events.ClusterKey(name), fn)
}

// all returns every cluster record, ACTIVE or not, in no particular order.
func (s *clusterStore) all(ctx context.Context) ([]*events.ClusterRecord, error) {
	return allJSON[events.ClusterRecord](ctx, s.kv)
}
