package scheduler

import (
	"errors"
	"maps"
	"reflect"
	"sync"
	"testing"
)

var (
	binpackCPUStrategy    = Strategy{Type: StrategyBinpack, Field: "cpu"}
	binpackMemoryStrategy = Strategy{Type: StrategyBinpack, Field: "memory"}
	spreadHost            = Strategy{Type: StrategySpread, Field: "instanceId"}
	spreadAZ              = Strategy{Type: StrategySpread, Field: "attribute:ecs.availability-zone"}
	distinct              = Constraint{Type: ConstraintDistinctInstance}
)

func smallTask(strategies ...Strategy) TaskRequest {
	return TaskRequest{
		Resources:  Resources{CPU: 1024, Memory: 1024},
		Group:      "family:web",
		Strategies: strategies,
	}
}

func TestPlan_Place_Strategies(t *testing.T) {
	cases := []struct {
		name  string
		insts []Instance
		req   TaskRequest
		count int
		want  []string
	}{
		{
			name: "binpack cpu fills the fullest instance first",
			insts: []Instance{
				testInstance("a", withRemaining(4096, 8192)),
				testInstance("b", withRemaining(2048, 8192)),
				testInstance("c", withRemaining(3072, 8192)),
			},
			req:   smallTask(binpackCPUStrategy),
			count: 4,
			want:  []string{"b", "b", "c", "c"},
		},
		{
			name: "binpack memory",
			insts: []Instance{
				testInstance("a", withRemaining(4096, 3072)),
				testInstance("b", withRemaining(4096, 8192)),
				testInstance("c", withRemaining(4096, 1024)),
			},
			req:   smallTask(binpackMemoryStrategy),
			count: 3,
			want:  []string{"c", "a", "a"},
		},
		{
			name: "binpack field is case-insensitive",
			insts: []Instance{
				testInstance("a", withRemaining(4096, 8192)),
				testInstance("b", withRemaining(2048, 8192)),
			},
			req:   smallTask(Strategy{Type: StrategyBinpack, Field: "CPU"}),
			count: 1,
			want:  []string{"b"},
		},
		{
			name: "spread az then binpack memory",
			insts: []Instance{
				testInstance("a1", withAZ("us-east-1a")),
				testInstance("a2", withAZ("us-east-1a"), withRemaining(4096, 2048)),
				testInstance("b1", withAZ("us-east-1b")),
			},
			req:   smallTask(spreadAZ, binpackMemoryStrategy),
			count: 3,
			want:  []string{"a2", "b1", "a2"},
		},
		{
			name: "spread host then binpack cpu",
			insts: []Instance{
				testInstance("a", withRemaining(4096, 8192)),
				testInstance("b", withRemaining(3072, 8192)),
				testInstance("c", withRemaining(2048, 8192)),
			},
			req:   smallTask(spreadHost, binpackCPUStrategy),
			count: 4,
			want:  []string{"c", "b", "a", "c"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, res := placeIDs(t, tc.insts, tc.req, tc.count, seeded(1))
			if !equalStrings(got, tc.want) {
				t.Errorf("placed on %v, want %v", got, tc.want)
			}
			if res.Unplaced != 0 || len(res.Failures) != 0 {
				t.Errorf("unexpected failures: %+v", res)
			}
		})
	}
}

func TestPlan_Place_BinpackStacksOnOneOfEqualInstances(t *testing.T) {
	insts := []Instance{testInstance("a"), testInstance("b"), testInstance("c")}
	for seed := uint64(0); seed < 20; seed++ {
		got, _ := placeIDs(t, insts, smallTask(binpackCPUStrategy), 4, seeded(seed))
		if n := len(countIDs(got)); n != 1 {
			t.Fatalf("seed %d: placed on %v, want one instance", seed, got)
		}
	}
}

