package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
)

// TestInsights_OnlyWhenEnabled: with containerInsights disabled the agent
// makes no stats call and publishes nothing, over several intervals (it
// asks for the setting each step); once enabled it samples its running
// task and publishes CpuUtilized in CPU units for a container that burns a
// core.
func TestInsights_OnlyWhenEnabled(t *testing.T) {
	e := newEnv(t, false)
	stream, err := natsutil.EnsureStream(t.Context(), e.js, events.StreamTelemetry, 1)
	if err != nil {
		t.Fatal(err)
	}
	var enabled atomic.Bool
	var asked atomic.Int64
	e.respond(events.SubjAPI(events.APIECS, "DescribeClusters"), func([]byte) any {
		asked.Add(1)
		v := events.ContainerInsightsDisabled
		if enabled.Load() {
			v = events.ContainerInsightsEnabled
		}
		return ecsapi.DescribeClustersResponse{Clusters: []ecsapi.Cluster{{ClusterName: e.cluster,
			Settings: []ecsapi.ClusterSetting{{Name: events.ClusterSettingContainerInsights, Value: v}}}}}
	})
	cfg := e.config()
	cfg.InsightsInterval = 500 * time.Millisecond
	a, _ := e.start(cfg)
	def := ecsapi.TaskDefinition{Family: "burn", ContainerDefinitions: []ecsapi.ContainerDefinition{{
		Name: "burn", Cpu: ptr[int32](512), Memory: ptr[int32](64), Command: []string{"sh", "-c", "while :; do :; done"},
	}}}
	asg := e.task(a.ContainerInstanceArn(), def)
	e.put(asg)
	e.waitStatus(asg.TaskArn, time.Minute, "RUNNING")

	// Disabled: wait for 6 setting checks after the task runs (3 s).
	base := asked.Load()
	natstest.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		if n := asked.Load() - base; n < 6 {
			return fmt.Errorf("%d setting checks", n)
		}
		return nil
	})
	if n := a.InsightsStatsCalls(); n != 0 {
		t.Fatalf("disabled cluster: %d stats calls", n)
	}
	if info, err := stream.Info(t.Context()); err != nil || info.State.Msgs != 0 {
		t.Fatalf("disabled cluster: %v, %+v samples", err, info.State)
	}

	enabled.Store(true)
	var smp events.TelemetrySample
	natstest.Eventually(t, 60*time.Second, 100*time.Millisecond, func() error {
		m, err := stream.GetLastMsgForSubject(t.Context(), "berth.telemetry.>")
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return err
		}
		if err != nil {
			return err
		}
		return json.Unmarshal(m.Data, &smp)
	})
	if a.InsightsStatsCalls() == 0 || len(smp.Tasks) != 1 {
		t.Fatalf("enabled: %d stats calls, sample %+v", a.InsightsStatsCalls(), smp)
	}
	task := smp.Tasks[0]
	t.Logf("burn task: CpuUtilized %.0f units, MemoryUtilized %.2f MB, net %v", task.CpuUtilized, task.MemoryUtilized, task.HasNetwork)
	// One busy thread is at most 1024 units; on a shared, loaded test
	// machine it gets less (docker stats showed 28% while this was
	// written), so the check is for the scale: percent (<= 100) or cores
	// (<= 1) fail it.
	if task.CpuUtilized < 150 || task.CpuUtilized > 1100 {
		t.Errorf("CpuUtilized %.1f, want about 1024", task.CpuUtilized)
	}
	if task.CpuReserved != 512 || task.MemoryReserved != 64 || task.Family != "burn" || smp.Cluster != e.cluster {
		t.Errorf("sample %+v", smp)
	}
	if task.MemoryUtilized <= 0 || task.MemoryUtilized > 64 {
		t.Errorf("MemoryUtilized %.2f", task.MemoryUtilized)
	}
}

func TestParseContainerPoint_CgroupV1AndV2(t *testing.T) {
	v1 := `{"read":"2026-01-01T00:00:00Z","cpu_stats":{"cpu_usage":{"total_usage":5}},"memory_stats":{"usage":10485760,"stats":{"cache":2097152,"total_inactive_file":1048576,"inactive_file":1048576}},
	"networks":{"eth0":{"rx_bytes":10,"tx_bytes":20}},"blkio_stats":{"io_service_bytes_recursive":[{"op":"Read","value":7},{"op":"write","value":9}]}}`
	p, ok := parseContainerPoint([]byte(v1))
	if !ok || p.memBytes != 8<<20 || p.rx != 10 || p.tx != 20 || p.blkRead != 7 || p.blkWrite != 9 || p.cpuNS != 5 || !p.hasNet {
		t.Fatalf("v1: %+v", p)
	}
	v2 := `{"read":"2026-01-01T00:00:00Z","memory_stats":{"usage":10485760,"stats":{"inactive_file":1048576,"file":3145728}}}`
	p, ok = parseContainerPoint([]byte(v2))
	if !ok || p.memBytes != 9<<20 || p.hasNet {
		t.Fatalf("v2: %+v", p)
	}
}
