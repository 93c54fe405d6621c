package control

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

// Placement shards. The container instances of a cluster are split into
// numShards shards by a hash of their id, and the shards among the live
// replicas listed in events.BucketSchedMembers by rendezvous hashing: a
// shard belongs to the replica with the highest score for it, so a replica
// joining or leaving moves only its own share. A replica places a request
// onto the instances of its shards first and onto the whole cluster only
// when the request does not fit there (place.go), so replicas compete for
// an instance's revision only then. Ownership is a preference, not a lock:
// two replicas that disagree for a moment (one has not yet seen another
// join or leave) lose some compare-and-set races, and the expected
// revisions keep every commit safe.

// numShards is the number of placement shards of every cluster.
const numShards = 256

// members tracks the live replicas and this replica's shards.
type members struct {
	id       string
	kv       jetstream.KeyValue
	interval time.Duration // how often this replica re-writes its key
	window   time.Duration // a replica not heard of for this long is gone
	now      func() time.Time
	log      *slog.Logger

	mu   sync.Mutex
	seen map[string]time.Time // replica id -> when its key was last written

	own atomic.Pointer[ownership]
}

// ownership is this replica's share at one moment.
type ownership struct {
	// all is true when this replica is the only live one: it places onto
	// the whole cluster at once, with the strategies' exact semantics.
	all    bool
	live   int
	shards [numShards]bool
}

// startMembers writes this replica's key, loads the live replicas and
// keeps both current until ctx ends; stop deletes the key.
func (s *Service) startMembers(ctx, bctx context.Context, bg *background) (*members, error) {
	kv, err := natsutil.EnsureKV(ctx, s.js, events.BucketSchedMembers, s.cfg.Replicas)
	if err != nil {
		return nil, err
	}
	m := &members{
		id: ids.Hex32(), kv: kv, interval: s.cfg.MemberInterval, window: 3 * s.cfg.MemberInterval,
		now: time.Now, log: s.log, seen: map[string]time.Time{},
	}
	m.seen[m.id] = m.now()
	m.recompute()
	if err := m.announce(ctx); err != nil {
		return nil, err
	}
	w, err := kv.WatchAll(bctx)
	if err != nil {
		return nil, fmt.Errorf("control: watch %s: %w", events.BucketSchedMembers.Name, err)
	}
	if err := m.load(ctx, w); err != nil {
		_ = w.Stop()
		return nil, err
	}
	bg.goRun(func() { m.run(bctx, w) })
	bg.stops = append(bg.stops, m.leave)
	return m, nil
}

// announce writes this replica's key.
func (m *members) announce(ctx context.Context) error {
	v, err := jsonx.Marshal(events.SchedMember{ID: m.id, StartedAt: m.now().UTC()})
	if err != nil {
		return err
	}
	if _, err := m.kv.Put(ctx, events.SchedMemberKey(m.id), v); err != nil {
		return fmt.Errorf("control: announce replica: %w", err)
	}
	return nil
}

// leave deletes this replica's key, so the others take its shards at once.
func (m *members) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := m.kv.Delete(ctx, events.SchedMemberKey(m.id)); err != nil {
		m.log.Warn("leave replica list", "err", err)
	}
}

// load applies the watch's initial values (every key written in the last
// TTL) until the end-of-initial-values marker.
func (m *members) load(ctx context.Context, w jetstream.KeyWatcher) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("control: replica watch closed")
			}
			if e == nil {
				m.recompute()
				return nil
			}
			m.apply(e)
		}
	}
}

// run re-writes this replica's key every interval, follows the others'
// and re-computes the shares when a replica joins, leaves or goes silent.
func (m *members) run(ctx context.Context, w jetstream.KeyWatcher) {
	defer func() { _ = w.Stop() }()
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
		case e, ok := <-w.Updates():
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
func (m *members) apply(e jetstream.KeyValueEntry) bool {
	id, ok := strings.CutPrefix(e.Key(), events.SchedMemberKey(""))
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
func (m *members) recompute() {
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
	o := shareOf(m.id, live)
	// The same share keeps its pointer: the cache compares ownerships by
	// pointer to know when the shards moved.
	if prev := m.own.Load(); prev == nil || prev.all != o.all || prev.live != o.live || prev.shards != o.shards {
		m.log.Info("placement shards", "replica", m.id, "live", o.live, "owned", o.count())
		m.own.Store(o)
	}
}

// shareOf computes the shards of replica self among live (which holds
// self) by rendezvous hashing.
func shareOf(self string, live []string) *ownership {
	o := &ownership{live: len(live), all: len(live) <= 1}
	seeds := make([]uint64, len(live))
	for i, id := range live {
		seeds[i] = hashString(id)
	}
	for sh := range numShards {
		best, owner := uint64(0), ""
		for i, id := range live {
			if sc := mix(seeds[i] ^ uint64(sh)*0x9e3779b97f4a7c15); owner == "" || sc > best {
				best, owner = sc, id
			}
		}
		o.shards[sh] = owner == self
	}
	return o
}

func (o *ownership) count() int {
	n := 0
	for _, b := range o.shards {
		if b {
			n++
		}
	}
	return n
}

// current returns this replica's share (all of it before the list is
// known, and without a list at all).
func (m *members) current() *ownership {
	if m == nil {
		return &ownership{all: true, live: 1}
	}
	if o := m.own.Load(); o != nil {
		return o
	}
	return &ownership{all: true, live: 1}
}

// shardOf is the shard of instance id.
func shardOf(id string) int { return int(hashString(id) % numShards) }

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
