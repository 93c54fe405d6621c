package control

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/scheduler"
)

// TestInstanceDelta_RoundTrip: the record at the delta's base with the
// delta applied is, field for field, the record the placement wrote, as
// any replica decodes it from the bucket.
func TestInstanceDelta_RoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 8, 1, 2, 3, 456789, time.UTC)
	base := &events.InstanceRecord{
		ID: "i1", ARN: "arn:i1", Cluster: "c", Status: events.InstanceActive, AgentConnected: true,
		RegisteredCPU: 2048, RegisteredMemory: 4096, RegisteredTCP: []int{22}, RegisteredUDP: []int{},
		RemainingCPU: 2048, RemainingMemory: 4096, ReservedTCP: []int{22}, ReservedUDP: []int{},
		Attributes: []ecsapi.Attribute{
			{Name: capabilityPrefix + "docker-remote-api.1.17"},
			{Name: "ecs.availability-zone", Value: "us-east-1a"},
		},
		VersionInfo:  &ecsapi.VersionInfo{AgentVersion: "1.80.0"},
		Tags:         []ecsapi.Tag{},
		RegisteredAt: at, ConnectedAt: at, UpdatedAt: at, Version: 4,
	}
	stored := func(r *events.InstanceRecord) *events.InstanceRecord {
		t.Helper()
		got, err := decodeInstance(mustJSON(instanceValue(r)))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for name, place := range map[string]func(in *scheduler.Instance){
		"place": func(in *scheduler.Instance) {
			in.RemainingCPU, in.RemainingMemory, in.PendingTasks = 1024, 2048, 2
			in.ReservedTCP = scheduler.NewPortSet(22, 8080)
			in.ReservedUDP = scheduler.NewPortSet(53)
			in.Groups = map[string]int{"family:web": 2}
		},
		"release all": func(in *scheduler.Instance) {
			in.PendingTasks, in.Groups = 0, nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			in := schedInstance(base, 0)
			place(&in)
			next := withSched(base, in)
			next.Version++
			next.UpdatedAt = at.Add(time.Second)
			d, err := decodeDelta(placementDelta(17, next))
			if err != nil {
				t.Fatal(err)
			}
			if d.Base != 17 {
				t.Fatalf("base %d, want 17", d.Base)
			}
			got, want := d.apply(stored(base)), stored(next)
			if !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				t.Fatalf("base with the delta:\n%s\nthe record written:\n%s", g, w)
			}
		})
	}
	if _, err := decodeDelta([]byte("{not json")); err == nil {
		t.Fatal("a malformed delta decoded")
	}
}

// TestCache_PlacementDeltas: a fed delta applies on top of the version it
// was made from: at once on this replica's shards, lazily elsewhere (and
// on top of an undecoded record); several deltas in a row keep the last;
// one whose base the cache does not hold is refused, for the feed to
// read the record; one the cache has passed already changes nothing.
func TestCache_PlacementDeltas(t *testing.T) {
	c, mine, theirs := sharedCache()
	rec := func(id string, cpu int64) *events.InstanceRecord {
		return &events.InstanceRecord{ID: id, Cluster: "c", Status: events.InstanceActive, RegisteredCPU: 1024, RemainingCPU: cpu, Attributes: []ecsapi.Attribute{{Name: "ecs.os-type", Value: "linux"}}}
	}
	delta := func(base uint64, cpu int64, version int64) *instanceDelta {
		r := rec("", cpu)
		r.Version = version
		d, err := decodeDelta(placementDelta(base, r))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	c.putInstance(rec(mine, 1024), 1)
	c.putInstance(rec(theirs, 1024), 2)

	if !c.putDelta("c", mine, delta(1, 900, 2), 5) || !c.putDelta("c", theirs, delta(2, 800, 2), 6) {
		t.Fatal("a delta on the version the cache holds was refused")
	}
	p := c.placeSnapshot("c")
	if cpu, rev := cpuIn(t, p, mine); cpu != 900 || rev != 5 {
		t.Fatalf("placement view of an own instance: cpu %d rev %d, want (900, 5)", cpu, rev)
	}
	if cpu, rev := cpuIn(t, p, theirs); cpu != 1024 || rev != 2 {
		t.Fatalf("placement view of the other replica's instance: cpu %d rev %d, want the version it had (1024, 2)", cpu, rev)
	}
	if r, rev, _ := c.instance("c", theirs); r.RemainingCPU != 800 || rev != 6 || r.Version != 2 || len(r.Attributes) != 1 {
		t.Fatalf("instance(): %+v at %d, want the delta on the record at 2, at 6", r, rev)
	}

	// Deltas on an undecoded record: the last one counts, on the raw fields.
	raw := rec(theirs, 700)
	raw.Attributes = append(raw.Attributes, ecsapi.Attribute{Name: "custom", Value: "x"})
	if !c.putRaw("c", theirs, mustJSON(instanceValue(raw)), 7) {
		t.Fatal("raw record refused")
	}
	if !c.putDelta("c", theirs, delta(7, 600, 3), 8) || !c.putDelta("c", theirs, delta(8, 500, 4), 9) {
		t.Fatal("deltas in a row refused")
	}
	if rev, _ := c.instanceRev("c", theirs); rev != 9 {
		t.Fatalf("instanceRev %d, want 9", rev)
	}
	if r, rev, _ := c.instance("c", theirs); r.RemainingCPU != 500 || r.Version != 4 || rev != 9 || len(r.Attributes) != 2 {
		t.Fatalf("instance(): %+v at %d, want the raw record's attributes with the last delta, at 9", r, rev)
	}

	// A base the cache does not hold, or an instance it does not know.
	if c.putDelta("c", theirs, delta(10, 1, 5), 12) {
		t.Fatal("a delta on a version the cache never saw was applied")
	}
	if c.putDelta("c", "unknown", delta(1, 1, 1), 13) {
		t.Fatal("a delta on an unknown instance was applied")
	}
	// A delta the cache has passed: held, nothing changes.
	if !c.putDelta("c", mine, delta(1, 1, 9), 5) {
		t.Fatal("a delta at a revision the cache reached was refused")
	}
	if r, rev, _ := c.instance("c", mine); r.RemainingCPU != 900 || rev != 5 {
		t.Fatalf("after a passed delta: cpu %d rev %d, want (900, 5)", r.RemainingCPU, rev)
	}
}
