package control_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/internal/simagent"
	"github.com/berth-project/berth/internal/svc"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/services/scheduler/control"
)

// The loads of the placement benchmark: the number of concurrent RunTask
// callers, each waiting for its answer. At 64 one replica keeps this
// two-core machine nearly busy, several replicas less so: each replica's
// rounds queue at the state stream behind the others', so they wait longer.
// At 256 every configuration keeps the machine busy, so that load measures
// capacity (BENCHMARKS.md, eleventh round). The NATS callers run both.
const (
	benchClients     = 64
	benchClientsHigh = 256
)

// BenchmarkPlacement measures tasks placed per second on 1,000 simulated
// instances: concurrent clients call RunTask (count 10, random placement)
// straight over NATS (64 and 256 callers) and through the gateway (SigV4,
// HTTP, 64 callers), with one, two and three scheduler replicas. The
// agents take their assignments and report nothing, so the number is
// placement alone; the instances are large enough never to fill up. cores
// is the CPU the process used over the run's time; conflicts/task the
// commits that lost a compare-and-set race, over every replica, per task
// placed; widened/call the RunTask calls that did not fit on their
// replica's shards; holes-read the holes in the feed of commits that
// replicas read from the stream (digests late or lost; feed.go). The
// garbage collector runs at the binaries' default target (svc.DefaultGC).
//
//	go test -run '^$' -bench Placement -benchtime 2000x ./services/scheduler/control/
func BenchmarkPlacement(b *testing.B) {
	defer svc.DefaultGC(os.Getenv)()
	for _, replicas := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("replicas=%d", replicas), func(b *testing.B) {
			e, td := placementEnv(b, replicas)
			for _, callers := range []int{benchClients, benchClientsHigh} {
				b.Run(fmt.Sprintf("nats/callers=%d", callers), func(b *testing.B) {
					runBench(b, e, callers, natsRunTask(b, e, td))
				})
			}
			b.Run("gateway", func(b *testing.B) {
				c := e.ECS()
				runBench(b, e, benchClients, func(ctx context.Context) (int, error) {
					out, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("bench"), TaskDefinition: aws.String(td), Count: aws.Int32(10)})
					if err != nil {
						return 0, err
					}
					return len(out.Tasks), nil
				})
			})
		})
	}
}

// scalingRounds is how many times BenchmarkPlacementScaling runs each
// configuration.
const scalingRounds = 3

// BenchmarkPlacementScaling compares the capacity of one, two and three
// replicas in one run: scalingRounds rounds, each running the three
// configurations in turn (each round starting with another), each on a
// fresh server and fleet, so that the machine's drift and the process's
// heap fall on every configuration alike (BenchmarkPlacement runs them in
// a fixed order). Each run is BenchmarkPlacement's NATS load at
// benchClientsHigh callers, where every configuration keeps the machine's
// cores busy. It logs (with -v) each configuration's mean tasks per second
// and its ratio to one replica's.
//
//	go test -v -run '^$' -bench PlacementScaling -benchtime 3000x ./services/scheduler/control/
func BenchmarkPlacementScaling(b *testing.B) {
	defer svc.DefaultGC(os.Getenv)()
	// A first run, not counted: a process's first run tends to be its
	// slowest.
	b.Run("warmup/replicas=1", func(b *testing.B) {
		e, td := placementEnv(b, 1)
		b.Run("nats", func(b *testing.B) { runBench(b, e, benchClientsHigh, natsRunTask(b, e, td)) })
	})
	var rates [4][scalingRounds]float64 // tasks/s by replicas and round
	for round := range scalingRounds {
		for i := range 3 {
			replicas := (round+i)%3 + 1 // each round starts with another
			b.Run(fmt.Sprintf("round=%d/replicas=%d", round+1, replicas), func(b *testing.B) {
				e, td := placementEnv(b, replicas)
				b.Run("nats", func(b *testing.B) {
					// The framework runs this once with b.N = 1 first; the
					// last run's rate is the one kept.
					rates[replicas][round] = runBench(b, e, benchClientsHigh, natsRunTask(b, e, td))
				})
			})
		}
	}
	mean := func(r [scalingRounds]float64) float64 {
		var sum float64
		for _, v := range r {
			sum += v
		}
		return sum / scalingRounds
	}
	for replicas := 1; replicas <= 3; replicas++ {
		b.Logf("replicas=%d: tasks/s %.0f, mean %.0f, %.2fx one replica's",
			replicas, rates[replicas], mean(rates[replicas]), mean(rates[replicas])/mean(rates[1]))
	}
}

