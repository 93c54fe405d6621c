package scheduler

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"testing"
)

// Property tests: random clusters and requests, checked against an
// independent simulation that applies every placement with Apply.

var propExprs = []string{
	"attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
	"attribute:ecs.instance-type =~ t2.*",
	"not(task:group == g1)",
	"task:group != g2 or runningTasksCount < 3",
	"attribute:gpu !exists",
	"agentVersion >= 1.14.0 and registeredAt < 2019-01-01",
}

var propStrategies = []Strategy{
	{Type: StrategyBinpack, Field: "cpu"},
	{Type: StrategyBinpack, Field: "memory"},
	{Type: StrategySpread, Field: "instanceId"},
	{Type: StrategySpread, Field: "attribute:ecs.availability-zone"},
	{Type: StrategySpread, Field: "attribute:ecs.instance-type"},
	{Type: StrategyRandom},
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func randomInstance(r *rand.Rand, i int) Instance {
	in := testInstance(fmt.Sprintf("p%02d", i))
	switch r.IntN(10) {
	case 0:
		in.Status = StatusDraining
	case 1:
		in.AgentConnected = false
	}
	in.RegisteredCPU = pick(r, []int64{1024, 2048, 4096})
	in.RegisteredMemory = pick(r, []int64{1024, 4096, 8192})
	in.RemainingCPU = r.Int64N(in.RegisteredCPU + 1)
	in.RemainingMemory = r.Int64N(in.RegisteredMemory + 1)
	for _, p := range []int{80, 443, 8080} {
		if r.IntN(4) == 0 {
			in.ReservedTCP[p] = struct{}{}
		}
	}
	for _, p := range []int{53, 8125} {
		if r.IntN(4) == 0 {
			in.ReservedUDP[p] = struct{}{}
		}
	}
	for _, g := range []string{"g1", "g2"} {
		if n := r.IntN(4) - 1; n > 0 {
			in.Groups[g] = n
			in.RunningTasks += n
		}
	}
	if az := r.IntN(4); az < 3 {
		in.Attributes["ecs.availability-zone"] = "us-east-1" + string(rune('a'+az))
	} else {
		delete(in.Attributes, "ecs.availability-zone")
	}
	in.Attributes["ecs.instance-type"] = pick(r, []string{"t2.small", "m5.large", "c5.xlarge"})
	if r.IntN(5) == 0 {
		in.Attributes["gpu"] = ""
	}
	return in
}

func randomRequest(r *rand.Rand) TaskRequest {
	req := TaskRequest{
		Resources: Resources{
			CPU:    pick(r, []int64{0, 128, 512, 1024, 2048}),
			Memory: pick(r, []int64{0, 128, 512, 1024, 4096}),
		},
		Group: pick(r, []string{"g1", "g2"}),
	}
	for _, p := range []int{80, 443, 8080, 9000} {
		if r.IntN(5) == 0 {
			req.TCPPorts = append(req.TCPPorts, p)
		}
	}
	for _, p := range []int{53, 8125} {
		if r.IntN(6) == 0 {
			req.UDPPorts = append(req.UDPPorts, p)
		}
	}
	if r.IntN(3) == 0 {
		req.Constraints = append(req.Constraints, Constraint{Type: ConstraintDistinctInstance})
	}
	for n := r.IntN(3); n > 0; n-- {
		req.Constraints = append(req.Constraints, Constraint{Type: ConstraintMemberOf, Expression: pick(r, propExprs)})
	}
	for n := r.IntN(4); n > 0; n-- {
		req.Strategies = append(req.Strategies, pick(r, propStrategies))
	}
	return req
}

func cloneInstance(in Instance) Instance {
	in.Attributes = maps.Clone(in.Attributes)
	in.ReservedTCP = in.ReservedTCP.Clone()
	in.ReservedUDP = in.ReservedUDP.Clone()
	in.Groups = maps.Clone(in.Groups)
	return in
}

func TestPlan_Place_PropertyNeverOversubscribes(t *testing.T) {
	const scenarios = 3000
	placedTotal, failedTotal := 0, 0
	for seed := uint64(0); seed < scenarios; seed++ {
		r := rand.New(rand.NewPCG(seed, 0xbe27))
		insts := make([]Instance, 1+r.IntN(12))
		for i := range insts {
			insts[i] = randomInstance(r, i)
		}
		req := randomRequest(r)
		count := 1 + r.IntN(10)
		res, err := Place(insts, req, count, Options{Rand: r})
		if errors.Is(err, ErrNoContainerInstances) {
			for _, in := range insts {
				if in.Status == StatusActive {
					t.Fatalf("seed %d: ErrNoContainerInstances with an ACTIVE instance", seed)
				}
			}
			continue
		}
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		plan, err := Compile(req)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Placements)+res.Unplaced != count {
			t.Fatalf("seed %d: %d placed + %d unplaced != %d", seed, len(res.Placements), res.Unplaced, count)
		}

		sim := make([]Instance, len(insts))
		for i := range insts {
			sim[i] = cloneInstance(insts[i])
		}
		for k, p := range res.Placements {
			in := &sim[p.Index]
			// Check covers status, agent, resources, ports, memberOf and
			// distinctInstance against the state so far.
			if reason := plan.Check(in); reason != "" {
				t.Fatalf("seed %d: placement %d on %s violates %s (req %+v)", seed, k, in.ID, reason, req)
			}
			if plan.distinct && in.Groups[req.Group] > 0 {
				t.Fatalf("seed %d: distinctInstance doubled up on %s", seed, in.ID)
			}
			next, err := Apply(*in, req.Resources, req.Group)
			if err != nil {
				t.Fatalf("seed %d: placement %d oversubscribes: %v", seed, k, err)
			}
			if next.RemainingCPU < 0 || next.RemainingMemory < 0 {
				t.Fatalf("seed %d: negative remaining on %s", seed, in.ID)
			}
			*in = next
		}
		placedTotal += len(res.Placements)

		if res.Unplaced == 0 {
			if len(res.Failures) != 0 {
				t.Fatalf("seed %d: failures without unplaced tasks: %+v", seed, res.Failures)
			}
			continue
		}
		failedTotal++
		// Placement stopped only because nothing fits any more.
		byARN := map[string]*Instance{}
		for i := range sim {
			if reason := plan.Check(&sim[i]); reason == "" {
				t.Fatalf("seed %d: %d tasks unplaced but %s still fits", seed, res.Unplaced, sim[i].ID)
			}
			byARN[sim[i].ARN] = &sim[i]
		}
		if len(res.Failures) == 0 {
			t.Fatalf("seed %d: unplaced tasks without failures", seed)
		}
		seen := map[string]bool{}
		for _, f := range res.Failures {
			in := byARN[f.ARN]
			if in == nil || seen[f.Reason] {
				t.Fatalf("seed %d: bad failure %+v", seed, f)
			}
			seen[f.Reason] = true
			if got := plan.Check(in); got != f.Reason {
				t.Fatalf("seed %d: failure %+v but Check says %q", seed, f, got)
			}
		}
	}
	if placedTotal == 0 || failedTotal == 0 {
		t.Fatalf("generator too narrow: %d placements, %d scenarios with failures", placedTotal, failedTotal)
	}
}

func TestInstance_Release_PropertyRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		in := randomInstance(r, i)
		req := randomRequest(r)
		out, err := Apply(in, req.Resources, req.Group)
		if err != nil {
			if !errors.Is(err, ErrConflict) {
				t.Fatalf("Apply: %v", err)
			}
			continue
		}
		back, err := Release(out, req.Resources, req.Group, PhasePending)
		if err != nil {
			t.Fatalf("Release: %v", err)
		}
		if !reflect.DeepEqual(back, in) {
			t.Fatalf("round trip %d: got %+v, want %+v", i, back, in)
		}
	}
}
