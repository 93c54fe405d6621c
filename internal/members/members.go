package members

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/ids"
	"github.com/berth-project/berth/internal/jsonx"
	"github.com/berth-project/berth/internal/natsutil"
)

// NumShards is the number of shards the work is cut into.
const NumShards = 256

// Config configures Join.
type Config struct {
	// Bucket is the service's members bucket.
	Bucket events.BucketDef
	// Replicas is the JetStream replica count of the bucket.
	Replicas int
	// Interval is how often a replica re-writes its key (default 1 s); a
	// replica not heard of for three intervals is gone.
	Interval time.Duration
	// What names the shards in the log line of a new share.
	What string
	Log  *slog.Logger
}

// Members tracks the live replicas and this replica's shards.
type Members struct {
	id       string
	kv       jetstream.KeyValue
	w        jetstream.KeyWatcher
	interval time.Duration // how often this replica re-writes its key
	window   time.Duration // a replica not heard of for this long is gone
	what     string
	now      func() time.Time
	log      *slog.Logger

	mu   sync.Mutex
	seen map[string]time.Time // replica id -> when its key was last written

	own atomic.Pointer[Ownership]
}

// Ownership is this replica's share at one moment. A share that did not
// change keeps its pointer, so users compare shares by pointer.
type Ownership struct {
	// All is true when this replica is the only live one.
	All    bool
	Live   int
	Shards [NumShards]bool
}

// Owns reports whether shard is this replica's.
func (o *Ownership) Owns(shard int) bool { return o.All || o.Shards[shard] }

// OwnsKey reports whether the shard of key is this replica's.
func (o *Ownership) OwnsKey(key string) bool { return o.All || o.Shards[ShardOf(key)] }

// Count is the number of shards this replica owns.
func (o *Ownership) Count() int {
	if o.All {
		return NumShards
	}
	n := 0
	for _, b := range o.Shards {
		if b {
			n++
		}
	}
	return n
}

// Join writes this replica's key in the bucket (created if missing) and
// loads the live replicas; Start (or Run) keeps both current, Leave
// deletes the key.
func Join(ctx context.Context, js jetstream.JetStream, cfg Config) (*Members, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	kv, err := natsutil.EnsureKV(ctx, js, cfg.Bucket, cfg.Replicas)
	if err != nil {
		return nil, err
	}
	m := &Members{
		id: ids.Hex32(), kv: kv, interval: cfg.Interval, window: 3 * cfg.Interval, what: cfg.What,
		now: time.Now, log: cfg.Log, seen: map[string]time.Time{},
	}
	m.seen[m.id] = m.now()
	m.recompute()
	if err := m.announce(ctx); err != nil {
		return nil, err
	}
	// The watch outlives ctx (Join's deadline): Run stops it.
	if m.w, err = kv.WatchAll(context.WithoutCancel(ctx)); err != nil {
		return nil, fmt.Errorf("members: watch %s: %w", cfg.Bucket.Name, err)
	}
	if err := m.load(ctx); err != nil {
		_ = m.w.Stop()
		return nil, err
	}
	return m, nil
}

// Static returns members that own o and never change (tests).
func Static(o *Ownership) *Members {
	m := &Members{}
	m.own.Store(o)
	return m
}

// ID is this replica's id.
func (m *Members) ID() string { return m.id }

// announce writes this replica's key.
func (m *Members) announce(ctx context.Context) error {
	v, err := jsonx.Marshal(events.Member{ID: m.id, StartedAt: m.now().UTC()})
	if err != nil {
		return err
	}
	if _, err := m.kv.Put(ctx, events.MemberKey(m.id), v); err != nil {
		return fmt.Errorf("members: announce replica: %w", err)
	}
	return nil
}

// Leave deletes this replica's key, so the others take its shards at once.
func (m *Members) Leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := m.kv.Delete(ctx, events.MemberKey(m.id)); err != nil {
		m.log.Warn("leave replica list", "err", err)
	}
}

// load applies the watch's initial values (every key written in the last
// TTL) until the end-of-initial-values marker.
func (m *Members) load(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-m.w.Updates():
			if !ok {
				return errors.New("members: replica watch closed")
			}
			if e == nil {
				m.recompute()
				return nil
			}
			m.apply(e)
		}
	}
}

// Start runs Run until ctx ends or the returned stop is called; stop
// waits for Run to return, then leaves, so the key is not written again
// after it is deleted.
func (m *Members) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	return func() { cancel(); <-done; m.Leave() }
}

// Run re-writes this replica's key every interval, follows the others'
// and re-computes the share when a replica joins, leaves or goes silent,
// until ctx ends.
func (m *Members) Run(ctx context.Context) {
	defer func() { _ = m.w.Stop() }()
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.announce(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("announce replica", "err", err)
			}
			m.recompute()
		case e, ok := <-m.w.Updates():
			if !ok {
				return
			}
			if e != nil && m.apply(e) {
				m.recompute()
			}
		}
	}
}

// apply records one watched key; it reports whether the set of replicas
// changed.
func (m *Members) apply(e jetstream.KeyValueEntry) bool {
	id, ok := strings.CutPrefix(e.Key(), events.MemberKey(""))
	if !ok {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, known := m.seen[id]
	if e.Operation() != jetstream.KeyValuePut {
		if id == m.id {
			return false // this replica is live while it runs
		}
		delete(m.seen, id)
		return known
	}
	m.seen[id] = m.now()
	return !known
}

// recompute derives this replica's shards from the replicas heard of
// within the window.
func (m *Members) recompute() {
	now := m.now()
	m.mu.Lock()
	live := make([]string, 0, len(m.seen))
	for id, at := range m.seen {
		if id != m.id && now.Sub(at) > m.window {
			delete(m.seen, id)
			continue
		}
		live = append(live, id)
	}
	m.mu.Unlock()
	slices.Sort(live)
	o := ShareOf(m.id, live)
	if prev := m.own.Load(); prev == nil || prev.All != o.All || prev.Live != o.Live || prev.Shards != o.Shards {
		m.log.Info(m.what, "replica", m.id, "live", o.Live, "owned", o.Count())
		m.own.Store(o)
	}
}

// ShareOf computes the shards of replica self among live (which holds
// self) by rendezvous hashing.
func ShareOf(self string, live []string) *Ownership {
	o := &Ownership{Live: len(live), All: len(live) <= 1}
	seeds := make([]uint64, len(live))
	for i, id := range live {
		seeds[i] = hashString(id)
	}
	for sh := range NumShards {
		best, owner := uint64(0), ""
		for i, id := range live {
			if sc := mix(seeds[i] ^ uint64(sh)*0x9e3779b97f4a7c15); owner == "" || sc > best {
				best, owner = sc, id
			}
		}
		o.Shards[sh] = owner == self
	}
	return o
}

// Current returns this replica's share (all of it before the list is
// known, and without a list at all).
func (m *Members) Current() *Ownership {
	if m == nil {
		return &Ownership{All: true, Live: 1}
	}
	if o := m.own.Load(); o != nil {
		return o
	}
	return &Ownership{All: true, Live: 1}
}

// ShardOf is the shard of key.
func ShardOf(key string) int { return int(hashString(key) % NumShards) }

func hashString(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}

// mix is splitmix64's finaliser: it spreads the bits of x.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
