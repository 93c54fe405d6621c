package control

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/berth-project/berth/events"
)

// TestCache_LazyInstanceDecode: another replica's write to an instance
// outside this replica's shards stays undecoded for placement (which keeps
// the version it had, with that version's revision), while every other
// read sees the newest version; a write on the replica's own shards is
// placed on at once; the replica's own commit at the watched revision
// replaces the undecoded copy; a record that does not decode keeps the
// older version.
func TestCache_LazyInstanceDecode(t *testing.T) {
	c := newCache(slog.New(slog.DiscardHandler))
	m := &members{}
	o := shareOf("me", []string{"me", "other"})
	m.own.Store(o)
	c.members.Store(m)
	var mine, theirs string
	for i := 0; mine == "" || theirs == ""; i++ {
		id := fmt.Sprintf("%032x", i)
		if o.shards[shardOf(id)] {
			mine = id
		} else {
			theirs = id
		}
	}
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
	at := func(s *snapshot, id string) (int64, uint64) {
		for i, r := range s.recs {
			if r.ID == id {
				return r.RemainingCPU, s.revs[i]
			}
		}
		t.Fatalf("%s not in the snapshot", id)
		return 0, 0
	}
	if !c.putRaw("c", theirs, raw(theirs, 512), 3) || !c.putRaw("c", mine, raw(mine, 256), 4) {
		t.Fatal("a watched write to a known instance was decoded at once")
	}
	if c.putRaw("c", "unknown", raw("unknown", 1), 5) {
		t.Fatal("an instance the cache did not hold was kept undecoded")
	}
	p := c.placeSnapshot("c")
	if cpu, rev := at(p, theirs); cpu != 1024 || rev != 2 {
		t.Fatalf("placement view of the other replica's instance: cpu %d rev %d, want the version it had (1024, 2)", cpu, rev)
	}
	if cpu, rev := at(p, mine); cpu != 256 || rev != 4 {
		t.Fatalf("placement view of an own instance: cpu %d rev %d, want (256, 4)", cpu, rev)
	}
	if rev, _ := c.instanceRev("c", theirs); rev != 3 {
		t.Fatalf("instanceRev %d, want the newest 3", rev)
	}
	if r, rev, _ := c.instance("c", theirs); r.RemainingCPU != 512 || rev != 3 {
		t.Fatalf("instance(): cpu %d rev %d, want (512, 3)", r.RemainingCPU, rev)
	}
	c.putRaw("c", theirs, raw(theirs, 128), 6)
	if cpu, rev := at(c.snapshot("c"), theirs); cpu != 128 || rev != 6 {
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
