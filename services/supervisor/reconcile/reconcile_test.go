package reconcile

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
)

func TestThreshold(t *testing.T) {
	for _, c := range []struct{ desired, want int32 }{{1, 10}, {3, 10}, {20, 10}, {21, 11}, {25, 13}, {400, 200}, {1000, 200}} {
		if got := Threshold(c.desired); got != c.want {
			t.Errorf("Threshold(%d) = %d, want %d", c.desired, got, c.want)
		}
	}
}

func TestDeploymentID(t *testing.T) {
	re := regexp.MustCompile(`^ecs-svc/[0-9]{19}$`)
	now := time.Unix(1_800_000_000, 123)
	seen := map[string]bool{}
	for seq := int64(1); seq < 30; seq++ {
		id := DeploymentID(now, seq)
		if !re.MatchString(id) || seen[id] {
			t.Fatalf("DeploymentID = %q (seen %v)", id, seen[id])
		}
		seen[id] = true
	}
}

func TestBounds(t *testing.T) {
	rec := &events.ServiceRecord{SchedulingStrategy: events.SchedulingReplica}
	for _, c := range []struct {
		desired, minP, maxP int32
		lo, hi              int
	}{{4, 50, 200, 2, 8}, {3, 50, 200, 2, 6}, {3, 100, 200, 3, 6}, {3, 0, 100, 0, 3}, {5, 50, 150, 3, 7}} {
		rec.DeploymentConfiguration = ecsapi.DeploymentConfiguration{MinimumHealthyPercent: awsjson.Int32(c.minP), MaximumPercent: awsjson.Int32(c.maxP)}
		if lo, hi := bounds(rec, c.desired); lo != c.lo || hi != c.hi {
			t.Errorf("bounds(%d, %d%%, %d%%) = %d, %d; want %d, %d", c.desired, c.minP, c.maxP, lo, hi, c.lo, c.hi)
		}
	}
}

// world is a fake scheduler: the tasks it knows and how they fare.
type world struct {
	rng    *rand.Rand
	tasks  map[string]*TaskObs
	n      int
	fail   func(taskDef string) bool
	starts map[string]int // launches' tokens seen
}

func (w *world) run(rec *events.ServiceRecord, l events.ServiceLaunch, now time.Time, p Params) {
	w.starts[l.Token]++
	var r LaunchResult
	for range l.Count {
		w.n++
		arn := fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:task/c/%032x", w.n)
		w.tasks[arn] = &TaskObs{LastStatus: events.TaskPending, DesiredStatus: events.DesiredRunning, Instance: "i-1"}
		r.Tasks = append(r.Tasks, Started{ARN: arn, Instance: "i-1", LastStatus: events.TaskPending, DesiredStatus: events.DesiredRunning})
	}
	FoldLaunch(rec, l.Token, r, now, p)
}

// step moves every task forward at random.
func (w *world) step(rec *events.ServiceRecord, now time.Time) {
	taskDef := map[string]string{}
	for _, d := range rec.Deployments {
		taskDef[d.ID] = d.TaskDefinition
	}
	dep := map[string]string{}
	for _, t := range rec.Tasks {
		dep[t.ARN] = t.Deployment
	}
	for arn, o := range w.tasks {
		switch {
		case o.LastStatus == events.TaskStopped:
		case o.DesiredStatus == events.DesiredStopped && w.rng.IntN(2) == 0:
			o.LastStatus = events.TaskStopped
		case o.LastStatus == events.TaskPending && w.fail(taskDef[dep[arn]]):
			o.LastStatus, o.DesiredStatus = events.TaskStopped, events.DesiredStopped
		case o.LastStatus == events.TaskPending && w.rng.IntN(2) == 0:
			o.LastStatus = events.TaskRunning
			at := now
			o.StartedAt = &at
		}
	}
}

func (w *world) obs() map[string]TaskObs {
	out := map[string]TaskObs{}
	for arn, o := range w.tasks {
		out[arn] = *o
	}
	return out
}

func testParams() Params {
	n := 0
	return Params{
		Region: "us-east-1", Account: "123456789012", HealthyAfter: 200 * time.Millisecond,
		BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second, PlaceRetry: 100 * time.Millisecond,
		NewID: func() string { n++; return fmt.Sprintf("id-%d", n) },
	}
}

func newService(desired, minP, maxP int32, now time.Time, p Params) *events.ServiceRecord {
	rec := &events.ServiceRecord{
		Name: "web", ARN: "arn:aws:ecs:us-east-1:123456789012:service/c/web", Cluster: "c",
		Status: events.ServiceActive, DesiredCount: desired, SchedulingStrategy: events.SchedulingReplica,
		DeploymentConfiguration: ecsapi.DeploymentConfiguration{
			MinimumHealthyPercent: awsjson.Int32(minP), MaximumPercent: awsjson.Int32(maxP),
			DeploymentCircuitBreaker: &ecsapi.DeploymentCircuitBreaker{Enable: awsjson.Bool(true), Rollback: awsjson.Bool(true)},
		},
	}
	rec.Seq = 1
	AddDeployment(rec, NewDeployment(DeploymentID(now, 1), "td:1", desired, false, now))
	return rec
}