// placementEnv starts the placement benchmarks' scheduler: replicas
// replicas on a file-backed server, and a cluster "bench" of 1,000
// simulated instances too large ever to fill up whose agents take their
// assignments and report nothing. It returns a one-container task
// definition's ARN.
func placementEnv(b *testing.B, replicas int) (*schedEnv, string) {
	e := startSchedOn(b, benchEnv(b), replicas, control.Config{Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	e.waitReplicas(b)
	e.cluster(b, "bench")
	e.fleet(b, simagent.FleetConfig{Count: 1000, Parallel: 32, Template: simagent.Config{
		Cluster: "bench", CPU: 1 << 30, Memory: 1 << 30, Hold: true, HeartbeatInterval: events.HeartbeatInterval,
	}})
	return e, e.taskDef(b, "bench", 1, 1)
}

// natsRunTask is a RunTask of ten tasks of td on "bench", straight over
// NATS on a connection of its own.
func natsRunTask(b *testing.B, e *schedEnv, td string) func(ctx context.Context) (int, error) {
	nc := natstest.Connect(b, e.Server)
	return func(ctx context.Context) (int, error) {
		var out ecsapi.RunTaskResponse
		err := natsutil.Call(ctx, nc, events.SubjAPI(events.APIECS, "RunTask"),
			ecsapi.RunTaskRequest{Cluster: "bench", TaskDefinition: td, Count: awsjson.Int32(10)}, &out)
		return len(out.Tasks), err
	}
}

// waitReplicas waits until every replica knows every other (each owns its
// share of the placement shards).
func (e *schedEnv) waitReplicas(t testing.TB) {
	t.Helper()
	natstest.Eventually(t, 15*time.Second, 20*time.Millisecond, func() error {
		for i, r := range e.replicas {
			if st := r.Stats(); st.Replicas != len(e.replicas) {
				return fmt.Errorf("replica %d knows %d replicas of %d", i, st.Replicas, len(e.replicas))
			}
		}
		return nil
	})
}

// stats sums the replicas' placement counters.
func (e *schedEnv) stats() control.Stats {
	var sum control.Stats
	for _, r := range e.replicas {
		st := r.Stats()
		sum.Commits += st.Commits
		sum.Conflicts += st.Conflicts
		sum.TasksPlaced += st.TasksPlaced
		sum.Narrowed += st.Narrowed
		sum.Widened += st.Widened
		sum.FeedReads += st.FeedReads
	}
	return sum
}

// benchEnv starts the NATS server the benchmarks use: file storage in a
// temporary directory, or on tmpfs (/dev/shm) with BERTH_BENCH_SHM=1, to
// tell the scheduler's own cost from the disk's (an atomic batch on a
// one-replica file stream is synced to disk at commit).
func benchEnv(b *testing.B) *testenv.Env {
	opts := natstest.Options(b)
	if os.Getenv("BERTH_BENCH_SHM") == "1" {
		dir, err := os.MkdirTemp("/dev/shm", "berth-bench-")
		must(b, err)
		b.Cleanup(func() { _ = os.RemoveAll(dir) })
		opts.StoreDir = dir
	}
	return testenv.NewOn(b, natstest.StartWith(b, opts))
}

// runBench makes b.N calls from callers goroutines and reports tasks placed
// per second and the calls' latency. It returns the tasks placed per second.
func runBench(b *testing.B, e *schedEnv, callers int, call func(ctx context.Context) (int, error)) float64 {
	before := e.stats()
	cpu0 := testenv.CPUTime()
	var next, placed atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				n, err := call(ctx)
				cancel()
				if err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
				placed.Add(int64(n))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if placed.Load() != 10*int64(b.N) {
		b.Fatalf("placed %d tasks of %d", placed.Load(), 10*b.N)
	}
	after := e.stats()
	// The process's CPU time per task (server, replicas, agents and
	// clients share it): what a task costs whatever else the machine runs.
	cpu := testenv.CPUTime() - cpu0
	b.ReportMetric(float64(cpu.Microseconds())/float64(placed.Load()), "cpu-µs/task")
	// Cores the process kept busy: at the machine's two, a configuration
	// is at its capacity; below, its callers wait on latency.
	b.ReportMetric(cpu.Seconds()/elapsed.Seconds(), "cores")
	rate := float64(placed.Load()) / elapsed.Seconds()
	b.ReportMetric(rate, "tasks/s")
	b.ReportMetric(float64(after.Conflicts-before.Conflicts)/float64(placed.Load()), "conflicts/task")
	b.ReportMetric(float64(after.Commits-before.Commits), "commits")
	b.ReportMetric(float64(after.Widened-before.Widened)/float64(b.N), "widened/call")
	b.ReportMetric(float64(after.FeedReads-before.FeedReads), "holes-read")
	b.ReportMetric(float64(percentile(lat, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 99).Microseconds())/1000, "p99-ms")
	return rate
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

// The latency benchmark's load: a few callers pausing between calls, so
// the system is busy (about 100 tasks/s, 4 events each) but not saturated.
const (
	latencyCallers = 2
	latencyPause   = 10 * time.Millisecond
)

// BenchmarkEventLatency measures how long a committed task change takes
// to reach a subscriber of the EVENTS stream: the time the subscriber
// (a JetStream ordered consumer) receives the "ECS Task State Change" of a
// version, minus the server's storage timestamp of that version of the
// task record (read from a KV watch). Tasks run through their whole life
// on simulated agents, so the changes are placements (atomic batches),
// agent reports (single writes) and stops (batches). The garbage
// collector runs at the binaries' default target, as in BenchmarkPlacement.
//
//	go test -run '^$' -bench EventLatency -benchtime 500x ./services/scheduler/control/
func BenchmarkEventLatency(b *testing.B) {
	defer svc.DefaultGC(os.Getenv)()
	for _, replicas := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("replicas=%d", replicas), func(b *testing.B) {
			e := startSchedOn(b, benchEnv(b), replicas, control.Config{})
			e.waitReplicas(b)
			e.cluster(b, "lat")
			e.fleet(b, simagent.FleetConfig{Count: 20, Template: simagent.Config{
				Cluster: "lat", CPU: 1 << 20, Memory: 1 << 20, PullTime: time.Millisecond, RunTime: 5 * time.Millisecond,
			}})
			td := e.taskDef(b, "lat", 1, 1)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()

			var mu sync.Mutex
			committed := map[string]time.Time{} // arn#version -> stored at
			received := map[string]time.Time{}
			status := map[string]string{}
			_, js := natstest.JetStream(b, e.Server)
			kv, err := js.KeyValue(ctx, events.BucketECSState.Name)
			must(b, err)
			w, err := kv.Watch(ctx, events.TaskFilter("lat"), jetstream.UpdatesOnly())
			must(b, err)
			defer func() { _ = w.Stop() }()
			go func() {
				for en := range w.Updates() {
					if en == nil || en.Operation() != jetstream.KeyValuePut {
						continue
					}
					var t struct {
						ARN     string `json:"arn"`
						Version int64  `json:"version"`
					}
					if json.Unmarshal(en.Value(), &t) == nil {
						mu.Lock()
						committed[events.ECSEventMsgID(t.ARN, t.Version)] = en.Created()
						mu.Unlock()
					}
				}
			}()
			cons, err := js.OrderedConsumer(ctx, events.StreamEvents.Name, jetstream.OrderedConsumerConfig{
				FilterSubjects: []string{events.SubjECSEventFilter("lat", events.KindTask)}, DeliverPolicy: jetstream.DeliverNewPolicy,
			})
			must(b, err)
			cc, err := cons.Consume(func(m jetstream.Msg) {
				at := time.Now()
				var ev struct {
					Detail events.TaskDetail `json:"detail"`
				}
				if json.Unmarshal(m.Data(), &ev) == nil {
					mu.Lock()
					received[events.ECSEventMsgID(ev.Detail.TaskArn, ev.Detail.Version)] = at
					status[events.ECSEventMsgID(ev.Detail.TaskArn, ev.Detail.Version)] = ev.Detail.LastStatus
					mu.Unlock()
				}
			})
			must(b, err)
			defer cc.Stop()

			nc := natstest.Connect(b, e.Server)
			b.ResetTimer()
			var wg sync.WaitGroup
			var next atomic.Int64
			for range latencyCallers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						var out ecsapi.RunTaskResponse
						if err := natsutil.Call(ctx, nc, events.SubjAPI(events.APIECS, "RunTask"),
							ecsapi.RunTaskRequest{Cluster: "lat", TaskDefinition: td}, &out); err != nil {
							b.Error(err)
							return
						}
						time.Sleep(latencyPause)
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			// Wait until every task's STOPPED event has arrived.
			natstest.Eventually(b, time.Minute, 20*time.Millisecond, func() error {
				mu.Lock()
				defer mu.Unlock()
				stopped := 0
				for _, st := range status {
					if st == events.TaskStopped {
						stopped++
					}
				}
				if stopped < b.N {
					return fmt.Errorf("%d of %d tasks' STOPPED events arrived", stopped, b.N)
				}
				return nil
			})
			mu.Lock()
			var lat []time.Duration
			byStatus := map[string][]time.Duration{}
			for id, at := range received {
				if c, ok := committed[id]; ok {
					lat = append(lat, at.Sub(c))
					byStatus[status[id]] = append(byStatus[status[id]], at.Sub(c))
				}
			}
			for _, st := range []string{events.TaskProvisioning, events.TaskPending, events.TaskRunning, events.TaskStopped} {
				if l := byStatus[st]; len(l) > 0 {
					b.Logf("%-12s %4d events  p50 %v  p99 %v", st, len(l), percentile(l, 50), percentile(l, 99))
				}
			}
			mu.Unlock()
			if len(lat) == 0 {
				b.Fatal("no event matched a commit")
			}
			b.ReportMetric(float64(len(lat)), "events")
			b.ReportMetric(float64(percentile(lat, 50).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(percentile(lat, 99).Microseconds())/1000, "p99-ms")
		})
	}
}
