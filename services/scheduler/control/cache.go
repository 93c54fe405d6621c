package control

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/jsonx"
	"github.com/berth-project/berth/internal/members"
	"github.com/berth-project/berth/scheduler"
)

// cache is one replica's in-memory copy of the instance and task records of
// events.BucketECSState, loaded by a KV watch and kept current by the feed
// (feed.go), so placement on a thousand instances reads memory instead of a
// thousand keys. It may lag the bucket:
// every commit carries the revisions it was computed from, so a stale entry
// costs a conflict and a refresh, never a wrong write. Writes this replica
// commits are applied at once (read-your-writes); the feed later brings
// the same revision, which is ignored, since an entry never moves back to
// an older revision.
//
// Instance records fed from the bucket are kept undecoded until read
// (instEntry.raw, and the placement deltas the feed announces on top of
// them, instdelta.go): with several replicas, most instance writes are the
// other replicas' placements on their own shards, which this replica's
// placement does not read. A placement snapshot decodes only the instances
// of this replica's shards and keeps the last decoded version of the
// others (a stale revision costs a conflict if it ever places there);
// every other read decodes what it returns.
//
// Lock order: cache.mu, then background.mu (when a committer starts).
type cache struct {
	mu       sync.RWMutex
	clusters map[string]*clusterCache
	// members is this replica's share of the placement shards, once
	// known (nil: it owns every instance).
	members atomic.Pointer[members.Members]
	log     *slog.Logger
}

// clusterCache is the cached state of one cluster.
type clusterCache struct {
	instances map[string]*instEntry
	tasks     map[string]*taskEntry
	// counts are the running and pending tasks per instance id, derived
	// from the task records.
	counts map[string]*instCounts
	// rawTasks are fed task records not decoded yet (see putRawTask),
	// held back under ownership rawOf.
	rawTasks map[string]rawTask
	rawOf    *members.Ownership
	// snap is the placement snapshot, rebuilt when an instance or a count
	// changed.
	snap *snapshot
	// last is the snapshot built last (snap, or what snap was before it
	// was invalidated): a rebuild converts only the records that changed.
	last *snapshot
	// committer coalesces this replica's instance-changing commits in the
	// cluster; started on first use.
	committer *committer
}

// instCounts are an instance's tasks by phase: pending (PROVISIONING,
// PENDING, ACTIVATING) and running (RUNNING); later states count as neither.
// The fargate counts are the part of them that are Fargate tasks, which
// the instance holds resources for but does not show.
type instCounts struct{ pending, running, fargatePending, fargateRunning int }

func (n *instCounts) add(t *taskSummary, d int) {
	fargate := t.LaunchType == launchTypeFargate
	switch r := events.TaskStatusRank(t.LastStatus); {
	case r == 0:
	case r < events.TaskStatusRank(events.TaskRunning):
		n.pending += d
		if fargate {
			n.fargatePending += d
		}
	case r == events.TaskStatusRank(events.TaskRunning):
		n.running += d
		if fargate {
			n.fargateRunning += d
		}
	}
}

// instEntry is one cached instance record with its KV revision, and
// possibly a newer version not decoded yet. Entries are replaced, never
// modified: snapshots hold on to them.
type instEntry struct {
	rec *events.InstanceRecord // decoded, at rev
	rev uint64
	// The newer version at rawRev (> rev), when there is one: raw, the
	// record as fed, or rec (or raw when set) with delta applied.
	raw    []byte
	delta  *instanceDelta
	rawRev uint64
}

// newest is the latest revision the entry knows of.
func (e *instEntry) newest() uint64 { return max(e.rev, e.rawRev) }

// pending reports whether the entry holds a newer version not decoded yet.
func (e *instEntry) pending() bool { return e.raw != nil || e.delta != nil }

// taskEntry is the part of a task record that listing, counting and the
// janitor need, with its KV revision.
type taskEntry struct {
	rev uint64
	taskSummary
}

