package scheduler

import "testing"

// TestPlan_Place_Allowed: Options.Allowed limits the candidates, binpack
// fills the fullest allowed instance, and a spread over an attribute still
// counts the tasks on instances that are not allowed.
func TestPlan_Place_Allowed(t *testing.T) {
	insts := []Instance{
		testInstance("a", withRemaining(1024, 8192)), // fullest, not allowed
		testInstance("b", withRemaining(3072, 8192)),
		testInstance("c", withRemaining(2048, 8192)),
	}
	opts := seeded(1)
	opts.Allowed = []bool{false, true, true}
	got, res := placeIDs(t, insts, smallTask(binpackCPUStrategy), 3, opts)
	if want := []string{"c", "c", "b"}; !equalStrings(got, want) {
		t.Fatalf("binpack over allowed instances placed on %v, want %v", got, want)
	}
	if res.Unplaced != 0 {
		t.Fatalf("unplaced %d", res.Unplaced)
	}

	// Nothing allowed fits: the tasks are unplaced and the instances left
	// out are no failure reason of their own.
	opts.Allowed = []bool{true}
	got, res = placeIDs(t, insts, smallTask(binpackCPUStrategy), 2, opts)
	if want := []string{"a"}; !equalStrings(got, want) || res.Unplaced != 1 {
		t.Fatalf("placed %v (unplaced %d), want %v and 1 unplaced", got, res.Unplaced, want)
	}
	for _, f := range res.Failures {
		if f.Reason != ReasonCPU {
			t.Fatalf("failure %+v: want only %s", f, ReasonCPU)
		}
	}

	// Spread over zones: zone 1a already holds two tasks of the group on
	// an instance that is not allowed, so the allowed instances of zone 1b
	// come first.
	zones := []Instance{
		testInstance("x", withAZ("us-east-1a"), withGroup("family:web", 2)),
		testInstance("y", withAZ("us-east-1a")),
		testInstance("z", withAZ("us-east-1b")),
	}
	opts.Allowed = []bool{false, true, true}
	got, _ = placeIDs(t, zones, smallTask(spreadAZ), 2, opts)
	if want := []string{"z", "z"}; !equalStrings(got, want) {
		t.Fatalf("spread placed on %v, want %v", got, want)
	}
}
