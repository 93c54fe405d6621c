package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
)

// errConflict: the record changed since it was read.
var errConflict = errors.New("supervisor: service record changed")

// store reads and writes events.BucketServices; every write expects the
// revision read.
type store struct {
	kv jetstream.KeyValue
}

// get returns the record at key and its revision (nil, 0 when absent).
func (s *store) get(ctx context.Context, key string) (*events.ServiceRecord, uint64, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get %s: %w", key, err)
	}
	var rec events.ServiceRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return nil, 0, fmt.Errorf("decode %s: %w", key, err)
	}
	return &rec, e.Revision(), nil
}

// put writes rec at key if its revision is still rev (0: the key must not
// exist). A lost race is errConflict.
func (s *store) put(ctx context.Context, key string, rec *events.ServiceRecord, rev uint64) (uint64, error) {
	data, err := json.Marshal(rec)
	if err != nil {
		return 0, err
	}
	var n uint64
	if rev == 0 {
		n, err = s.kv.Create(ctx, key, data)
	} else {
		n, err = s.kv.Update(ctx, key, data, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || isWrongSeq(err) {
		return 0, errConflict
	}
	if err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	return n, nil
}

func isWrongSeq(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// clone deep-copies a record.
func clone(rec *events.ServiceRecord) *events.ServiceRecord {
	data, _ := json.Marshal(rec)
	var out events.ServiceRecord
	_ = json.Unmarshal(data, &out)
	return &out
}

// cache mirrors the bucket, fed by a watch: ListServices, the counters and
// the resync loop read it.
type cache struct {
	mu   sync.Mutex
	recs map[string]cached
}

type cached struct {
	rec *events.ServiceRecord
	rev uint64
}

func newCache() *cache { return &cache{recs: map[string]cached{}} }

// put keeps rec at key unless the cache holds a newer revision.
func (c *cache) put(key string, rec *events.ServiceRecord, rev uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.recs[key]; ok && cur.rev >= rev {
		return
	}
	c.recs[key] = cached{rec: rec, rev: rev}
}

func (c *cache) del(key string, rev uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.recs[key]; ok && cur.rev < rev {
		delete(c.recs, key)
	}
}

// list returns the records matching keep, sorted by key.
func (c *cache) list(keep func(key string, rec *events.ServiceRecord) bool) []cached {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []cached
	keys := make([]string, 0, len(c.recs))
	for k, v := range c.recs {
		if keep(k, v.rec) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = append(out, c.recs[k])
	}
	return out
}

// watch feeds the cache until ctx ends; ready is closed once the initial
// values are in.
func (c *cache) watch(ctx context.Context, kv jetstream.KeyValue, ready chan<- struct{}) error {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", events.BucketServices.Name, err)
	}
	defer func() { _ = w.Stop() }()
	once := sync.OnceFunc(func() { close(ready) })
	defer once()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("services watch closed")
			}
			if e == nil {
				once()
				continue
			}
			if e.Operation() != jetstream.KeyValuePut {
				c.del(e.Key(), e.Revision())
				continue
			}
			var rec events.ServiceRecord
			if json.Unmarshal(e.Value(), &rec) == nil {
				c.put(e.Key(), &rec, e.Revision())
			}
		}
	}
}
