package cron_test

import (
	"context"
	"encoding/json"
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
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
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
	cmd.Env = append(os.Environ(), "BERTH_NATS_URL="+w.Server.ClientURL(), "BERTH_NATS_CREDS="+natstest.ContextFile(w.t, w.Server.ClientURL(), events.ServiceCron), "BERTH_ACCOUNT="+testenv.Account, "BERTH_REGION="+testenv.Region)
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
func (w *world) startedByCounts() (map[string]int, error) {
	ctx := context.Background()
	counts := map[string]int{}
	arns, err := w.listTasks("")
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(arns); i += 100 {
		out, err := w.ECS().DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: arns[i:min(i+100, len(arns))]})
		if err != nil {
			return nil, err
		}
		for _, task := range out.Tasks {
			counts[aws.ToString(task.StartedBy)]++
		}
	}
	return counts, nil
}

// TestReplicas_ExactlyOnce is the acceptance of "3 cron replicas, 2,000
// schedules due in the same minute, one replica killed during the minute:
// every occurrence fired exactly once". The replicas are real processes
// (the standalone cron binary). Each produces the occurrences of its own
// share of the schedules (events.BucketCronMembers). Replica 1 is killed
// with SIGKILL a second before the minute, so the others still count it
// live when its share falls due and must produce that share once they
// find it gone; replica 0 is killed as soon as the first task of the
// minute appears, with invocations in flight.
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

	// Replica 1 dies a second before the minute: the time is the scenario
	// (its share due while the others have not noticed), not a wait for an
	// outcome; exactly once must hold whenever the kill lands.
	time.Sleep(time.Until(due.Add(-time.Second)))
	if err := procs[1].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Kill replica 0 as soon as the minute's first task exists.
	natstest.Eventually(t, time.Until(due)+60*time.Second, 20*time.Millisecond, func() error {
		arns, err := w.listTasks("")
		if err == nil && len(arns) == 0 {
			err = fmt.Errorf("no task yet")
		}
		return err
	})
	if err := procs[0].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killedAt := len(w.tasks(""))
	t.Logf("killed replica pid %d before the minute, pid %d with %d of %d tasks started", procs[1].Process.Pid, procs[0].Process.Pid, killedAt, n)

	var counts map[string]int
	natstest.Eventually(t, 3*time.Minute, 500*time.Millisecond, func() error {
		var err error
		if counts, err = w.startedByCounts(); err != nil {
			return err
		}
		if len(counts) < n {
			return fmt.Errorf("%d of %d schedules fired", len(counts), n)
		}
		return nil
	})
	// Redeliveries of what the killed replica held come after AckWait (5 s):
	// wait past it, then every schedule must still have exactly one task.
	time.Sleep(8 * time.Second) // an absence (no duplicate) cannot be polled for
	natstest.Eventually(t, 30*time.Second, 500*time.Millisecond, func() error {
		var err error
		counts, err = w.startedByCounts()
		return err
	})
	total := 0
	for i := range n {
		sb := fmt.Sprintf("scheduler/s-%04d", i)
		if counts[sb] != 1 {
			t.Errorf("%s: %d tasks, want 1", sb, counts[sb])
		}
		total += counts[sb]
	}
	invocations, retried := invocationAttempts(t, w)
	t.Logf("%d schedules, %d tasks, %d started before the kill; %d invocation events, %d of them on a redelivery (attempt > 1)", n, total, killedAt, invocations, retried)
}

// invocationAttempts counts the invocation events on the stream and those
// made on a redelivered message (attempt > 1).
func invocationAttempts(t testing.TB, w *world) (total, retried int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	oc, err := w.JS.OrderedConsumer(ctx, events.StreamEvents.Name, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"events.cron.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		msg, err := oc.Next(jetstream.FetchMaxWait(2 * time.Second))
		if err != nil {
			return total, retried
		}
		var ev cronEvent
		if json.Unmarshal(msg.Data(), &ev) != nil || ev.DetailType != events.DetailCronInvocation {
			continue
		}
		total++
		if ev.Detail.Attempt > 1 {
			retried++
		}
	}
}
