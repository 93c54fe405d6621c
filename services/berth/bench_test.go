package main

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// benchSamples is how many RunTask and docker run starts are timed.
const benchSamples = 20

// BenchmarkRunTaskVsDockerRun times RunTask -> RUNNING through the
// all-in-one (gateway, scheduler, local agent, Docker) against `docker run
// -d` of the same image and command, alternating the two, benchSamples of
// each per run. The image is in Berth's registry and already pulled, so
// neither side downloads anything. RunTask -> RUNNING is the time from
// sending RunTask until DescribeTasks, polled every 10 ms, shows lastStatus
// RUNNING. Run it with -benchtime 1x:
//
//	BERTH_REQUIRE_DOCKER=1 go test ./services/berth -run '^$' -bench RunTaskVsDockerRun -benchtime 1x
func BenchmarkRunTaskVsDockerRun(b *testing.B) {
	requireDocker(b)
	bin := buildBerth(b)
	owner := e2eOwner(b)
	p := startBerthWithAgent(b, bin, b.TempDir(), owner)
	c := p.ecs(b)
	image := p.pushBusybox(b, "busybox", "bench")
	td := p.registerTaskDef(b, taskDef("bench", ctrDef("app", image, "sleep", "360")))
	label := "berth-bench=" + owner
	b.Cleanup(func() { removeContainers(b, "label="+label) })

	runTask := func() time.Duration {
		start := time.Now()
		out, err := c.RunTask(context.Background(), &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
		if err != nil || len(out.Tasks) != 1 {
			b.Fatalf("RunTask: %v (failures %v)", err, out.Failures)
		}
		arn := aws.ToString(out.Tasks[0].TaskArn)
		for {
			task, err := describe(c, arn)
			if err != nil {
				b.Fatal(err)
			}
			switch aws.ToString(task.LastStatus) {
			case "RUNNING":
				return time.Since(start)
			case "STOPPED":
				b.Fatalf("task %s stopped: %s", arn, aws.ToString(task.StoppedReason))
			}
			if time.Since(start) > time.Minute {
				b.Fatalf("task %s not RUNNING after a minute", arn)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// The same memory limit as the task's container.
	dockerRun := func() time.Duration {
		start := time.Now()
		out, err := exec.Command("docker", "run", "-d", "--label", label, "--memory", "32m", image, "sleep", "360").CombinedOutput()
		if err != nil {
			b.Fatalf("docker run: %v\n%s", err, out)
		}
		return time.Since(start)
	}

	// Warm up both: the agent pulls the image once (and fetches its
	// registry token), the Docker CLI and daemon run it once.
	runTask()
	dockerRun()

	var berth, dock []time.Duration
	for b.Loop() {
		berth, dock = berth[:0], dock[:0]
		for range benchSamples {
			berth = append(berth, runTask())
			dock = append(dock, dockerRun())
		}
	}
	bp50, bp90 := percentile(berth, 50), percentile(berth, 90)
	dp50, dp90 := percentile(dock, 50), percentile(dock, 90)
	b.ReportMetric(ms(bp50), "berth-p50-ms")
	b.ReportMetric(ms(bp90), "berth-p90-ms")
	b.ReportMetric(ms(dp50), "docker-p50-ms")
	b.ReportMetric(ms(dp90), "docker-p90-ms")
	b.ReportMetric(ms(bp50)/ms(dp50), "ratio-p50")
	b.Logf("RunTask->RUNNING ms: %s", msList(berth))
	b.Logf("docker run -d ms:    %s", msList(dock))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// percentile is the nearest-rank percentile of ds.
func percentile(ds []time.Duration, pct int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := (pct*len(s) + 99) / 100
	return s[max(i-1, 0)]
}

func msList(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.0f", ms(d))
	}
	return strings.Join(parts, " ")
}