// settle runs decisions until the PRIMARY deployment is no longer
// IN_PROGRESS and one deployment is left, checking the bounds after every
// decision; it returns the number of steps.
func settle(t *testing.T, w *world, rec *events.ServiceRecord, now *time.Time, p Params, steps int) int {
	t.Helper()
	lo, hi := bounds(rec, rec.DesiredCount)
	for i := range steps {
		healthyBefore := 0
		d := &decider{rec: rec, in: &Input{Now: *now}, p: p}
		for j := range rec.Tasks {
			if d.healthy(&rec.Tasks[j]) {
				healthyBefore++
			}
		}
		res := Decide(rec, Input{Now: *now, Tasks: w.obs()}, p)
		for _, st := range res.Stops {
			if o := w.tasks[st.ARN]; o != nil && o.LastStatus != events.TaskStopped {
				o.DesiredStatus = events.DesiredStopped
			}
		}
		live, healthy := 0, 0
		d = &decider{rec: rec, in: &Input{Now: *now}, p: p}
		for j := range rec.Tasks {
			live++
			if d.healthy(&rec.Tasks[j]) {
				healthy++
			}
		}
		for _, l := range rec.Launches {
			live += int(l.Count)
		}
		if live > hi {
			t.Fatalf("step %d: %d tasks, maximum %d", i, live, hi)
		}
		if healthy < min(lo, healthyBefore) {
			t.Fatalf("step %d: %d healthy after the decision (%d before), minimum %d", i, healthy, healthyBefore, lo)
		}
		for _, l := range slices.Clone(rec.Launches) {
			w.run(rec, l, *now, p)
		}
		w.step(rec, *now)
		*now = now.Add(50 * time.Millisecond)
		if len(rec.Deployments) == 1 && rec.Deployments[0].RolloutState != events.RolloutInProgress && rec.Steady {
			return i
		}
	}
	t.Fatalf("not settled after %d steps: %+v", steps, rec.Deployments)
	return 0
}

// TestDecide_RollingProperties runs random worlds: whatever the order in
// which tasks start, fail and stop, no decision exceeds maximumPercent or
// stops a healthy task below minimumHealthyPercent, every launch is sent
// once, and every deployment completes (or fails and rolls back).
func TestDecide_RollingProperties(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, seed*7+1))
		desired := int32(1 + rng.IntN(12))
		minP := int32([]int{0, 25, 50, 100}[rng.IntN(4)])
		maxP := int32([]int{100, 125, 150, 200}[rng.IntN(4)])
		probe := &events.ServiceRecord{DeploymentConfiguration: ecsapi.DeploymentConfiguration{MinimumHealthyPercent: awsjson.Int32(minP), MaximumPercent: awsjson.Int32(maxP)}}
		if lo, hi := bounds(probe, desired); lo >= int(desired) && hi <= int(desired) {
			// Neither a start nor a stop fits: ECS is stuck too (the
			// "unable to stop or start tasks" event); TestDecide_Stuck.
			maxP = 200
		}
		t.Run(fmt.Sprintf("seed%d_d%d_min%d_max%d", seed, desired, minP, maxP), func(t *testing.T) {
			p := testParams()
			now := time.Unix(1_800_000_000, 0)
			bad := rng.IntN(3) == 0
			w := &world{rng: rng, tasks: map[string]*TaskObs{}, starts: map[string]int{}, fail: func(td string) bool { return td == "td:bad" }}
			rec := newService(desired, minP, maxP, now, p)
			settle(t, w, rec, &now, p, 2000)
			next := "td:2"
			if bad {
				next = "td:bad"
			}
			rec.Seq++
			AddDeployment(rec, NewDeployment(DeploymentID(now, rec.Seq), next, desired, false, now))
			settle(t, w, rec, &now, p, 5000)
			want := "td:2"
			if bad {
				want = "td:1"
			}
			if rec.TaskDefinition != want || len(rec.Tasks) != int(desired) {
				t.Fatalf("settled on %s with %d tasks; want %s with %d", rec.TaskDefinition, len(rec.Tasks), want, desired)
			}
			for token, n := range w.starts {
				if n != 1 {
					t.Fatalf("launch %s sent %d times", token, n)
				}
			}
		})
	}
}

func TestDecide_Stuck(t *testing.T) {
	p := testParams()
	now := time.Unix(1_800_000_000, 0)
	w := &world{rng: rand.New(rand.NewPCG(1, 2)), tasks: map[string]*TaskObs{}, starts: map[string]int{}, fail: func(string) bool { return false }}
	rec := newService(1, 50, 125, now, p)
	settle(t, w, rec, &now, p, 1000)
	rec.Seq++
	AddDeployment(rec, NewDeployment(DeploymentID(now, rec.Seq), "td:2", 1, false, now))
	for range 20 {
		Decide(rec, Input{Now: now, Tasks: w.obs()}, p)
		now = now.Add(50 * time.Millisecond)
	}
	want := "(service web) was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again."
	n := 0
	for _, e := range rec.Events {
		if e.Message == want {
			n++
		}
	}
	if n != 1 || len(rec.Launches) != 0 || rec.Tasks[0].StopReason != "" {
		t.Fatalf("stuck event %d times, launches %d, tasks %+v", n, len(rec.Launches), rec.Tasks)
	}
}
