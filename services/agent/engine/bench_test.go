package engine

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/berth-project/berth/services/agent/docker"
	"github.com/berth-project/berth/services/agent/docker/dockertest"
)

// BenchmarkEngine_TaskToRunning measures Upsert → RUNNING report for a
// one-container task in bridge and in awsvpc mode (the awsvpc task also
// starts its pause container first), side by side; ms-median is the median
// over the runs (-benchtime=20x for 20).
func BenchmarkEngine_TaskToRunning(b *testing.B) {
	for _, mode := range []string{"bridge", "awsvpc"} {
		b.Run(mode, func(b *testing.B) {
			h := newHarness(b)
			cfg := h.config()
			if mode == "awsvpc" {
				netw := dockertest.AWSVPCNetwork(b, h.c, h.owner)
				cfg.AWSVPC = &AWSVPC{Network: netw.Name, PauseImage: docker.DefaultPauseImage}
			}
			running := make(chan string, 16)
			cfg.Reporter = func(r Report) {
				h.record(r)
				if r.LastStatus == TaskRunning {
					select {
					case running <- r.TaskARN:
					default:
					}
				}
			}
			e, _ := h.start(cfg)
			var took []time.Duration
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				tk := h.task(fmt.Sprintf("%s%d", mode, i), sleeper("app", 0))
				tk.Definition.NetworkMode = mode
				b.StartTimer()
				start := time.Now()
				if err := e.Upsert(b.Context(), tk); err != nil {
					b.Fatal(err)
				}
				for arn := range running {
					if arn == tk.ARN {
						break
					}
				}
				took = append(took, time.Since(start))
				b.StopTimer()
				if err := e.StopTask(b.Context(), tk.ARN, StopCodeUserInitiated, "bench"); err != nil {
					b.Fatal(err)
				}
				h.waitStatus(tk.ARN, time.Minute, TaskStopped)
				b.StartTimer()
			}
			b.StopTimer()
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "ms-median")
		})
	}
}
