package control_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/simagent"
)

// TestRunTask_ClientToken: the same token and request give the same tasks,
// also when sent concurrently; another request with the token is a
// ConflictException naming the tasks.
func TestRunTask_ClientToken(t *testing.T) {
	e := startSched(t, 2, testConfig())
	ctx := context.Background()
	e.placeCluster(t, "tok")
	td := e.taskDef(t, "tok", 10, 10)
	in := func() *ecs.RunTaskInput {
		return &ecs.RunTaskInput{Cluster: aws.String("tok"), TaskDefinition: aws.String(td), Count: aws.Int32(3), ClientToken: aws.String("retry-me-1")}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := e.ecs.RunTask(ctx, in())
			if err != nil {
				t.Errorf("run: %v", err)
				return
			}
			var arns []string
			for _, tk := range out.Tasks {
				arns = append(arns, aws.ToString(tk.TaskArn))
			}
			slices.Sort(arns)
			mu.Lock()
			seen[fmt.Sprint(arns)]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(seen) != 1 {
		t.Fatalf("one token gave different answers: %v", seen)
	}
	_, tasks := records(t, e.JS, "tok")
	if len(tasks) != 3 {
		t.Fatalf("%d tasks exist, want 3", len(tasks))
	}
	different := in()
	different.Count = aws.Int32(2)
	_, err := e.ecs.RunTask(ctx, different)
	var ce *types.ConflictException
	if !errors.As(err, &ce) || len(ce.ResourceIds) != 3 {
		t.Fatalf("reused token: %v", err)
	}
	// A new token runs new tasks.
	other := in()
	other.ClientToken = aws.String("retry-me-2")
	if out := e.runTask(t, other); len(out.Tasks) != 3 {
		t.Fatalf("new token: %+v", out)
	}
}

// TestStartTask places tasks on named instances: resources must fit,
// unknown instances are MISSING.
func TestStartTask(t *testing.T) {
	e := startSched(t, 1, testConfig())
	ctx := context.Background()
	arns := e.placeCluster(t, "start")
	td := e.taskDef(t, "st", 10, 600)
	out, err := e.ecs.StartTask(ctx, &ecs.StartTaskInput{
		Cluster: aws.String("start"), TaskDefinition: aws.String(td),
		ContainerInstances: []string{arns[1], arns[1], "0123456789abcdef0123456789abcdef"}, StartedBy: aws.String("me"),
	})
	must(t, err)
	if len(out.Tasks) != 1 || aws.ToString(out.Tasks[0].ContainerInstanceArn) != arns[1] || len(out.Failures) != 2 ||
		aws.ToString(out.Failures[0].Reason) != "RESOURCE:MEMORY" || aws.ToString(out.Failures[1].Reason) != "MISSING" {
		t.Fatalf("start task: %+v %+v", out.Tasks, out.Failures)
	}
	_, err = e.ecs.StartTask(ctx, &ecs.StartTaskInput{Cluster: aws.String("start"), TaskDefinition: aws.String(td), ContainerInstances: []string{}})
	wantCode(t, err, events.CodeClient)
}

// TestTasks_ExitAndFailure: an essential container that exits stops the
// task (EssentialContainerExited, its exit code); a task that fails to
// start stops with TaskFailedToStart; both release their resources.
func TestTasks_ExitAndFailure(t *testing.T) {
	e := startSched(t, 1, testConfig())
	e.cluster(t, "exit")
	a := e.agent(t, simagent.Config{Cluster: "exit", RunTime: 100 * time.Millisecond, ExitCode: 3,
		FailStart: func(a events.TaskAssignment) bool { return a.StartedBy == "doomed" }})
	td := e.taskDef(t, "exit", 10, 10)
	ok := e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("exit"), TaskDefinition: aws.String(td)})
	bad := e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("exit"), TaskDefinition: aws.String(td), StartedBy: aws.String("doomed")})
	done := e.waitTask(t, "exit", aws.ToString(ok.Tasks[0].TaskArn), "STOPPED")
	if done.StopCode != types.TaskStopCodeEssentialContainerExited || aws.ToString(done.StoppedReason) != "Essential container in task exited" ||
		aws.ToInt32(done.Containers[0].ExitCode) != 3 || done.StartedAt == nil {
		t.Fatalf("exited task: %+v", done)
	}
	failed := e.waitTask(t, "exit", aws.ToString(bad.Tasks[0].TaskArn), "STOPPED")
	if failed.StopCode != types.TaskStopCodeTaskFailedToStart || failed.StartedAt != nil || aws.ToString(failed.Containers[0].Reason) == "" {
		t.Fatalf("failed task: %+v", failed)
	}
	natstest.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error {
		ci := e.describeInstance(t, "exit", a.InstanceArn())
		if resource(ci.RemainingResources, "CPU") != resource(ci.RegisteredResources, "CPU") || ci.PendingTasksCount+ci.RunningTasksCount != 0 {
			return errorf("not released: %+v", ci)
		}
		return nil
	})
}

