package supervisor_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/simagent"
	"github.com/berth-project/berth/internal/testenv"
)

// supervisorProc is one supervisor replica running as its own process.
type supervisorProc struct {
	cmd  *exec.Cmd
	logs *testenv.SafeBuffer
}

// startProcs builds the standalone supervisor and runs n replicas against
// the test's NATS server.
func (e *svcEnv) startProcs(t testing.TB, n int) []*supervisorProc {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "supervisor")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("build supervisor: %v\n%s", err, out)
	}
	var procs []*supervisorProc
	for range n {
		cmd := exec.Command(bin)
		logs := &testenv.SafeBuffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		cmd.Env = append(os.Environ(),
			"BERTH_NATS_URL="+e.Server.ClientURL(), "BERTH_NATS_CREDS="+natstest.ContextFile(t, e.Server.ClientURL(), events.ServiceSupervisor), "BERTH_REGION="+testenv.Region, "BERTH_ACCOUNT="+testenv.Account,
			"BERTH_LOG_LEVEL=debug", "BERTH_SUPERVISOR_HEALTHY_AFTER=300ms", "BERTH_SUPERVISOR_BACKOFF=100ms")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p := &supervisorProc{cmd: cmd, logs: logs}
		t.Cleanup(func() {
			if p.cmd.ProcessState == nil {
				_ = p.cmd.Process.Kill()
				_ = p.cmd.Wait()
			}
		})
		procs = append(procs, p)
	}
	for _, p := range procs {
		natstest.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
			if !strings.Contains(p.logs.String(), `"msg":"serving"`) {
				return fmt.Errorf("replica not serving yet:\n%s", p.logs.String())
			}
			return nil
		})
	}
	return procs
}

// decisions counts the decisions a replica logged.
func (p *supervisorProc) decisions() int { return strings.Count(p.logs.String(), `"msg":"decided"`) }

// TestReplicas_KilledMidDeployment runs three supervisor processes, kills
// (SIGKILL) the one deciding a rolling deployment while it is under way,
// and checks that the others finish it and that no launch started its
// tasks twice: the new deployment started exactly desiredCount tasks.
func TestReplicas_KilledMidDeployment(t *testing.T) {
	e := start(t, 0)
	ctx := context.Background()
	e.cluster(t, "c1")
	e.agents(t, "c1", 10, func(_ int, c *simagent.Config) { c.PullTime = 400 * time.Millisecond })
	procs := e.startProcs(t, 3)
	td1 := e.taskDef(t, "web", "app:1")
	td2 := e.taskDef(t, "web", "app:2")
	if _, err := e.ecs.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("c1"), ServiceName: aws.String("web"), TaskDefinition: aws.String(td1), DesiredCount: aws.Int32(20),
		DeploymentConfiguration: &types.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(75), MaximumPercent: aws.Int32(125)},
	}); err != nil {
		t.Fatal(err)
	}
	e.waitStable(t, "c1", "web")
	up, err := e.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("c1"), Service: aws.String("web"), TaskDefinition: aws.String(td2)})
	if err != nil {
		t.Fatal(err)
	}
	newID := aws.ToString(up.Service.Deployments[0].Id)
	before := make([]int, len(procs))
	for i, p := range procs {
		before[i] = p.decisions()
	}
	// Mid-deployment: some new tasks run, most old ones still do.
	natstest.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		d := e.describe(t, "c1", "web")
		if len(d.Deployments) != 2 || d.Deployments[0].RunningCount < 3 {
			return fmt.Errorf("deployments %d, new running %d", len(d.Deployments), d.Deployments[0].RunningCount)
		}
		return nil
	})
	victim := 0
	for i, p := range procs {
		if p.decisions()-before[i] > procs[victim].decisions()-before[victim] {
			victim = i
		}
	}
	t.Logf("killing replica %d (%d decisions in this deployment)", victim, procs[victim].decisions()-before[victim])
	if err := procs[victim].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = procs[victim].cmd.Wait()
	if d := e.describe(t, "c1", "web"); d.Deployments[0].RolloutState == types.DeploymentRolloutStateCompleted {
		t.Fatalf("deployment completed before the kill")
	}
	e.waitStable(t, "c1", "web")
	natstest.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		d := e.describe(t, "c1", "web")
		if aws.ToString(d.Deployments[0].Id) != newID || d.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted {
			return fmt.Errorf("deployment %s %s", aws.ToString(d.Deployments[0].Id), d.Deployments[0].RolloutState)
		}
		return nil
	})
	started := 0
	for _, status := range []types.DesiredStatus{types.DesiredStatusRunning, types.DesiredStatusStopped} {
		list, err := e.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("c1"), StartedBy: aws.String(newID), DesiredStatus: status, MaxResults: aws.Int32(100)})
		if err != nil {
			t.Fatal(err)
		}
		started += len(list.TaskArns)
	}
	if started != 20 {
		t.Fatalf("the deployment started %d tasks for 20 slots", started)
	}
	for i, p := range procs {
		if i != victim && p.decisions() == before[i] {
			t.Logf("replica %d made no decision in this deployment", i)
		}
	}
}