// taskSummary decodes only the fields of an events.TaskRecord the cache
// keeps.
type taskSummary struct {
	ID                  string     `json:"id"`
	Family              string     `json:"family"`
	StartedBy           string     `json:"startedBy"`
	Group               string     `json:"group"`
	ContainerInstanceID string     `json:"containerInstanceId"`
	LaunchType          string     `json:"launchType"`
	LastStatus          string     `json:"lastStatus"`
	DesiredStatus       string     `json:"desiredStatus"`
	Holding             bool       `json:"holding"`
	Held                heldSum    `json:"held"`
	ClientToken         string     `json:"clientToken"`
	StoppingAt          *time.Time `json:"stoppingAt"`
	StoppedAt           *time.Time `json:"stoppedAt"`
}

type heldSum struct {
	CPU      int64 `json:"cpu"`
	Memory   int64 `json:"memory"`
	TCPPorts []int `json:"tcpPorts"`
	UDPPorts []int `json:"udpPorts"`
}

func summarize(t *events.TaskRecord) taskSummary {
	return taskSummary{
		ID: t.ID, Family: t.Family, StartedBy: t.StartedBy, Group: t.Group,
		ContainerInstanceID: t.ContainerInstanceID, LaunchType: t.LaunchType,
		LastStatus: t.LastStatus, DesiredStatus: t.DesiredStatus, Holding: t.Holding,
		Held:        heldSum{CPU: t.Held.CPU, Memory: t.Held.Memory, TCPPorts: t.Held.TCPPorts, UDPPorts: t.Held.UDPPorts},
		ClientToken: t.ClientToken, StoppingAt: t.StoppingAt, StoppedAt: t.StoppedAt,
	}
}

// snapshot is an immutable placement view of a cluster's instances, sorted
// by id; the scheduler package never modifies its input, so concurrent
// calls share it.
type snapshot struct {
	insts   []scheduler.Instance
	recs    []*events.InstanceRecord
	revs    []uint64
	running []int
	// fresh is false when some instance outside this replica's shards
	// (of) has a newer record than the snapshot shows.
	fresh bool
	of    *members.Ownership
}

func newCache(log *slog.Logger) *cache {
	return &cache{clusters: map[string]*clusterCache{}, log: log}
}

// ownership returns this replica's share of the placement shards.
func (c *cache) ownership() *members.Ownership { return c.members.Load().Current() }

// cluster returns the cached state of cluster name, creating it.
func (c *cache) cluster(name string) *clusterCache {
	c.mu.RLock()
	cc := c.clusters[name]
	c.mu.RUnlock()
	if cc != nil {
		return cc
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cc = c.clusters[name]; cc == nil {
		cc = &clusterCache{instances: map[string]*instEntry{}, tasks: map[string]*taskEntry{}, counts: map[string]*instCounts{}, rawTasks: map[string]rawTask{}}
		c.clusters[name] = cc
	}
	return cc
}

// load fills the cache with every instance and task record of the bucket,
// with a watch that stops once it has delivered them (the feed keeps the
// cache current from then on).
func (c *cache) load(ctx context.Context, kv jetstream.KeyValue, log *slog.Logger) error {
	w, err := kv.WatchFiltered(ctx, []string{recordsFilter})
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("control: state watch closed while loading")
			}
			if e == nil {
				return nil
			}
			c.apply(feedEntry{key: e.Key(), rev: e.Revision(), del: e.Operation() != jetstream.KeyValuePut, val: e.Value()}, log)
		}
	}
}

// recordsFilter is the one key filter of the cache's watch and of the
// relay: it matches the instance and task records (inst.<cluster>.<id>,
// task.<cluster>.<id>) and the few three-token index keys (iid, tok, set),
// which their readers skip, but not the four-token assignments. One filter
// rather than "inst.>" and "task.>": for a consumer with several filters
// nats-server walks the message block's subject tree to find each next
// message once the consumer is behind (fileStore.LoadNextMsgMulti), which
// cost 7 % of a one-replica scheduler's CPU under load (BENCHMARKS.md).
const recordsFilter = "*.*.*"

// recordKey reports whether key, matched by recordsFilter, is an instance
// or task record rather than an index key.
func recordKey(key string) bool {
	return strings.HasPrefix(key, "inst.") || strings.HasPrefix(key, "task.")
}

