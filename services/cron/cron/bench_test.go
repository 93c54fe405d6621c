package cron_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/testenv"
)

// TestBench_Lateness measures, for 10,000 schedules on rate(1 minute) with
// an EventBridge target (so the cron pipeline is measured, not the ECS
// scheduler), the lateness of each fire (invocation time minus occurrence
// time, from the invocation events) and the CPU the cron processes spend
// per fire, with 1 and 3 replicas as real processes, and the CPU of the
// test process (the NATS server and the gateway) in the same window, and
// how many times each occurrence was published. Run with
// BERTH_BENCH=1; it takes several minutes.
func TestBench_Lateness(t *testing.T) {
	if os.Getenv("BERTH_BENCH") != "1" {
		t.Skip("benchmark: set BERTH_BENCH=1")
	}
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("BERTH_BENCH_SCHEDULES")); err == nil {
		n = v
	}
	window := 90 * time.Second
	bin := buildCron(t)
	for _, replicas := range []int{1, 3} {
		t.Run(fmt.Sprintf("replicas=%d", replicas), func(t *testing.T) {
			benchLateness(t, bin, n, replicas, window)
		})
	}
}

func benchLateness(t *testing.T, bin string, n, replicas int, window time.Duration) {
	w := newBaseWorld(t)
	var procs []*exec.Cmd
	for range replicas {
		procs = append(procs, w.startCronProc(bin))
	}
	w.WaitFor(t, "cron")
	c := w.scheduler()
	bus := "arn:aws:events:" + testenv.Region + ":" + testenv.Account + ":event-bus/default"
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			_, err := c.CreateSchedule(context.Background(), &scheduler.CreateScheduleInput{
				Name: aws.String(fmt.Sprintf("b-%05d", i)), ScheduleExpression: aws.String("rate(1 minute)"),
				FlexibleTimeWindow: &schedtypes.FlexibleTimeWindow{Mode: schedtypes.FlexibleTimeWindowModeOff},
				Target: &schedtypes.Target{Arn: aws.String(bus), RoleArn: aws.String(roleARN), Input: aws.String(`{"n":1}`),
					EventBridgeParameters: &schedtypes.EventBridgeParameters{DetailType: aws.String("Tick"), Source: aws.String("bench")}},
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	t.Logf("created %d schedules in %s", n, time.Since(start).Round(time.Millisecond))

	// Every publish of an occurrence, duplicates included (the stream
	// keeps one per message id).
	var publishes atomic.Int64
	sub, err := w.NC.Subscribe(events.SubjCronFireAll, func(*nats.Msg) { publishes.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	cpu0, self0 := cpuTicks(t, procs), testenv.CPUTime()
	time.Sleep(window) // the measurement window
	cpu1, self1 := cpuTicks(t, procs), testenv.CPUTime()
	t1 := time.Now()
	_ = sub.Unsubscribe()

	lates := invocationLateness(t, w, t0, t1)
	slices.Sort(lates)
	if len(lates) == 0 {
		t.Fatal("no invocations in the window")
	}
	pct := func(p float64) time.Duration { return lates[min(len(lates)-1, int(p*float64(len(lates))))] }
	cpu := time.Duration(cpu1-cpu0) * 10 * time.Millisecond // USER_HZ 100
	self := self1 - self0
	t.Logf("replicas=%d schedules=%d window=%s fires=%d (%.0f/min) lateness p50=%s p99=%s max=%s cpu=%s cpu/fire=%s nats+gateway cpu=%s (%s/fire) publishes/fire=%.2f",
		replicas, n, window, len(lates), float64(len(lates))/window.Minutes(), pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond),
		lates[len(lates)-1].Round(time.Millisecond), cpu, (cpu / time.Duration(len(lates))).Round(time.Microsecond),
		self.Round(time.Millisecond), (self / time.Duration(len(lates))).Round(time.Microsecond), float64(publishes.Load())/float64(len(lates)))
}

// cpuTicks sums utime+stime of the processes (clock ticks).
func cpuTicks(t testing.TB, procs []*exec.Cmd) int64 {
	t.Helper()
	var total int64
	for _, p := range procs {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		total += u + s
	}
	return total
}

// invocationLateness reads the invocation events published between t0 and
// t1 and returns invokedAt - occurrence of each.
func invocationLateness(t testing.TB, w *world, t0, t1 time.Time) []time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	oc, err := w.JS.OrderedConsumer(ctx, events.StreamEvents.Name, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"events.cron.>"}, DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &t0,
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Duration
	for {
		msg, err := oc.Next(jetstream.FetchMaxWait(2 * time.Second))
		if err != nil {
			return out
		}
		md, _ := msg.Metadata()
		if md != nil && md.Timestamp.After(t1) {
			return out
		}
		var ev struct {
			DetailType string `json:"detail-type"`
			Detail     struct {
				Occurrence time.Time `json:"occurrence"`
				InvokedAt  time.Time `json:"invokedAt"`
			} `json:"detail"`
		}
		if json.Unmarshal(msg.Data(), &ev) != nil || ev.DetailType != events.DetailCronInvocation {
			continue
		}
		out = append(out, ev.Detail.InvokedAt.Sub(ev.Detail.Occurrence))
	}
}
