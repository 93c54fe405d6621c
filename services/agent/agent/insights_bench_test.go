package agent

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/internal/testenv"
)

// TestBench_Insights50Containers (BERTH_BENCH=1): the agent's cost of one
// Container Insights sampling round over 50 running containers (5 tasks of
// 10), which is all that collection adds per interval: with it disabled the
// agent makes no stats call (TestInsights_OnlyWhenEnabled), only one
// DescribeClusters request per 10 s step. Measures the test process's CPU
// time (the agent runs in it; dockerd's own work is not counted) over 20 s
// with collection disabled and 20 s with it enabled at a 2 s interval.
func TestBench_Insights50Containers(t *testing.T) {
	if os.Getenv("BERTH_BENCH") != "1" {
		t.Skip("bench test: set BERTH_BENCH=1")
	}
	without, with, rounds := benchInsights(t)
	if rounds == 0 {
		t.Fatal("no sample published in the window")
	}
	per := (with - without) / time.Duration(rounds)
	t.Logf("50 containers, 20 s windows: agent process CPU %v without collection, %v with it (%d samples at a 2 s interval): %v per sampling round, %.3f%% of one core at the default 60 s interval",
		without, with, rounds, per, 100*per.Seconds()/60)
}

func benchInsights(t *testing.T) (without, with time.Duration, rounds int64) {
	e := newEnv(t, false)
	stream, err := natsutil.EnsureStream(t.Context(), e.js, events.StreamTelemetry, 1)
	if err != nil {
		t.Fatal(err)
	}
	var enabled atomic.Bool
	e.respond(events.SubjAPI(events.APIECS, "DescribeClusters"), func([]byte) any {
		v := events.ContainerInsightsDisabled
		if enabled.Load() {
			v = events.ContainerInsightsEnabled
		}
		return ecsapi.DescribeClustersResponse{Clusters: []ecsapi.Cluster{{ClusterName: e.cluster,
			Settings: []ecsapi.ClusterSetting{{Name: events.ClusterSettingContainerInsights, Value: v}}}}}
	})
	cfg := e.config()
	cfg.InsightsInterval = 2 * time.Second
	a, _ := e.start(cfg)
	var arns []string
	for i := range 5 {
		def := ecsapi.TaskDefinition{Family: fmt.Sprintf("fifty%d", i)}
		for j := range 10 {
			def.ContainerDefinitions = append(def.ContainerDefinitions, sleeper(fmt.Sprintf("c%d", j), 0))
		}
		asg := e.task(a.ContainerInstanceArn(), def)
		e.put(asg)
		arns = append(arns, asg.TaskArn)
	}
	for _, arn := range arns {
		e.waitStatus(arn, 5*time.Minute, "RUNNING")
	}
	const window = 20 * time.Second
	c0 := testenv.CPUTime()
	<-time.After(window) // a measurement window, not a synchronisation
	without = testenv.CPUTime() - c0
	if n := a.InsightsStatsCalls(); n != 0 {
		t.Fatalf("disabled: %d stats calls", n)
	}
	enabled.Store(true)
	enabledAt := time.Now()
	natstest.Eventually(t, 3*time.Minute, 100*time.Millisecond, func() error {
		info, err := stream.Info(t.Context())
		if err != nil || info.State.Msgs == 0 {
			return fmt.Errorf("no sample yet (%d stats calls): %v", a.InsightsStatsCalls(), err)
		}
		return nil
	})
	t.Logf("first sample %v after enabling, %d stats calls", time.Since(enabledAt).Round(time.Millisecond), a.InsightsStatsCalls())
	info0, _ := stream.Info(t.Context())
	c0 = testenv.CPUTime()
	<-time.After(window)
	with = testenv.CPUTime() - c0
	info1, _ := stream.Info(t.Context())
	return without, with, int64(info1.State.Msgs - info0.State.Msgs)
}