func TestPlan_Place_SpreadInstanceID(t *testing.T) {
	for _, field := range []string{"instanceId", "host", "INSTANCEID"} {
		t.Run(field, func(t *testing.T) {
			insts := []Instance{
				testInstance("a", withGroup("family:web", 2)),
				testInstance("b"),
				testInstance("c", withGroup("family:web", 1), withGroup("family:other", 5)),
			}
			req := smallTask(Strategy{Type: StrategySpread, Field: field})
			got, _ := placeIDs(t, insts, req, 3, seeded(7))
			c := countIDs(got)
			if c["a"] != 0 || c["b"] != 2 || c["c"] != 1 {
				t.Errorf("placed on %v, want b twice and c once (2 tasks of the group each)", got)
			}
		})
	}
}

func TestPlan_Place_SpreadAttribute(t *testing.T) {
	insts := []Instance{
		testInstance("a1", withAZ("us-east-1a")),
		testInstance("a2", withAZ("us-east-1a")),
		testInstance("b1", withAZ("us-east-1b")),
		testInstance("c1", withAZ("us-east-1c"), withGroup("family:other", 3)),
	}
	az := map[string]string{"a1": "a", "a2": "a", "b1": "b", "c1": "c"}
	for _, count := range []int{3, 6, 9} {
		got, _ := placeIDs(t, insts, smallTask(spreadAZ), count, seeded(3))
		per := map[string]int{}
		for _, id := range got {
			per[az[id]]++
		}
		for _, zone := range []string{"a", "b", "c"} {
			if per[zone] != count/3 {
				t.Errorf("count %d: zone %s got %d tasks, want %d (placements %v)", count, zone, per[zone], count/3, got)
			}
		}
	}
}

func TestPlan_Place_SpreadAttributeCountsExistingTasks(t *testing.T) {
	insts := []Instance{
		testInstance("a1", withAZ("us-east-1a"), withGroup("family:web", 2)),
		testInstance("b1", withAZ("us-east-1b")),
		// DRAINING instances take no tasks, but their tasks count for balance.
		testInstance("b2", withAZ("us-east-1b"), withGroup("family:web", 1), func(in *Instance) { in.Status = StatusDraining }),
	}
	got, _ := placeIDs(t, insts, smallTask(spreadAZ), 1, seeded(1))
	if !equalStrings(got, []string{"b1"}) {
		t.Errorf("placed on %v, want [b1]", got)
	}
}

func TestPlan_Place_SpreadMissingAttributeIsOneBucket(t *testing.T) {
	insts := []Instance{
		testInstance("x", withAZ("us-east-1a")),
		testInstance("y", withoutAttr("ecs.availability-zone")),
		testInstance("z", withoutAttr("ecs.availability-zone")),
	}
	for seed := uint64(0); seed < 10; seed++ {
		got, _ := placeIDs(t, insts, smallTask(spreadAZ), 4, seeded(seed))
		c := countIDs(got)
		if c["x"] != 2 || c["y"]+c["z"] != 2 {
			t.Fatalf("seed %d: placed on %v, want x twice and the attribute-less pair twice", seed, got)
		}
	}
}

func TestPlan_Place_Random(t *testing.T) {
	insts := []Instance{testInstance("a"), testInstance("b"), testInstance("c")}
	req := TaskRequest{Resources: Resources{CPU: 10, Memory: 10}, Group: "family:web"}
	first, _ := placeIDs(t, insts, req, 10, seeded(42))
	again, _ := placeIDs(t, insts, req, 10, seeded(42))
	if !equalStrings(first, again) {
		t.Errorf("same seed gave %v then %v", first, again)
	}
	seen := map[string]int{}
	for seed := uint64(0); seed < 300; seed++ {
		got, _ := placeIDs(t, insts, smallTask(Strategy{Type: StrategyRandom}), 1, seeded(seed))
		seen[got[0]]++
	}
	for _, id := range []string{"a", "b", "c"} {
		if seen[id] < 60 {
			t.Errorf("random placed %d of 300 tasks on %s, want about 100 (%v)", seen[id], id, seen)
		}
	}
}

func TestPlan_Place_RandomSettlesLaterStrategies(t *testing.T) {
	p, err := Compile(smallTask(spreadAZ, Strategy{Type: StrategyRandom}, binpackCPUStrategy))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.strategies) != 1 || p.strategies[0].kind != spreadAttribute {
		t.Errorf("compiled strategies = %+v, want spread only", p.strategies)
	}
}