// TestTasks_DescribeListTag covers DescribeTasks failures and include,
// ListTasks filters and pagination, and tags on task and instance ARNs.
func TestTasks_DescribeListTag(t *testing.T) {
	e := startSched(t, 1, testConfig())
	ctx := context.Background()
	arns := e.placeCluster(t, "list")
	web := e.taskDef(t, "web", 10, 10)
	batch := e.taskDef(t, "batch", 10, 10)
	var webTasks []string
	for _, tk := range e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("list"), TaskDefinition: aws.String(web), Count: aws.Int32(5), StartedBy: aws.String("deployer")}).Tasks {
		webTasks = append(webTasks, aws.ToString(tk.TaskArn))
	}
	e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("list"), TaskDefinition: aws.String(batch), Count: aws.Int32(2), Group: aws.String("service:api")})

	d, err := e.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("list"), Tasks: []string{webTasks[0], "0123456789abcdef0123456789abcdef", "arn:aws:ecs:us-east-1:123456789012:task/other/0123456789abcdef0123456789abcdef"}})
	must(t, err)
	if len(d.Tasks) != 1 || len(d.Failures) != 2 || d.Tasks[0].Tags != nil ||
		aws.ToString(d.Failures[0].Arn) != "arn:aws:ecs:us-east-1:123456789012:task/list/0123456789abcdef0123456789abcdef" {
		t.Fatalf("describe: %+v", d)
	}
	_, err = e.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("list"), Tasks: []string{}})
	wantCode(t, err, events.CodeInvalidParameter)
	_, err = e.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("ghost"), Tasks: webTasks[:1]})
	wantCode(t, err, events.CodeClusterNotFound)

	count := func(in *ecs.ListTasksInput) int {
		in.Cluster = aws.String("list")
		n := 0
		p := ecs.NewListTasksPaginator(e.ecs, in, func(o *ecs.ListTasksPaginatorOptions) { o.Limit = 2 })
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			must(t, err)
			n += len(page.TaskArns)
		}
		return n
	}
	for name, tc := range map[string]struct {
		in   *ecs.ListTasksInput
		want int
	}{
		"all":       {&ecs.ListTasksInput{}, 7},
		"family":    {&ecs.ListTasksInput{Family: aws.String("web")}, 5},
		"startedBy": {&ecs.ListTasksInput{StartedBy: aws.String("deployer")}, 5},
		"service":   {&ecs.ListTasksInput{ServiceName: aws.String("api")}, 2},
		"instance":  {&ecs.ListTasksInput{ContainerInstance: aws.String(arns[0])}, -1},
		"launch":    {&ecs.ListTasksInput{LaunchType: types.LaunchTypeEc2}, 7},
		"fargate":   {&ecs.ListTasksInput{LaunchType: types.LaunchTypeFargate}, 0},
		"stopped":   {&ecs.ListTasksInput{DesiredStatus: types.DesiredStatusStopped}, 0},
	} {
		got := count(tc.in)
		if tc.want >= 0 && got != tc.want {
			t.Fatalf("list %s: %d, want %d", name, got, tc.want)
		}
	}
	_, err = e.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("list"), DesiredStatus: "DONE"})
	wantCode(t, err, events.CodeInvalidParameter)

	// Tags on a task and on a container instance.
	for _, arn := range []string{webTasks[1], arns[0]} {
		_, err := e.ecs.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
		must(t, err)
		if tags := tagsOf(t, e.ecs, arn); tags["k"] != "v" {
			t.Fatalf("tags of %s: %v", arn, tags)
		}
		_, err = e.ecs.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"k"}})
		must(t, err)
		if tags := tagsOf(t, e.ecs, arn); len(tags) != 0 && arn != arns[0] {
			t.Fatalf("tags of %s after untag: %v", arn, tags)
		}
	}
	_, err = e.ecs.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String("arn:aws:ecs:us-east-1:123456789012:task/list/0123456789abcdef0123456789abcdef"),
		Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	wantCode(t, err, events.CodeResourceNotFound)
}

