package control

import (
	"fmt"
	"testing"
)

// TestShareOf: every shard belongs to exactly one live replica, the shares
// are about even, one replica owns everything, and a replica joining takes
// shards only from the others (none moves between those that stay).
func TestShareOf(t *testing.T) {
	if o := shareOf("a", []string{"a"}); !o.all || o.count() != numShards {
		t.Fatalf("a lone replica owns %d shards (all=%v), want all", o.count(), o.all)
	}
	live := []string{"r1", "r2", "r3"}
	owners := map[int]string{}
	for _, id := range live {
		o := shareOf(id, live)
		if o.all || o.live != 3 {
			t.Fatalf("%s: all=%v live=%d", id, o.all, o.live)
		}
		if n := o.count(); n < numShards/6 || n > numShards/2 {
			t.Errorf("%s owns %d of %d shards: uneven", id, n, numShards)
		}
		for sh, mine := range o.shards {
			if !mine {
				continue
			}
			if prev, dup := owners[sh]; dup {
				t.Fatalf("shard %d owned by %s and %s", sh, prev, id)
			}
			owners[sh] = id
		}
	}
	if len(owners) != numShards {
		t.Fatalf("%d of %d shards have an owner", len(owners), numShards)
	}
	grown := append([]string{"r0"}, live...)
	for _, id := range live {
		o := shareOf(id, grown)
		for sh, mine := range o.shards {
			if mine && owners[sh] != id {
				t.Fatalf("shard %d moved from %s to %s when r0 joined", sh, owners[sh], id)
			}
		}
	}
}

// TestShardOf: instance ids spread over the shards.
func TestShardOf(t *testing.T) {
	hit := map[int]int{}
	for i := range 10 * numShards {
		sh := shardOf(fmt.Sprintf("%032x", i*7919))
		if sh < 0 || sh >= numShards {
			t.Fatalf("shard %d out of range", sh)
		}
		hit[sh]++
	}
	if len(hit) < numShards*9/10 {
		t.Fatalf("%d instances hit only %d of %d shards", 10*numShards, len(hit), numShards)
	}
}