// apply folds one write of the bucket (a delete, a value or a placement
// delta) into the cache. It returns false only for a delta whose base the
// cache does not hold: the caller reads the record instead.
func (c *cache) apply(e feedEntry, log *slog.Logger) bool {
	if !recordKey(e.key) {
		return true
	}
	kind, cluster, id, ok := splitStateKey(e.key)
	if !ok {
		return true
	}
	if !e.del && c.has(kind, cluster, id, e.rev) {
		// This replica's own commit, already cached when it landed: no
		// need to decode it again.
		return true
	}
	switch kind {
	case "inst":
		switch {
		case e.del:
			c.removeInstance(cluster, id, e.rev)
		case e.delta != nil:
			d, err := decodeDelta(e.delta)
			if err != nil {
				log.Error("bad instance delta", "key", e.key, "err", err)
				return false
			}
			return c.putDelta(cluster, id, d, e.rev)
		case c.putRaw(cluster, id, e.val, e.rev):
			// kept undecoded until read
		default:
			rec, err := decodeInstance(e.val)
			if err != nil {
				log.Error("bad instance record", "key", e.key, "err", err)
				return true
			}
			c.putInstance(rec, e.rev)
		}
	case "task":
		if e.del {
			c.removeTask(cluster, id, e.rev)
			return true
		}
		if c.putRawTask(cluster, id, e.val, e.rev) {
			return true
		}
		var sum taskSummary
		if err := jsonx.Unmarshal(e.val, &sum); err != nil {
			log.Error("bad task record", "key", e.key, "err", err)
			return true
		}
		c.putTaskSummary(cluster, sum, e.rev)
	}
	return true
}

// has reports whether the cache already holds the record of kind at rev
// or newer.
func (c *cache) has(kind, cluster, id string, rev uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	cc := c.clusters[cluster]
	if cc == nil {
		return false
	}
	switch kind {
	case "inst":
		cur := cc.instances[id]
		return cur != nil && cur.newest() >= rev
	case "task":
		cur := cc.tasks[id]
		raw, held := cc.rawTasks[id]
		return (cur != nil && cur.rev >= rev) || (held && raw.rev >= rev)
	}
	return false
}

// splitStateKey parses inst.<cluster>.<id> and task.<cluster>.<id>.
func splitStateKey(key string) (kind, cluster, id string, ok bool) {
	parts := strings.Split(key, ".")
	if len(parts) != 3 {
		return "", "", "", false
	}
	name, err := events.ParseToken(parts[1])
	if err != nil {
		return "", "", "", false
	}
	return parts[0], name, parts[2], true
}

// putInstance stores rec at rev unless the cache already has a newer one
// (a fed version at rev, not decoded yet, is replaced by rec).
func (c *cache) putInstance(rec *events.InstanceRecord, rev uint64) {
	cc := c.cluster(rec.Cluster)
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := cc.instances[rec.ID]; cur != nil && (cur.rev >= rev || cur.rawRev > rev) {
		return
	}
	cc.instances[rec.ID] = &instEntry{rec: rec, rev: rev}
	cc.snap = nil
}

// putRaw keeps a fed instance record at rev undecoded, and reports
// whether it did (not for an instance the cache does not hold yet). On
// this replica's shards the record is often its own write, which its
// commit is about to cache decoded; elsewhere it is another replica's,
// which placement here does not read.
func (c *cache) putRaw(cluster, id string, raw []byte, rev uint64) bool {
	owned := c.ownership().OwnsKey(id)
	cc := c.cluster(cluster)
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := cc.instances[id]
	if cur == nil {
		return false
	}
	if cur.newest() >= rev {
		return true
	}
	cc.setFedLocked(id, &instEntry{rec: cur.rec, rev: cur.rev, raw: raw, rawRev: rev}, owned)
	return true
}

// setFedLocked stores a fed entry of id, and drops the placement snapshot
// when id is on this replica's shards (owned) or the snapshot is current
// everywhere: elsewhere placement may keep an older version. Lock held
// for writing.
func (cc *clusterCache) setFedLocked(id string, e *instEntry, owned bool) {
	cc.instances[id] = e
	if owned || (cc.snap != nil && cc.snap.fresh) {
		cc.snap = nil
	}
}