func TestPlan_Place_NilRand(t *testing.T) {
	insts := []Instance{testInstance("a"), testInstance("b")}
	res, err := Place(insts, smallTask(), 3, Options{})
	if err != nil || len(res.Placements) != 3 {
		t.Fatalf("Place = %+v, %v", res, err)
	}
}

func TestPlan_Place_Constraints(t *testing.T) {
	cases := []struct {
		name        string
		insts       []Instance
		constraints []Constraint
		count       int
		wantPlaced  map[string]int
		wantReasons []string
	}{
		{
			name:        "distinctInstance one per instance",
			insts:       []Instance{testInstance("a"), testInstance("b"), testInstance("c")},
			constraints: []Constraint{distinct},
			count:       5,
			wantPlaced:  map[string]int{"a": 1, "b": 1, "c": 1},
			wantReasons: []string{ReasonDistinctInstance},
		},
		{
			name:        "distinctInstance skips instances holding the group",
			insts:       []Instance{testInstance("a", withGroup("family:web", 1)), testInstance("b"), testInstance("c", withGroup("family:other", 1))},
			constraints: []Constraint{distinct},
			count:       2,
			wantPlaced:  map[string]int{"b": 1, "c": 1},
		},
		{
			name:        "distinctInstance all taken",
			insts:       []Instance{testInstance("a", withGroup("family:web", 1))},
			constraints: []Constraint{distinct},
			count:       1,
			wantReasons: []string{ReasonDistinctInstance},
		},
		{
			name: "memberOf filters",
			insts: []Instance{
				testInstance("a", withAttr("ecs.instance-type", "m5.large")),
				testInstance("b"),
			},
			constraints: []Constraint{{Type: ConstraintMemberOf, Expression: "attribute:ecs.instance-type =~ t2.*"}},
			count:       3,
			wantPlaced:  map[string]int{"b": 3},
		},
		{
			name:        "memberOf matches none",
			insts:       []Instance{testInstance("a"), testInstance("b")},
			constraints: []Constraint{{Type: ConstraintMemberOf, Expression: "attribute:ecs.os-type == windows"}},
			count:       1,
			wantReasons: []string{ReasonMemberOf},
		},
		{
			name:  "memberOf every constraint must hold",
			insts: []Instance{testInstance("a"), testInstance("b", withAZ("us-east-1b"))},
			constraints: []Constraint{
				{Type: ConstraintMemberOf, Expression: "attribute:ecs.instance-type == t2.small"},
				{Type: ConstraintMemberOf, Expression: "attribute:ecs.availability-zone == us-east-1b"},
			},
			count:      2,
			wantPlaced: map[string]int{"b": 2},
		},
		{
			name:        "memberOf task group anti-affinity sees earlier placements",
			insts:       []Instance{testInstance("a"), testInstance("b")},
			constraints: []Constraint{{Type: ConstraintMemberOf, Expression: "not(task:group == family:web)"}},
			count:       3,
			wantPlaced:  map[string]int{"a": 1, "b": 1},
			wantReasons: []string{ReasonMemberOf},
		},
		{
			name:        "memberOf task group affinity",
			insts:       []Instance{testInstance("a"), testInstance("b", withGroup("service:db", 1))},
			constraints: []Constraint{{Type: ConstraintMemberOf, Expression: "task:group == service:db"}},
			count:       2,
			wantPlaced:  map[string]int{"b": 2},
		},
		{
			name:  "distinctInstance and memberOf",
			insts: []Instance{testInstance("a"), testInstance("b"), testInstance("c", withAZ("us-east-1b"))},
			constraints: []Constraint{
				distinct,
				{Type: ConstraintMemberOf, Expression: "attribute:ecs.availability-zone == us-east-1a"},
			},
			count:       3,
			wantPlaced:  map[string]int{"a": 1, "b": 1},
			wantReasons: []string{ReasonDistinctInstance, ReasonMemberOf},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := smallTask(spreadHost)
			req.Constraints = tc.constraints
			got, res := placeIDs(t, tc.insts, req, tc.count, seeded(5))
			placed := countIDs(got)
			if tc.wantPlaced == nil {
				tc.wantPlaced = map[string]int{}
			}
			if !maps.Equal(placed, tc.wantPlaced) {
				t.Errorf("placed %v, want %v", placed, tc.wantPlaced)
			}
			if res.Unplaced != tc.count-len(got) {
				t.Errorf("Unplaced = %d, want %d", res.Unplaced, tc.count-len(got))
			}
			if reasons := failureReasons(res); !equalStrings(reasons, tc.wantReasons) {
				t.Errorf("failure reasons %v, want %v", reasons, tc.wantReasons)
			}
		})
	}
}

