package control

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/members"
)

// sharedCache returns a cache of a replica that shares the shards with one
// other, an instance id of its own shards and one of the other's.
func sharedCache() (c *cache, mine, theirs string) {
	c = newCache(slog.New(slog.DiscardHandler))
	o := members.ShareOf("me", []string{"me", "other"})
	c.members.Store(members.Static(o))
	for i := 0; mine == "" || theirs == ""; i++ {
		id := fmt.Sprintf("%032x", i)
		if o.Shards[members.ShardOf(id)] {
			mine = id
		} else {
			theirs = id
		}
	}
	return c, mine, theirs
}

// cpuIn returns the remaining CPU and the revision of instance id in s.
func cpuIn(t *testing.T, s *snapshot, id string) (int64, uint64) {
	t.Helper()
	for i, r := range s.recs {
		if r.ID == id {
			return r.RemainingCPU, s.revs[i]
		}
	}
	t.Fatalf("%s not in the snapshot", id)
	return 0, 0
}

// TestCache_LazyInstanceDecode: another replica's write to an instance
// outside this replica's shards stays undecoded for placement (which keeps
// the version it had, with that version's revision), while every other
// read sees the newest version; a write on the replica's own shards is
// placed on at once; the replica's own commit at the watched revision
// replaces the undecoded copy; a record that does not decode keeps the
// older version.
func TestCache_LazyInstanceDecode(t *testing.T) {
	c, mine, theirs := sharedCache()
	rec := func(id string, cpu int64) *events.InstanceRecord {
		return &events.InstanceRecord{ID: id, Cluster: "c", Status: events.InstanceActive, RegisteredCPU: 1024, RemainingCPU: cpu}
	}
	raw := func(id string, cpu int64) []byte {
		b, err := json.Marshal(rec(id, cpu))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	c.putInstance(rec(mine, 1024), 1)
	c.putInstance(rec(theirs, 1024), 2)
	if !c.putRaw("c", theirs, raw(theirs, 512), 3) || !c.putRaw("c", mine, raw(mine, 256), 4) {
		t.Fatal("a watched write to a known instance was decoded at once")
	}
	if c.putRaw("c", "unknown", raw("unknown", 1), 5) {
		t.Fatal("an instance the cache did not hold was kept undecoded")
	}
	p := c.placeSnapshot("c")
	if cpu, rev := cpuIn(t, p, theirs); cpu != 1024 || rev != 2 {
		t.Fatalf("placement view of the other replica's instance: cpu %d rev %d, want the version it had (1024, 2)", cpu, rev)
	}
	if cpu, rev := cpuIn(t, p, mine); cpu != 256 || rev != 4 {
		t.Fatalf("placement view of an own instance: cpu %d rev %d, want (256, 4)", cpu, rev)
	}
	if rev, _ := c.instanceRev("c", theirs); rev != 3 {
		t.Fatalf("instanceRev %d, want the newest 3", rev)
	}
	if r, rev, _ := c.instance("c", theirs); r.RemainingCPU != 512 || rev != 3 {
		t.Fatalf("instance(): cpu %d rev %d, want (512, 3)", r.RemainingCPU, rev)
	}
	c.putRaw("c", theirs, raw(theirs, 128), 6)
	if cpu, rev := cpuIn(t, c.snapshot("c"), theirs); cpu != 128 || rev != 6 {
		t.Fatalf("full snapshot: cpu %d rev %d, want (128, 6)", cpu, rev)
	}

	// This replica's commit at the revision the watch brought first.
	c.putRaw("c", mine, raw(mine, 100), 7)
	own := rec(mine, 100)
	c.putInstance(own, 7)
	if r, rev, _ := c.instance("c", mine); r != own || rev != 7 {
		t.Fatalf("own commit at the watched revision not taken: rev %d", rev)
	}
	// An older write does not replace a newer undecoded one.
	c.putRaw("c", theirs, raw(theirs, 64), 9)
	c.putInstance(rec(theirs, 1), 8)
	if r, rev, _ := c.instance("c", theirs); r.RemainingCPU != 64 || rev != 9 {
		t.Fatalf("cpu %d rev %d, want (64, 9)", r.RemainingCPU, rev)
	}
	// A record that does not decode: the older version stays.
	c.putRaw("c", theirs, []byte("{not json"), 10)
	if r, rev, _ := c.instance("c", theirs); r.RemainingCPU != 64 || rev != 9 {
		t.Fatalf("after a bad record: cpu %d rev %d, want (64, 9)", r.RemainingCPU, rev)
	}
}

// TestCache_LazyTaskDecode: another replica's task write on an instance
// outside this replica's shards is held back undecoded, so placement's
// counts for that instance lag, while tasks, taskCounts of that instance
// and a full snapshot see it; a task on an own instance is counted at
// once; an older write never replaces a newer one.
func TestCache_LazyTaskDecode(t *testing.T) {
	c, mine, theirs := sharedCache()
	for i, id := range []string{mine, theirs} {
		c.putInstance(&events.InstanceRecord{ID: id, Cluster: "c", Status: events.InstanceActive}, uint64(i+1))
	}
	task := func(id, inst, status string) []byte {
		b, err := json.Marshal(&events.TaskRecord{
			ID: id, Cluster: "c", Family: "f", ContainerInstanceID: inst, LastStatus: status,
			// A user's value that looks like the field does not mislead.
			Overrides: &ecsapi.TaskOverride{ContainerOverrides: []ecsapi.ContainerOverride{{Name: `"containerInstanceId":"x`}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if got := taskInstanceID(task("t", theirs, events.TaskRunning)); got != theirs {
		t.Fatalf("taskInstanceID = %q, want %q", got, theirs)
	}
	// The summary a digest carries, with values that look like the field.
	sum := mustJSON(summarize(&events.TaskRecord{ID: "t", StartedBy: `"containerInstanceId":"x`, Group: `"containerInstanceId":"y`, ContainerInstanceID: theirs}))
	if got := taskInstanceID(sum); got != theirs {
		t.Fatalf("taskInstanceID of a summary = %q, want %q", got, theirs)
	}
	running := func(s *snapshot, id string) int {
		for i, r := range s.recs {
			if r.ID == id {
				return s.running[i]
			}
		}
		t.Fatalf("%s not in the snapshot", id)
		return 0
	}
	if c.putRawTask("c", "a", task("a", mine, events.TaskRunning), 10) {
		t.Fatal("a task on an own instance was held back")
	}
	c.putTaskSummary("c", taskSummary{ID: "a", ContainerInstanceID: mine, LastStatus: events.TaskRunning}, 10)
	if !c.putRawTask("c", "b", task("b", theirs, events.TaskRunning), 11) {
		t.Fatal("another replica's task on its own instance was decoded at once")
	}
	c.putRawTask("c", "b", task("b", theirs, events.TaskPending), 9) // older: ignored
	if !c.has("task", "c", "b", 11) {
		t.Fatal("has() does not see the held-back record")
	}
	p := c.placeSnapshot("c")
	if running(p, mine) != 1 || running(p, theirs) != 0 {
		t.Fatalf("placement view: running %d on own, %d on other's; want 1, 0 (lagging)", running(p, mine), running(p, theirs))
	}
	if _, r := c.taskCounts("c", theirs); r != 1 {
		t.Fatalf("taskCounts of the other's instance: running %d, want 1", r)
	}
	if !c.putRawTask("c", "b", task("b", theirs, events.TaskStopped), 12) {
		t.Fatal("not held back")
	}
	if s := c.snapshot("c"); running(s, theirs) != 0 {
		t.Fatalf("full snapshot: running %d on the other's instance after STOPPED, want 0", running(s, theirs))
	}
	c.putRawTask("c", "x", task("x", theirs, events.TaskRunning), 13)
	if got := len(c.tasks("c", nil)); got != 3 {
		t.Fatalf("tasks() lists %d, want 3", got)
	}
	// An own write older than a held-back one does not replace it.
	c.putRawTask("c", "y", task("y", theirs, events.TaskRunning), 15)
	c.putTaskSummary("c", taskSummary{ID: "y", ContainerInstanceID: theirs, LastStatus: events.TaskPending}, 14)
	for _, e := range c.tasks("c", nil) {
		if e.ID == "y" && (e.rev != 15 || e.LastStatus != events.TaskRunning) {
			t.Fatalf("task y at rev %d %s, want 15 RUNNING", e.rev, e.LastStatus)
		}
	}
}