// putDelta keeps a fed placement delta at rev on top of the version it
// was made from, and reports whether the cache holds that version (a
// delta at a revision the cache has reached already counts as held).
// On this replica's shards the delta is applied at once; elsewhere it
// waits until read, like a raw record (putRaw), so that the placement
// snapshot outlives the other replicas' placements.
func (c *cache) putDelta(cluster, id string, d *instanceDelta, rev uint64) bool {
	owned := c.ownership().OwnsKey(id)
	cc := c.cluster(cluster)
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := cc.instances[id]
	switch {
	case cur != nil && cur.newest() >= rev:
		return true
	case cur == nil || cur.newest() != d.Base:
		return false
	case owned && !cur.pending():
		cc.setFedLocked(id, &instEntry{rec: d.apply(cur.rec), rev: rev}, owned)
	default:
		// A later delta replaces every field of an earlier one.
		cc.setFedLocked(id, &instEntry{rec: cur.rec, rev: cur.rev, raw: cur.raw, delta: d, rawRev: rev}, owned)
	}
	return true
}

// decodeLocked returns the entry of id with its newest version decoded.
// A record that does not decode is logged and its older version kept.
// Lock held for writing.
func (c *cache) decodeLocked(cc *clusterCache, id string, e *instEntry) *instEntry {
	if !e.pending() {
		return e
	}
	rec := e.rec
	if e.raw != nil {
		var err error
		if rec, err = decodeInstance(e.raw); err != nil {
			c.log.Error("bad instance record", "container_instance_id", id, "err", err)
			e = &instEntry{rec: e.rec, rev: e.rev}
			cc.instances[id] = e
			return e
		}
	}
	if e.delta != nil {
		rec = e.delta.apply(rec)
	}
	e = &instEntry{rec: rec, rev: e.rawRev}
	cc.instances[id] = e
	return e
}

func (c *cache) removeInstance(cluster, id string, rev uint64) {
	cc := c.cluster(cluster)
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := cc.instances[id]; cur != nil && cur.newest() < rev {
		delete(cc.instances, id)
		cc.snap = nil
	}
}

// instance returns a cached instance record and its revision.
func (c *cache) instance(cluster, id string) (*events.InstanceRecord, uint64, bool) {
	cc := c.cluster(cluster)
	c.mu.RLock()
	e := cc.instances[id]
	c.mu.RUnlock()
	if e == nil {
		return nil, 0, false
	}
	if e.pending() {
		c.mu.Lock()
		if e = cc.instances[id]; e != nil {
			e = c.decodeLocked(cc, id, e)
		}
		c.mu.Unlock()
		if e == nil {
			return nil, 0, false
		}
	}
	return e.rec, e.rev, true
}

// instanceRev returns the newest revision the cache knows of instance id,
// decoded or not.
func (c *cache) instanceRev(cluster, id string) (uint64, bool) {
	cc := c.cluster(cluster)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e := cc.instances[id]; e != nil {
		return e.newest(), true
	}
	return 0, false
}

// instances returns the cluster's cached instance records sorted by id.
func (c *cache) instances(cluster string) []*events.InstanceRecord {
	return c.snapshot(cluster).recs
}

// snapshot returns the cluster's instances as they stand in the cache,
// rebuilding the view when an instance changed since the last call.
func (c *cache) snapshot(cluster string) *snapshot {
	return c.view(cluster, nil)
}

// placeSnapshot returns the cluster's placement view for this replica:
// current on its own shards, possibly stale elsewhere.
func (c *cache) placeSnapshot(cluster string) *snapshot {
	return c.view(cluster, c.ownership())
}