func failureReasons(res Result) []string {
	var out []string
	for _, f := range res.Failures {
		out = append(out, f.Reason)
	}
	return out
}

func TestPlan_Place_Failures(t *testing.T) {
	disconnected := func(in *Instance) { in.AgentConnected = false }
	cases := []struct {
		name   string
		insts  []Instance
		req    TaskRequest
		count  int
		want   []Failure // ARN and InstanceID filled from the id in ARN
		placed int
	}{
		{
			name:  "cpu names the instance with the most cpu",
			insts: []Instance{testInstance("a", withRemaining(100, 8192)), testInstance("b", withRemaining(900, 8192)), testInstance("c", withRemaining(500, 8192))},
			req:   smallTask(),
			count: 1,
			want:  []Failure{{Reason: ReasonCPU, InstanceID: "b"}},
		},
		{
			name:  "memory names the instance with the most memory",
			insts: []Instance{testInstance("a", withRemaining(4096, 512)), testInstance("b", withRemaining(4096, 1000))},
			req:   smallTask(),
			count: 1,
			want:  []Failure{{Reason: ReasonMemory, InstanceID: "b"}},
		},
		{
			name: "tcp port taken",
			insts: []Instance{testInstance("a", func(in *Instance) {
				in.ReservedTCP[80] = struct{}{}
			})},
			req:   TaskRequest{Resources: Resources{CPU: 128, Memory: 128, TCPPorts: []int{80}}, Group: "family:web"},
			count: 1,
			want:  []Failure{{Reason: ReasonPorts, InstanceID: "a"}},
		},
		{
			name:  "agent default port",
			insts: []Instance{testInstance("a")},
			req:   TaskRequest{Resources: Resources{CPU: 128, Memory: 128, TCPPorts: []int{22}}, Group: "family:web"},
			count: 1,
			want:  []Failure{{Reason: ReasonPorts, InstanceID: "a"}},
		},
		{
			name: "udp port taken",
			insts: []Instance{testInstance("a", func(in *Instance) {
				in.ReservedUDP[53] = struct{}{}
			})},
			req:   TaskRequest{Resources: Resources{CPU: 128, Memory: 128, UDPPorts: []int{53}}, Group: "family:web"},
			count: 1,
			want:  []Failure{{Reason: ReasonPortsUDP, InstanceID: "a"}},
		},
		{
			name:   "static port once per instance",
			insts:  []Instance{testInstance("a")},
			req:    TaskRequest{Resources: Resources{CPU: 128, Memory: 128, TCPPorts: []int{8080}}, Group: "family:web"},
			count:  2,
			placed: 1,
			want:   []Failure{{Reason: ReasonPorts, InstanceID: "a"}},
		},
		{
			name:   "static udp port once per instance",
			insts:  []Instance{testInstance("a")},
			req:    TaskRequest{Resources: Resources{CPU: 128, Memory: 128, UDPPorts: []int{8125}}, Group: "family:web"},
			count:  2,
			placed: 1,
			want:   []Failure{{Reason: ReasonPortsUDP, InstanceID: "a"}},
		},
		{
			name:  "agent disconnected",
			insts: []Instance{testInstance("a", disconnected)},
			req:   smallTask(),
			count: 1,
			want:  []Failure{{Reason: ReasonAgent, InstanceID: "a"}},
		},
		{
			name:   "partial placement then cpu",
			insts:  []Instance{testInstance("a", withRemaining(3072, 8192))},
			req:    smallTask(binpackCPUStrategy),
			count:  5,
			placed: 3,
			want:   []Failure{{Reason: ReasonCPU, InstanceID: "a"}},
		},
		{
			name: "closest reasons first",
			insts: []Instance{
				testInstance("a", disconnected),
				testInstance("b", withRemaining(0, 8192)),
				testInstance("c", withRemaining(4096, 0)),
				testInstance("d", withAttr("ecs.os-type", "windows")),
				testInstance("e", withAttr("ecs.os-type", "windows")),
			},
			req: TaskRequest{
				Resources:   Resources{CPU: 1024, Memory: 1024},
				Group:       "family:web",
				Constraints: []Constraint{{Type: ConstraintMemberOf, Expression: exprTrue}},
			},
			count: 2,
			want: []Failure{
				{Reason: ReasonMemberOf, InstanceID: "d"},
				{Reason: ReasonMemory, InstanceID: "c"},
				{Reason: ReasonCPU, InstanceID: "b"},
				{Reason: ReasonAgent, InstanceID: "a"},
			},
		},
		{
			name: "draining and inactive instances are skipped silently",
			insts: []Instance{
				testInstance("a", func(in *Instance) { in.Status = StatusDraining }),
				testInstance("b", withRemaining(512, 8192)),
				testInstance("c", func(in *Instance) { in.Status = StatusInactive }),
			},
			req:   smallTask(),
			count: 1,
			want:  []Failure{{Reason: ReasonCPU, InstanceID: "b"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, res := placeIDs(t, tc.insts, tc.req, tc.count, seeded(9))
			if len(got) != tc.placed {
				t.Errorf("placed %v, want %d tasks", got, tc.placed)
			}
			if res.Unplaced != tc.count-tc.placed {
				t.Errorf("Unplaced = %d, want %d", res.Unplaced, tc.count-tc.placed)
			}
			for i := range tc.want {
				tc.want[i].ARN = testInstance(tc.want[i].InstanceID).ARN
			}
			if !reflect.DeepEqual(res.Failures, tc.want) {
				t.Errorf("failures\n got %+v\nwant %+v", res.Failures, tc.want)
			}
		})
	}
}

func TestPlan_Place_UDPAndTCPPortsAreSeparate(t *testing.T) {
	insts := []Instance{testInstance("a", func(in *Instance) {
		in.ReservedTCP[53] = struct{}{}
		in.ReservedUDP[80] = struct{}{}
	})}
	req := TaskRequest{Resources: Resources{CPU: 128, Memory: 128, TCPPorts: []int{80}, UDPPorts: []int{53}}, Group: "g"}
	got, _ := placeIDs(t, insts, req, 1, seeded(1))
	if !equalStrings(got, []string{"a"}) {
		t.Errorf("placed on %v, want [a]", got)
	}
}

func TestPlan_Place_ZeroCPUTaskFitsFullInstance(t *testing.T) {
	insts := []Instance{testInstance("a", withRemaining(0, 512))}
	req := TaskRequest{Resources: Resources{Memory: 128}, Group: "g"}
	got, _ := placeIDs(t, insts, req, 4, seeded(1))
	if len(got) != 4 {
		t.Errorf("placed %v, want 4 tasks", got)
	}
}

func TestPlan_Place_EmptyCluster(t *testing.T) {
	cases := map[string][]Instance{
		"no instances": nil,
		"only draining and inactive": {
			testInstance("a", func(in *Instance) { in.Status = StatusDraining }),
			testInstance("b", func(in *Instance) { in.Status = StatusInactive }),
		},
	}
	for name, insts := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Place(insts, smallTask(), 1, seeded(1))
			if !errors.Is(err, ErrNoContainerInstances) {
				t.Errorf("err = %v, want ErrNoContainerInstances", err)
			}
		})
	}
}

