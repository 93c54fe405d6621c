package cron_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/simagent"
	"github.com/berth-project/berth/internal/testenv"
)

// buildCron builds the standalone cron binary.
func buildCron(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cron")
	out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startCronProc starts one cron replica as a real process.
func (w *world) startCronProc(bin string, extra ...string) *exec.Cmd {
	w.t.Helper()
	cmd := exec.Command(bin, append([]string{"--log-level", "warn"}, extra...)...)
	cmd.Env = append(os.Environ(), "BERTH_NATS_URL="+w.Server.ClientURL(), "BERTH_ACCOUNT="+testenv.Account, "BERTH_REGION="+testenv.Region)
	logs := &testenv.SafeBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if w.t.Failed() {
			w.t.Logf("cron replica %d logs:\n%s", cmd.Process.Pid, logs.String())
		}
	})
	return cmd
}

// startedByCounts counts the tasks of the default cluster by startedBy.
func (w *world) startedByCounts() map[string]int {
	w.t.Helper()
	ctx := context.Background()
	counts := map[string]int{}
	var arns []string
	for _, d := range []string{"RUNNING", "STOPPED"} {
		p := ecs.NewListTasksPaginator(w.ECS(), &ecs.ListTasksInput{DesiredStatus: ecsDesired(d)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				w.t.Fatal(err)
			}
			arns = append(arns, out.TaskArns...)
		}
	}
	for i := 0; i < len(arns); i += 100 {
		out, err := w.ECS().DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: arns[i:min(i+100, len(arns))]})
		if err != nil {
			w.t.Fatal(err)
		}
		for _, task := range out.Tasks {
			counts[aws.ToString(task.StartedBy)]++
		}
	}
	return counts
}

// TestReplicas_ExactlyOnce is the acceptance of "3 cron replicas, 2,000
// schedules due in the same minute, one replica killed during the minute:
// every occurrence fired exactly once". The replicas are real processes
// (the standalone cron binary); one is killed with SIGKILL as soon as the
// first task of the minute appears.
func TestReplicas_ExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	const n = 2000
	bin := buildCron(t)
	w := newBaseWorld(t)
	w.addAgent(simagent.Config{HostID: "big"})
	var procs []*exec.Cmd
	for range 3 {
		procs = append(procs, w.startCronProc(bin, "--ack-wait", "5s"))
	}
	w.WaitFor(t, "cron")
	td := w.registerFamily("mass")

	// The minute: the first one at least 40 s away, time to create them all.
	due := time.Now().UTC().Add(40 * time.Second).Truncate(time.Minute).Add(time.Minute)
	expr := fmt.Sprintf("cron(%d %d %d %d ? %d)", due.Minute(), due.Hour(), due.Day(), int(due.Month()), due.Year())
	c := w.scheduler()
	var wg sync.WaitGroup
	var created atomic.Int64
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			_, err := c.CreateSchedule(context.Background(), &scheduler.CreateScheduleInput{
				Name: aws.String(fmt.Sprintf("s-%04d", i)), ScheduleExpression: aws.String(expr),
				FlexibleTimeWindow: &schedtypes.FlexibleTimeWindow{Mode: schedtypes.FlexibleTimeWindowModeOff},
				Target: &schedtypes.Target{Arn: aws.String(clusterARN()), RoleArn: aws.String(roleARN),
					EcsParameters: &schedtypes.EcsParameters{TaskDefinitionArn: aws.String(td)}},
			})
			if err != nil {
				errs <- err
				return
			}
			created.Add(1)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if time.Now().After(due) {
		t.Fatalf("creating %d schedules took past the minute %s", n, due)
	}
	t.Logf("%d schedules created for %s (%s), %s before it", created.Load(), due.Format(time.RFC3339), expr, time.Until(due).Round(time.Second))

	// Kill replica 0 as soon as the minute's first task exists.
	natstest.Eventually(t, time.Until(due)+60*time.Second, 20*time.Millisecond, func() error {
		if len(w.tasks("scheduler/s-0000"))+len(w.tasks("scheduler/s-1999")) == 0 && len(w.tasksAny()) == 0 {
			return fmt.Errorf("no task yet")
		}
		return nil
	})
	if err := procs[0].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killedAt := len(w.tasksAny())
	t.Logf("killed replica pid %d with %d of %d tasks started", procs[0].Process.Pid, killedAt, n)

	var counts map[string]int
	natstest.Eventually(t, 3*time.Minute, 500*time.Millisecond, func() error {
		counts = w.startedByCounts()
		if len(counts) < n {
			return fmt.Errorf("%d of %d schedules fired", len(counts), n)
		}
		return nil
	})
	// Redeliveries of what the killed replica held come after AckWait (5 s):
	// wait past it, then every schedule must still have exactly one task.
	time.Sleep(8 * time.Second) // an absence (no duplicate) cannot be polled for
	counts = w.startedByCounts()
	total := 0
	for i := range n {
		sb := fmt.Sprintf("scheduler/s-%04d", i)
		if counts[sb] != 1 {
			t.Errorf("%s: %d tasks, want 1", sb, counts[sb])
		}
		total += counts[sb]
	}
	redelivered := -1
	if ci, err := w.JS.Consumer(context.Background(), "CRON_FIRES", "cron"); err == nil {
		if info, err := ci.Info(context.Background()); err == nil {
			redelivered = info.NumRedelivered
		}
	}
	t.Logf("%d schedules, %d tasks, %d started before the kill; %d fire messages redelivered", n, total, killedAt, redelivered)
}

// tasksAny lists every running or stopped task ARN of the default cluster.
func (w *world) tasksAny() []string {
	w.t.Helper()
	var arns []string
	for _, d := range []string{"RUNNING", "STOPPED"} {
		p := ecs.NewListTasksPaginator(w.ECS(), &ecs.ListTasksInput{DesiredStatus: ecsDesired(d)})
		for p.HasMorePages() {
			out, err := p.NextPage(context.Background())
			if err != nil {
				w.t.Fatal(err)
			}
			arns = append(arns, out.TaskArns...)
		}
	}
	return arns
}