// view returns a snapshot current on the instances of o's shards (every
// instance when o is nil or owns all).
func (c *cache) view(cluster string, o *members.Ownership) *snapshot {
	if o != nil && o.All {
		o = nil
	}
	usable := func(s *snapshot) bool { return s != nil && (s.fresh || (o != nil && s.of == o)) }
	cc := c.cluster(cluster)
	c.mu.RLock()
	snap := cc.snap
	c.mu.RUnlock()
	if usable(snap) {
		return snap
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(cc.rawTasks) > 0 && (o == nil || cc.rawOf != o) {
		c.flushTasksLocked(cc)
	}
	if usable(cc.snap) {
		return cc.snap
	}
	ids := cc.sortedIDs()
	snap = &snapshot{
		insts:   make([]scheduler.Instance, len(ids)),
		recs:    make([]*events.InstanceRecord, len(ids)),
		revs:    make([]uint64, len(ids)),
		running: make([]int, len(ids)),
		fresh:   true,
		of:      o,
	}
	last := cc.last
	if last != nil && len(last.recs) != len(ids) {
		last = nil
	}
	for i, id := range ids {
		e := cc.instances[id]
		if e.pending() {
			if o == nil || o.Shards[members.ShardOf(id)] {
				e = c.decodeLocked(cc, id, e)
			} else {
				snap.fresh = false
			}
		}
		running := 0
		if n := cc.counts[id]; n != nil {
			running = n.running
		}
		snap.recs[i], snap.revs[i], snap.running[i] = e.rec, e.rev, running
		if last != nil && last.recs[i] == e.rec && last.running[i] == running {
			snap.insts[i] = last.insts[i] // unchanged: no need to convert it again
			continue
		}
		snap.insts[i] = schedInstance(e.rec, running)
	}
	cc.last = snap
	cc.snap = snap
	return snap
}

// sortedIDs returns the cluster's instance ids in order: the last
// snapshot's when the set of instances is the same. Lock held.
func (cc *clusterCache) sortedIDs() []string {
	if last := cc.last; last != nil && len(last.recs) == len(cc.instances) {
		ids := make([]string, len(last.recs))
		same := true
		for i, r := range last.recs {
			if _, ok := cc.instances[r.ID]; !ok {
				same = false
				break
			}
			ids[i] = r.ID
		}
		if same {
			return ids
		}
	}
	ids := make([]string, 0, len(cc.instances))
	for id := range cc.instances {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// clusterNames returns the names of every cluster the cache knows.
func (c *cache) clusterNames() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.clusters))
	for n := range c.clusters {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// schedInstance is the placement view of an instance record. PendingTasks
// carries every task holding resources (what scheduler.Apply and Release
// count), RunningTasks the running ones (for the runningTasksCount query
// subject).
func schedInstance(r *events.InstanceRecord, running int) scheduler.Instance {
	attrs := make(map[string]string, len(r.Attributes))
	for _, a := range r.Attributes {
		attrs[a.Name] = a.Value
	}
	return scheduler.Instance{
		ID:               r.ID,
		ARN:              r.ARN,
		Status:           scheduler.InstanceStatus(r.Status),
		AgentConnected:   r.AgentConnected,
		Attributes:       attrs,
		RegisteredAt:     r.RegisteredAt,
		EC2InstanceID:    r.EC2InstanceID,
		AgentVersion:     agentVersion(r),
		RegisteredCPU:    r.RegisteredCPU,
		RegisteredMemory: r.RegisteredMemory,
		RemainingCPU:     r.RemainingCPU,
		RemainingMemory:  r.RemainingMemory,
		ReservedTCP:      scheduler.NewPortSet(r.ReservedTCP...),
		ReservedUDP:      scheduler.NewPortSet(r.ReservedUDP...),
		RunningTasks:     running,
		PendingTasks:     r.Tasks,
		Groups:           r.Groups,
	}
}

func agentVersion(r *events.InstanceRecord) string {
	if r.VersionInfo == nil {
		return ""
	}
	return r.VersionInfo.AgentVersion
}

// withSched copies the placement fields of in (after scheduler.Apply or
// Release) back into a copy of rec.
func withSched(rec *events.InstanceRecord, in scheduler.Instance) *events.InstanceRecord {
	next := *rec
	next.RemainingCPU = in.RemainingCPU
	next.RemainingMemory = in.RemainingMemory
	next.ReservedTCP = in.ReservedTCP.Sorted()
	next.ReservedUDP = in.ReservedUDP.Sorted()
	next.Tasks = in.PendingTasks
	next.Groups = in.Groups
	return &next
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