func TestPlan_Place_InvalidCount(t *testing.T) {
	for _, count := range []int{0, -1} {
		_, err := Place([]Instance{testInstance("a")}, smallTask(), count, seeded(1))
		if !errors.Is(err, ErrInvalidParameter) {
			t.Errorf("count %d: err = %v, want ErrInvalidParameter", count, err)
		}
	}
}

func TestPlan_Place_InvalidRequest(t *testing.T) {
	req := smallTask(Strategy{Type: "pack"})
	_, err := Place([]Instance{testInstance("a")}, req, 1, seeded(1))
	if !errors.Is(err, ErrInvalidParameter) {
		t.Errorf("err = %v, want ErrInvalidParameter", err)
	}
}

func TestPlan_Place_DoesNotModifyInstances(t *testing.T) {
	build := func() []Instance {
		return []Instance{
			testInstance("a", withGroup("family:web", 1)),
			testInstance("b", withAZ("us-east-1b")),
		}
	}
	insts := build()
	req := smallTask(spreadAZ, binpackCPUStrategy)
	req.TCPPorts = []int{8080}
	req.Constraints = []Constraint{{Type: ConstraintMemberOf, Expression: "not(task:group == family:web)"}}
	if _, err := Place(insts, req, 2, seeded(1)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(insts, build()) {
		t.Errorf("Place modified its input")
	}
}

func TestPlan_Check_Reasons(t *testing.T) {
	p, err := Compile(TaskRequest{
		Resources:   Resources{CPU: 1024, Memory: 1024, TCPPorts: []int{80}},
		Group:       "family:web",
		Constraints: []Constraint{distinct, {Type: ConstraintMemberOf, Expression: exprTrue}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		mutate func(*Instance)
		want   string
	}{
		{"fits", nil, ""},
		{"draining", func(in *Instance) { in.Status = StatusDraining }, ReasonInactive},
		{"agent", func(in *Instance) { in.AgentConnected = false }, ReasonAgent},
		{"cpu", withRemaining(1000, 8192), ReasonCPU},
		{"memory", withRemaining(4096, 1000), ReasonMemory},
		{"port", func(in *Instance) { in.ReservedTCP[80] = struct{}{} }, ReasonPorts},
		{"memberOf", withAttr("ecs.os-type", "windows"), ReasonMemberOf},
		{"distinct", withGroup("family:web", 1), ReasonDistinctInstance},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := testInstance("a")
			if tc.mutate != nil {
				tc.mutate(&in)
			}
			if got := p.Check(&in); got != tc.want {
				t.Errorf("Check = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFailure_Message_Formats(t *testing.T) {
	cases := map[string]string{
		ReasonCPU:      "The closest matching container-instance abc has insufficient CPU units available.",
		ReasonMemory:   "The closest matching container-instance abc has insufficient memory available.",
		ReasonPorts:    "The closest matching container-instance abc is already using a port required by your task.",
		ReasonPortsUDP: "The closest matching container-instance abc is already using a port required by your task.",
		ReasonAgent:    `The closest matching container-instance abc encountered error "AGENT".`,
		ReasonMemberOf: `The closest matching container-instance abc encountered error "MemberOf placement constraint unsatisfied.".`,
	}
	for reason, want := range cases {
		if got := (Failure{Reason: reason, InstanceID: "abc"}).Message(); got != want {
			t.Errorf("%s: Message = %q, want %q", reason, got, want)
		}
	}
}

func TestDefaultStrategies_Valid(t *testing.T) {
	for _, ss := range [][]Strategy{DefaultRunTaskStrategies(), DefaultServiceStrategies()} {
		if err := ValidateStrategies(ss); err != nil {
			t.Errorf("%v: %v", ss, err)
		}
	}
}

func TestPlan_Place_ConcurrentUse(t *testing.T) {
	insts := benchCluster(200)
	plan, err := Compile(TaskRequest{
		Resources: Resources{CPU: 128, Memory: 128},
		Group:     "service:web",
		Constraints: []Constraint{{Type: ConstraintMemberOf,
			Expression: "attribute:ecs.instance-type =~ (t2|m5).* or ec2InstanceId =~ i-0+1.*"}},
		Strategies: DefaultServiceStrategies(),
	})
	if err != nil {
		t.Fatal(err)
	}
	want, err := plan.Place(insts, 10, seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for k := 0; k < 20; k++ {
				got, err := plan.Place(insts, 10, seeded(1))
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("concurrent Place = %+v, %v; want %+v", got, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}
