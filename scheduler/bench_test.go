package scheduler

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchCluster returns n instances over three zones and three instance
// types, partly used, with tasks of a few groups.
func benchCluster(n int) []Instance {
	r := rand.New(rand.NewPCG(1, 2))
	insts := make([]Instance, n)
	for i := range insts {
		in := testInstance(fmt.Sprintf("%032x", i))
		in.Attributes["ecs.availability-zone"] = "us-east-1" + string(rune('a'+i%3))
		in.Attributes["ecs.instance-type"] = []string{"t2.small", "m5.large", "c5.xlarge"}[i%3/1]
		in.RegisteredCPU, in.RegisteredMemory = 8192, 32768
		in.RemainingCPU = 1024 + r.Int64N(7168)
		in.RemainingMemory = 4096 + r.Int64N(28672)
		for g, n := range map[string]int{"service:web": r.IntN(3), "service:api": r.IntN(2), "family:batch": r.IntN(2)} {
			if n > 0 {
				in.Groups[g] = n
				in.RunningTasks += n
			}
		}
		insts[i] = in
	}
	return insts
}

// BenchmarkPlace1000Instances places tasks on 1,000 instances; ns/placement
// is the figure to watch (the service targets 5,000 placements/s on 2 cores).
func BenchmarkPlace1000Instances(b *testing.B) {
	insts := benchCluster(1000)
	base := Resources{CPU: 256, Memory: 512, TCPPorts: []int{8080}}
	cases := []struct {
		name string
		req  TaskRequest
	}{
		{"service-default", TaskRequest{Resources: base, Group: "service:web", Strategies: DefaultServiceStrategies()}},
		{"spread-az+binpack-memory", TaskRequest{Resources: base, Group: "service:web",
			Strategies: []Strategy{spreadAZ, binpackMemoryStrategy}}},
		{"binpack-cpu", TaskRequest{Resources: base, Group: "family:batch", Strategies: []Strategy{binpackCPUStrategy}}},
		{"random", TaskRequest{Resources: base, Group: "family:batch"}},
		{"memberOf+distinct+spread", TaskRequest{Resources: base, Group: "service:api",
			Constraints: []Constraint{
				{Type: ConstraintDistinctInstance},
				{Type: ConstraintMemberOf, Expression: "attribute:ecs.instance-type =~ (t2|m5).* and attribute:ecs.availability-zone != us-east-1d"},
				{Type: ConstraintMemberOf, Expression: "not(task:group == family:batch)"},
			},
			Strategies: []Strategy{spreadAZ, spreadHost}}},
	}
	for _, tc := range cases {
		plan, err := Compile(tc.req)
		if err != nil {
			b.Fatal(err)
		}
		for _, count := range []int{1, 10} {
			b.Run(fmt.Sprintf("%s/count=%d", tc.name, count), func(b *testing.B) {
				opts := Options{Rand: rand.New(rand.NewPCG(7, 8))}
				b.ReportAllocs()
				for b.Loop() {
					res, err := plan.Place(insts, count, opts)
					if err != nil || len(res.Placements) != count {
						b.Fatalf("Place = %+v, %v", res, err)
					}
				}
				reportPerPlacement(b, count)
			})
		}
	}
	b.Run("compile+place/count=1", func(b *testing.B) {
		req := cases[len(cases)-1].req
		opts := Options{Rand: rand.New(rand.NewPCG(7, 8))}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Place(insts, req, 1, opts); err != nil {
				b.Fatal(err)
			}
		}
		reportPerPlacement(b, 1)
	})
}

func reportPerPlacement(b *testing.B, count int) {
	per := float64(b.Elapsed().Nanoseconds()) / float64(b.N*count)
	b.ReportMetric(per, "ns/placement")
	b.ReportMetric(1e9/per, "placements/s")
}

func BenchmarkExpr_Match(b *testing.B) {
	e, err := Parse("attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone != us-east-1d")
	if err != nil {
		b.Fatal(err)
	}
	in := testInstance("a")
	for b.Loop() {
		e.Match(&in)
	}
}
