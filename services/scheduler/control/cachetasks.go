package control

import (
	"bytes"
	"slices"
	"strings"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/jsonx"
	"github.com/berth-project/berth/internal/members"
)

// rawTask is a fed task record kept undecoded, at its revision.
type rawTask struct {
	raw []byte
	rev uint64
}

// putRawTask holds a fed task record back undecoded, and reports
// whether it did: with several replicas, most task writes are the other
// replicas' placements on instances outside this replica's shards, whose
// counts its placement does not read. Such records are decoded (and
// counted) when something reads every task or those counts: tasks,
// taskCounts of such an instance, a full snapshot, or a placement under
// another ownership.
func (c *cache) putRawTask(cluster, id string, raw []byte, rev uint64) bool {
	o := c.ownership()
	if o.All {
		return false
	}
	inst := taskInstanceID(raw)
	if inst == "" || o.Shards[members.ShardOf(inst)] {
		return false
	}
	cc := c.cluster(cluster)
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := cc.tasks[id]; cur != nil && cur.rev >= rev {
		return true
	}
	if held, ok := cc.rawTasks[id]; ok && held.rev >= rev {
		return true
	}
	if cc.rawOf != o && len(cc.rawTasks) > 0 {
		c.flushTasksLocked(cc)
	}
	cc.rawOf = o
	cc.rawTasks[id] = rawTask{raw: raw, rev: rev}
	return true
}

// instanceIDKey starts a task record's containerInstanceId as
// encoding/json writes it, in a record or in its summary (a feed digest's
// form). Only strings and numbers come before it (in a record id, arn,
// cluster, clusterArn, taskDefinitionArn, family, revision; in a summary
// id, family, startedBy, group), and inside a JSON string every quote is
// escaped, so its first occurrence is the field itself.
var instanceIDKey = []byte(`"containerInstanceId":"`)

// taskInstanceID returns the containerInstanceId of an encoded task
// record without decoding it ("" when it has none).
func taskInstanceID(raw []byte) string {
	i := bytes.Index(raw, instanceIDKey)
	if i < 0 {
		return ""
	}
	rest := raw[i+len(instanceIDKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// flushTasksLocked decodes and counts every held-back task record. Lock
// held for writing.
func (c *cache) flushTasksLocked(cc *clusterCache) {
	for id, held := range cc.rawTasks {
		delete(cc.rawTasks, id)
		var sum taskSummary
		if err := jsonx.Unmarshal(held.raw, &sum); err != nil {
			c.log.Error("bad task record", "task_id", id, "err", err)
			continue
		}
		cc.putTaskSummaryLocked(sum, held.rev)
	}
}

// putTask stores a task record this replica wrote at rev.
func (c *cache) putTask(t *events.TaskRecord, rev uint64) {
	c.putTaskSummary(t.Cluster, summarize(t), rev)
}

func (c *cache) putTaskSummary(cluster string, sum taskSummary, rev uint64) {
	cc := c.cluster(cluster)
	c.mu.Lock()
	defer c.mu.Unlock()
	cc.putTaskSummaryLocked(sum, rev)
}

// putTaskSummaryLocked stores sum at rev unless the cache holds a newer
// version, decoded or not. Lock held for writing.
func (cc *clusterCache) putTaskSummaryLocked(sum taskSummary, rev uint64) {
	if held, ok := cc.rawTasks[sum.ID]; ok {
		if held.rev > rev {
			return
		}
		delete(cc.rawTasks, sum.ID)
	}
	cur := cc.tasks[sum.ID]
	if cur != nil && cur.rev >= rev {
		return
	}
	if cur != nil {
		cc.count(&cur.taskSummary, -1)
	}
	cc.tasks[sum.ID] = &taskEntry{rev: rev, taskSummary: sum}
	cc.count(&sum, 1)
}

// count adds d times t's contribution to its instance's counts.
func (cc *clusterCache) count(t *taskSummary, d int) {
	n := cc.counts[t.ContainerInstanceID]
	if n == nil {
		n = &instCounts{}
		cc.counts[t.ContainerInstanceID] = n
	}
	before := *n
	n.add(t, d)
	if *n != before {
		cc.snap = nil
	}
}

func (c *cache) removeTask(cluster, id string, rev uint64) {
	cc := c.cluster(cluster)
	c.mu.Lock()
	defer c.mu.Unlock()
	if held, ok := cc.rawTasks[id]; ok && held.rev < rev {
		delete(cc.rawTasks, id)
	}
	if cur := cc.tasks[id]; cur != nil && cur.rev < rev {
		cc.count(&cur.taskSummary, -1)
		delete(cc.tasks, id)
	}
}

// flushTasks decodes the cluster's held-back task records, if any; when
// instance is set, only if its counts may lag (it is not one of this
// replica's shards, or the shards moved since the records were held).
func (c *cache) flushTasks(cc *clusterCache, instance string) {
	c.mu.RLock()
	n, of := len(cc.rawTasks), cc.rawOf
	c.mu.RUnlock()
	if n == 0 {
		return
	}
	if instance != "" {
		if o := c.ownership(); o == of && o.OwnsKey(instance) {
			return
		}
	}
	c.mu.Lock()
	c.flushTasksLocked(cc)
	c.mu.Unlock()
}

// taskCounts returns an instance's pending and running task counts as
// DescribeContainerInstances shows them: without Fargate tasks.
func (c *cache) taskCounts(cluster, id string) (pending, running int) {
	cc := c.cluster(cluster)
	c.flushTasks(cc, id)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if n := cc.counts[id]; n != nil {
		return n.pending - n.fargatePending, n.running - n.fargateRunning
	}
	return 0, 0
}

// running returns how many of an instance's tasks run (Fargate ones
// included), as the placement view counts them.
func (c *cache) running(cluster, id string) int {
	cc := c.cluster(cluster)
	c.flushTasks(cc, id)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if n := cc.counts[id]; n != nil {
		return n.running
	}
	return 0
}

// tasks returns copies of the cluster's cached task summaries that keep
// returns true for, sorted by id.
func (c *cache) tasks(cluster string, keep func(*taskEntry) bool) []taskEntry {
	cc := c.cluster(cluster)
	c.flushTasks(cc, "")
	c.mu.RLock()
	out := make([]taskEntry, 0, len(cc.tasks))
	for _, t := range cc.tasks {
		if keep == nil || keep(t) {
			out = append(out, *t)
		}
	}
	c.mu.RUnlock()
	slices.SortFunc(out, func(a, b taskEntry) int { return strings.Compare(a.ID, b.ID) })
	return out
}
