package members

import (
	"fmt"
	"testing"
)

// TestShareOf: every shard belongs to exactly one live replica, the shares
// are about even, one replica owns everything, and a replica joining takes
// shards only from the others (none moves between those that stay).
func TestShareOf(t *testing.T) {
	if o := ShareOf("a", []string{"a"}); !o.All || o.Count() != NumShards {
		t.Fatalf("a lone replica owns %d shards (all=%v), want all", o.Count(), o.All)
	}
	live := []string{"r1", "r2", "r3"}
	owners := map[int]string{}
	for _, id := range live {
		o := ShareOf(id, live)
		if o.All || o.Live != 3 {
			t.Fatalf("%s: all=%v live=%d", id, o.All, o.Live)
		}
		if n := o.Count(); n < NumShards/6 || n > NumShards/2 {
			t.Errorf("%s owns %d of %d shards: uneven", id, n, NumShards)
		}
		for sh, mine := range o.Shards {
			if !mine {
				continue
			}
			if prev, dup := owners[sh]; dup {
				t.Fatalf("shard %d owned by %s and %s", sh, prev, id)
			}
			owners[sh] = id
		}
	}
	if len(owners) != NumShards {
		t.Fatalf("%d of %d shards have an owner", len(owners), NumShards)
	}
	grown := append([]string{"r0"}, live...)
	for _, id := range live {
		o := ShareOf(id, grown)
		for sh, mine := range o.Shards {
			if mine && owners[sh] != id {
				t.Fatalf("shard %d moved from %s to %s when r0 joined", sh, owners[sh], id)
			}
		}
	}
}

// TestShardOf: instance ids spread over the shards.
func TestShardOf(t *testing.T) {
	hit := map[int]int{}
	for i := range 10 * NumShards {
		sh := ShardOf(fmt.Sprintf("%032x", i*7919))
		if sh < 0 || sh >= NumShards {
			t.Fatalf("shard %d out of range", sh)
		}
		hit[sh]++
	}
	if len(hit) < NumShards*9/10 {
		t.Fatalf("%d instances hit only %d of %d shards", 10*NumShards, len(hit), NumShards)
	}
}