// TestTasks_SubmitStateChanges drives a task with the ECS agent's own
// calls, SubmitTaskStateChange and SubmitContainerStateChange, which take
// the same path as agent reports.
func TestTasks_SubmitStateChanges(t *testing.T) {
	e := startSched(t, 1, testConfig())
	ctx := context.Background()
	e.cluster(t, "submit")
	e.agent(t, simagent.Config{Cluster: "submit", Hold: true})
	td := e.taskDef(t, "s", 10, 10)
	arn := aws.ToString(e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("submit"), TaskDefinition: aws.String(td)}).Tasks[0].TaskArn)

	ack, err := e.ecs.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{Cluster: aws.String("submit"), Task: aws.String(arn), Status: aws.String("RUNNING"),
		Containers: []types.ContainerStateChange{{ContainerName: aws.String("app"), Status: aws.String("RUNNING"), RuntimeId: aws.String("abc"),
			NetworkBindings: []types.NetworkBinding{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(49200), Protocol: types.TransportProtocolTcp}}}},
		PullStartedAt: aws.Time(time.Now().Add(-time.Second)), PullStoppedAt: aws.Time(time.Now())})
	must(t, err)
	if aws.ToString(ack.Acknowledgment) != "ACK" {
		t.Fatalf("ack: %+v", ack)
	}
	got := e.describeTask(t, "submit", arn)
	if aws.ToString(got.LastStatus) != "RUNNING" || aws.ToString(got.Containers[0].RuntimeId) != "abc" || got.PullStartedAt == nil {
		t.Fatalf("after SubmitTaskStateChange: %+v", got)
	}
	_, err = e.ecs.SubmitContainerStateChange(ctx, &ecs.SubmitContainerStateChangeInput{Cluster: aws.String("submit"), Task: aws.String(arn),
		ContainerName: aws.String("app"), Status: aws.String("STOPPED"), ExitCode: aws.Int32(1), Reason: aws.String("boom")})
	must(t, err)
	got = e.describeTask(t, "submit", arn)
	if aws.ToString(got.LastStatus) != "RUNNING" || aws.ToString(got.Containers[0].LastStatus) != "STOPPED" || aws.ToInt32(got.Containers[0].ExitCode) != 1 {
		t.Fatalf("after SubmitContainerStateChange: %+v", got)
	}
	// A stale task status changes nothing.
	_, err = e.ecs.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{Cluster: aws.String("submit"), Task: aws.String(arn), Status: aws.String("PENDING")})
	must(t, err)
	if again := e.describeTask(t, "submit", arn); again.Version != got.Version || aws.ToString(again.LastStatus) != "RUNNING" {
		t.Fatalf("stale status applied: %+v", again)
	}
	_, err = e.ecs.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{Cluster: aws.String("submit"), Task: aws.String(arn), Status: aws.String("STOPPED"), Reason: aws.String("done")})
	must(t, err)
	if stopped := e.describeTask(t, "submit", arn); aws.ToString(stopped.LastStatus) != "STOPPED" || aws.ToString(stopped.StoppedReason) != "done" {
		t.Fatalf("after STOPPED: %+v", stopped)
	}
	insts, tasks := records(t, e.JS, "submit")
	checkAccounting(t, insts, tasks)
	_, err = e.ecs.SubmitTaskStateChange(ctx, &ecs.SubmitTaskStateChangeInput{Cluster: aws.String("submit"), Task: aws.String("0123456789abcdef0123456789abcdef"), Status: aws.String("RUNNING")})
	wantCode(t, err, events.CodeInvalidParameter)
}

// TestTasks_ExpiryAndOrphans: a stopped task stays describable for
// TaskRetention, then disappears; a task asked to stop on an instance
// whose agent is gone is recorded STOPPED after a heartbeat timeout.
func TestTasks_ExpiryAndOrphans(t *testing.T) {
	cfg := testConfig()
	cfg.TaskRetention = 2 * time.Second
	e := startSched(t, 1, cfg)
	ctx := context.Background()
	e.cluster(t, "exp")
	td := e.taskDef(t, "x", 10, 10)

	actx, cancel := context.WithCancel(context.Background())
	a, err := simagent.Start(actx, natstest.Connect(t, e.Server), simagent.Config{Cluster: "exp", HeartbeatInterval: testHeartbeat})
	must(t, err)
	arn := aws.ToString(e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("exp"), TaskDefinition: aws.String(td)}).Tasks[0].TaskArn)
	e.waitTask(t, "exp", arn, "RUNNING")
	cancel() // the agent dies with its task running
	a.Wait()
	_, err = e.ecs.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("exp"), ContainerInstance: aws.String(a.InstanceArn()), Force: aws.Bool(true)})
	must(t, err)
	stopped := e.waitTask(t, "exp", arn, "STOPPED")
	if stopped.StopCode != types.TaskStopCodeUserInitiated {
		t.Fatalf("reaped task: %+v", stopped)
	}
	natstest.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		d, err := e.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("exp"), Tasks: []string{arn}})
		if err != nil {
			return err
		}
		if len(d.Failures) != 1 || aws.ToString(d.Failures[0].Reason) != "MISSING" {
			return errorf("task still there: %+v", d.Tasks)
		}
		return nil
	})
}
