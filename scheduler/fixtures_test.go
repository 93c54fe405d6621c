package scheduler

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// defaultPorts are the TCP ports the ECS agent reserves on every instance.
var defaultPorts = []int{22, 2375, 2376, 51678, 51679, 51680}

// testInstance returns a valid, empty, ACTIVE and connected instance with
// 4 vCPU and 8 GiB, in us-east-1a, then applies the mutations.
func testInstance(id string, mutate ...func(*Instance)) Instance {
	in := Instance{
		ID:             id,
		ARN:            "arn:aws:ecs:us-east-1:123456789012:container-instance/default/" + id,
		Status:         StatusActive,
		AgentConnected: true,
		Attributes: map[string]string{
			"ecs.availability-zone":                 "us-east-1a",
			"ecs.instance-type":                     "t2.small",
			"ecs.os-type":                           "linux",
			"com.amazonaws.ecs.capability.ecr-auth": "",
		},
		RegisteredAt:     time.Date(2018, 2, 13, 10, 30, 0, 0, time.UTC),
		EC2InstanceID:    "i-" + id,
		AgentVersion:     "1.14.5",
		RegisteredCPU:    4096,
		RegisteredMemory: 8192,
		RemainingCPU:     4096,
		RemainingMemory:  8192,
		ReservedTCP:      NewPortSet(defaultPorts...),
		ReservedUDP:      NewPortSet(),
		Groups:           map[string]int{},
	}
	for _, m := range mutate {
		m(&in)
	}
	return in
}

func withAZ(az string) func(*Instance) {
	return func(in *Instance) { in.Attributes["ecs.availability-zone"] = az }
}

func withRemaining(cpu, mem int64) func(*Instance) {
	return func(in *Instance) { in.RemainingCPU, in.RemainingMemory = cpu, mem }
}

func withGroup(group string, n int) func(*Instance) {
	return func(in *Instance) {
		in.Groups[group] += n
		in.RunningTasks += n
	}
}

func withAttr(name, value string) func(*Instance) {
	return func(in *Instance) { in.Attributes[name] = value }
}

func withoutAttr(name string) func(*Instance) {
	return func(in *Instance) { delete(in.Attributes, name) }
}

func seeded(seed uint64) Options {
	return Options{Rand: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// placeIDs runs Place and returns the chosen instance ids, failing the test
// on error.
func placeIDs(t *testing.T, insts []Instance, req TaskRequest, count int, opts Options) ([]string, Result) {
	t.Helper()
	res, err := Place(insts, req, count, opts)
	if err != nil {
		t.Fatalf("Place: %v", err)
	}
	ids := make([]string, len(res.Placements))
	for i, p := range res.Placements {
		ids[i] = p.InstanceID
		if insts[p.Index].ID != p.InstanceID || insts[p.Index].ARN != p.InstanceARN {
			t.Fatalf("placement %d: index %d does not match id %s", i, p.Index, p.InstanceID)
		}
	}
	return ids, res
}

func countIDs(ids []string) map[string]int {
	m := map[string]int{}
	for _, id := range ids {
		m[id]++
	}
	return m
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func mustApply(t *testing.T, in Instance, r Resources, group string) Instance {
	t.Helper()
	out, err := Apply(in, r, group)
	if err != nil {
		t.Fatalf("Apply(%s): %v", in.ID, err)
	}
	return out
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("i%02d", i)
	}
	return out
}
