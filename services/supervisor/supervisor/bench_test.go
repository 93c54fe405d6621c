package supervisor_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/internal/simagent"
)

// Benchmark sizes: 200 services of 10 tasks on 1,000 simulated instances.
const (
	benchServices  = 200
	benchTasks     = 10
	benchInstances = 1000
	benchClients   = 16
)

// BenchmarkServices measures, side by side on the same 1,000 simulated
// instances: the same 2,000 tasks started by 200 RunTask calls (count 10)
// until all RUNNING; 200 services of 10 tasks from CreateService until all
// are stable (services-stable: one deployment, runningCount ==
// desiredCount); a rolling deployment of all 200 (min 100 / max 200) until
// all are stable again. The supervisor runs as its own process, so its CPU
// time (utime + stime from /proc) is its own.
//
//	go test -run '^$' -bench Services -benchtime 1x -timeout 30m ./services/supervisor/supervisor/
func BenchmarkServices(b *testing.B) {
	for range b.N {
		benchServicesOnce(b)
	}
}

func benchServicesOnce(b *testing.B) {
	e := start(b, 0)
	ctx := context.Background()
	e.cluster(b, "bench")
	fctx, cancel := context.WithCancel(context.Background())
	fleet, err := simagent.StartFleet(fctx, natstest.Connect(b, e.Server), simagent.FleetConfig{Count: benchInstances, Parallel: 32, Template: simagent.Config{
		Cluster: "bench", CPU: 4096, Memory: 8192, HeartbeatInterval: events.HeartbeatInterval, PullTime: 50 * time.Millisecond,
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cancel(); fleet.Wait() })
	td1 := e.taskDef(b, "bench", "app:1")
	td2 := e.taskDef(b, "bench", "app:2")
	nc := natstest.Connect(b, e.Server)
	call := func(op string, in, out any) error {
		return natsutil.Call(ctx, nc, events.SubjAPI(events.APIECS, op), in, out)
	}

	// RunTask: 200 calls of 10 tasks.
	t0 := time.Now()
	parallel(b, benchServices, func(i int) error {
		var out ecsapi.RunTaskResponse
		err := call("RunTask", &ecsapi.RunTaskRequest{Cluster: "bench", TaskDefinition: td1, Count: awsjson.Int32(benchTasks), Group: fmt.Sprintf("service:run%d", i)}, &out)
		if err == nil && len(out.Tasks) != benchTasks {
			err = fmt.Errorf("RunTask: %d tasks, failures %v", len(out.Tasks), out.Failures)
		}
		return err
	})
	waitRunning(b, e, benchServices*benchTasks)
	runTask := time.Since(t0)
	// Stop them.
	var arns []string
	next := ""
	for {
		var out ecsapi.ListTasksResponse
		if err := call("ListTasks", &ecsapi.ListTasksRequest{Cluster: "bench", NextToken: next}, &out); err != nil {
			b.Fatal(err)
		}
		arns = append(arns, out.TaskArns...)
		if next = out.NextToken; next == "" {
			break
		}
	}
	parallel(b, len(arns), func(i int) error {
		return call("StopTask", &ecsapi.StopTaskRequest{Cluster: "bench", Task: arns[i]}, nil)
	})
	waitRunning(b, e, 0)

	procs := e.startProcs(b, 1)
	cpu0 := procCPU(b, procs[0].cmd.Process.Pid)
	t0 = time.Now()
	parallel(b, benchServices, func(i int) error {
		return call("CreateService", &ecsapi.CreateServiceRequest{
			Cluster: "bench", ServiceName: fmt.Sprintf("svc%d", i), TaskDefinition: td1, DesiredCount: awsjson.Int32(benchTasks),
		}, nil)
	})
	waitServices(b, call, td1)
	create := time.Since(t0)
	cpu1 := procCPU(b, procs[0].cmd.Process.Pid)
	decisions1 := procs[0].decisions()

	t0 = time.Now()
	parallel(b, benchServices, func(i int) error {
		return call("UpdateService", &ecsapi.UpdateServiceRequest{Cluster: "bench", Service: fmt.Sprintf("svc%d", i), TaskDefinition: td2}, nil)
	})
	waitServices(b, call, td2)
	rolling := time.Since(t0)
	cpu2 := procCPU(b, procs[0].cmd.Process.Pid)
	decisions2 := procs[0].decisions()

	b.ReportMetric(runTask.Seconds(), "runtask-s")
	b.ReportMetric(create.Seconds(), "create-stable-s")
	b.ReportMetric(rolling.Seconds(), "rolling-stable-s")
	b.ReportMetric(float64((cpu1-cpu0).Milliseconds())/benchServices, "create-cpu-ms/service")
	b.ReportMetric(float64((cpu2-cpu1).Milliseconds())/benchServices, "rolling-cpu-ms/service")
	b.Logf("2,000 tasks on %d instances: RunTask x200 -> all RUNNING %v; CreateService x200 -> all stable %v (supervisor CPU %v, %d decisions); rolling deployment of all 200 -> all stable %v (supervisor CPU %v, %d decisions)",
		benchInstances, runTask.Round(time.Millisecond), create.Round(time.Millisecond), cpu1-cpu0, decisions1, rolling.Round(time.Millisecond), cpu2-cpu1, decisions2-decisions1)
}

// parallel runs fn(0..n-1) on benchClients goroutines.
func parallel(b *testing.B, n int, fn func(i int) error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	work := make(chan int)
	for range benchClients {
		wg.Go(func() {
			for i := range work {
				if err := fn(i); err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// waitRunning waits until the cluster runs n tasks and has none pending.
func waitRunning(b *testing.B, e *svcEnv, n int) {
	natstest.Eventually(b, 10*time.Minute, 100*time.Millisecond, func() error {
		out, err := e.ecs.DescribeClusters(context.Background(), &ecs.DescribeClustersInput{Clusters: []string{"bench"}})
		if err != nil {
			return err
		}
		c := out.Clusters[0]
		if int(c.RunningTasksCount) != n || c.PendingTasksCount != 0 {
			return fmt.Errorf("running %d pending %d, want %d", c.RunningTasksCount, c.PendingTasksCount, n)
		}
		return nil
	})
}

// waitServices waits until every service is stable on taskDef.
func waitServices(b *testing.B, call func(op string, in, out any) error, taskDef string) {
	natstest.Eventually(b, 20*time.Minute, 200*time.Millisecond, func() error {
		for i := 0; i < benchServices; i += 10 {
			names := make([]string, 0, 10)
			for j := i; j < i+10; j++ {
				names = append(names, fmt.Sprintf("svc%d", j))
			}
			var out ecsapi.DescribeServicesResponse
			if err := call("DescribeServices", &ecsapi.DescribeServicesRequest{Cluster: "bench", Services: names}, &out); err != nil {
				return err
			}
			for _, s := range out.Services {
				if len(s.Deployments) != 1 || awsjson.Value(s.RunningCount) != benchTasks || !strings.HasSuffix(s.TaskDefinition, taskDef) {
					return fmt.Errorf("%s: %d deployments, running %d", s.ServiceName, len(s.Deployments), awsjson.Value(s.RunningCount))
				}
			}
		}
		return nil
	})
}

// procCPU is a process's user + system CPU time.
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * (time.Second / 100)
}
