package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
)

// numberedLines prints "line 1" ... "line n", pausing 0.1 s every `every`
// lines (0: never).
func numberedLines(n, every int) string {
	pause := ""
	if every > 0 {
		pause = fmt.Sprintf(`if [ $((i %% %d)) -eq 0 ]; then sleep 0.1; fi; `, every)
	}
	return fmt.Sprintf(`i=1; while [ $i -le %d ]; do echo "line $i"; %si=$((i+1)); done`, n, pause)
}

// awslogsTaskDef is the seeds' Fargate sample's log options on a local task.
func awslogsTaskDef(family, image, group, script string) map[string]any {
	ctr := ctrDef("app", image, "sh", "-c", script)
	ctr["logConfiguration"] = map[string]any{
		"logDriver": "awslogs",
		"options": map[string]string{
			"awslogs-group":         group,
			"awslogs-region":        testenv.Region,
			"awslogs-stream-prefix": "ecs",
			"awslogs-create-group":  "true",
			"mode":                  "non-blocking",
			"max-buffer-size":       "25m",
		},
	}
	return taskDef(family, ctr)
}

func (p *berthProc) cwlogs(t testing.TB) *cloudwatchlogs.Client {
	t.Helper()
	id, secret := p.key(t)
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(),
		awsconfig.WithRegion(testenv.Region),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, secret, "")),
	)
	if err != nil {
		t.Fatal(err)
	}
	return cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) { o.BaseEndpoint = aws.String("http://" + p.api) })
}

// streamMessages reads a whole log stream from its head with the SDK.
func streamMessages(ctx context.Context, cw *cloudwatchlogs.Client, group, stream string) ([]string, error) {
	var out []string
	var token *string
	for range 1000 {
		res, err := cw.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{
			LogGroupName: aws.String(group), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true), NextToken: token,
		})
		if err != nil {
			return nil, err
		}
		for _, e := range res.Events {
			out = append(out, aws.ToString(e.Message))
		}
		if token != nil && aws.ToString(res.NextForwardToken) == *token {
			return out, nil
		}
		token = res.NextForwardToken
	}
	return nil, fmt.Errorf("GetLogEvents did not end")
}

// checkNumbered fails unless msgs are exactly "line 1" ... "line n".
func checkNumbered(t testing.TB, what string, msgs []string, n int) {
	t.Helper()
	if len(msgs) != n {
		seen := map[string]int{}
		dups := 0
		for _, m := range msgs {
			seen[m]++
			if seen[m] == 2 {
				dups++
			}
		}
		t.Fatalf("%s: %d lines, want %d (%d duplicated)", what, len(msgs), n, dups)
	}
	for i, m := range msgs {
		if want := fmt.Sprintf("line %d", i+1); m != want {
			t.Fatalf("%s: line %d is %q, want %q", what, i+1, m, want)
		}
	}
}

func taskID(arn string) string { return arn[strings.LastIndexByte(arn, '/')+1:] }

// TestE2E_AwslogsTask: a task with awslogs prints 10,000 numbered lines;
// aws logs get-log-events and aws logs tail return all of them in order,
// and docker logs still works.
func TestE2E_AwslogsTask(t *testing.T) {
	requireDocker(t)
	t.Parallel()
	bin := buildBerth(t)
	owner := e2eOwner(t)
	p := startBerthWithAgent(t, bin, t.TempDir(), owner)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("berth log:\n%s", p.logs.String())
		}
	})
	c := p.ecs(t)
	image := p.pushBusybox(t, "busybox", "logs")
	group := "/ecs/logs-e2e"

	td := p.registerTaskDef(t, awslogsTaskDef("logs-e2e", image, group, numberedLines(10000, 0)))
	arn := p.runTasks(t, td, 1)[0]
	task := waitTask(t, c, arn, 2*time.Minute, status("STOPPED"))
	if ec := container(t, task, "app").ExitCode; ec == nil || *ec != 0 {
		t.Fatalf("container exit code %v, reason %q", ec, aws.ToString(task.StoppedReason))
	}
	stream := "ecs/app/" + taskID(arn)
	cw := p.cwlogs(t)
	natstest.Eventually(t, time.Minute, 200*time.Millisecond, func() error {
		msgs, err := streamMessages(context.Background(), cw, group, stream)
		if err != nil {
			return err
		}
		if len(msgs) < 10000 {
			return fmt.Errorf("%d lines shipped", len(msgs))
		}
		return nil
	})

	// get-log-events with the CLI's defaults: the newest page, which holds
	// all 10,000 lines.
	out := p.aws(t, "logs", "get-log-events", "--log-group-name", group, "--log-stream-name", stream)
	var msgs []string
	for _, e := range out["events"].([]any) {
		msgs = append(msgs, e.(map[string]any)["message"].(string))
	}
	checkNumbered(t, "get-log-events", msgs, 10000)

	res := p.cli.Run(t, "../..", "logs", "tail", group, "--since", "1h", "--format", "short")
	if res.Exit != 0 {
		t.Fatalf("logs tail: exit %d: %s", res.Exit, res.Stderr)
	}
	msgs = msgs[:0]
	for _, l := range strings.Split(strings.TrimRight(res.Stdout, "\n"), "\n") {
		_, m, _ := strings.Cut(l, " ") // "<time> <message>"
		msgs = append(msgs, m)
	}
	checkNumbered(t, "logs tail", msgs, 10000)

	ids := taskContainers(t, arn)
	if len(ids) != 1 {
		t.Fatalf("containers %v", ids)
	}
	dl, err := exec.Command("docker", "logs", ids[0]).Output()
	if err != nil {
		t.Fatalf("docker logs: %v", err)
	}
	checkNumbered(t, "docker logs", strings.Split(strings.TrimRight(string(dl), "\n"), "\n"), 10000)
}

// TestE2E_AwslogsAgentKillNine: the agent is killed with SIGKILL while a
// task logs 10,000 lines, and started again: every line is stored exactly
// once.
func TestE2E_AwslogsAgentKillNine(t *testing.T) {
	requireDocker(t)
	t.Parallel()
	bin, ab := buildBerth(t), buildAgent(t)
	owner := e2eOwner(t)
	p := startBerth(t, bin, t.TempDir())
	c := p.ecs(t)
	cw := p.cwlogs(t)
	image := p.pushBusybox(t, "busybox", "logs-kill")
	agentData := t.TempDir()
	a1 := ab.start(t, p, agentData, owner)
	waitInstances(t, c, "default", 1)

	group := "/ecs/logs-kill"
	td := p.registerTaskDef(t, awslogsTaskDef("logs-kill", image, group, numberedLines(10000, 100)))
	arn := p.runTasks(t, td, 1)[0]
	stream := "ecs/app/" + taskID(arn)
	var before int
	natstest.Eventually(t, 2*time.Minute, 50*time.Millisecond, func() error {
		msgs, err := streamMessages(context.Background(), cw, group, stream)
		if err != nil {
			return err
		}
		if len(msgs) < 3000 {
			return fmt.Errorf("%d lines shipped", len(msgs))
		}
		before = len(msgs)
		return nil
	})
	a1.kill(t)
	if before >= 10000 {
		t.Fatalf("everything was shipped before the kill (%d lines): the test proves nothing", before)
	}
	t.Logf("killed the agent after %d of 10000 lines", before)
	a2 := ab.start(t, p, agentData, owner)
	_ = a2
	waitTask(t, c, arn, 3*time.Minute, status("STOPPED"))
	var msgs []string
	natstest.Eventually(t, time.Minute, 200*time.Millisecond, func() error {
		var err error
		msgs, err = streamMessages(context.Background(), cw, group, stream)
		if err != nil {
			return err
		}
		if len(msgs) < 10000 {
			return fmt.Errorf("%d lines shipped", len(msgs))
		}
		return nil
	})
	checkNumbered(t, "after kill -9", msgs, 10000)
	// Read again: nothing arrived late.
	msgs, err := streamMessages(context.Background(), cw, group, stream)
	if err != nil {
		t.Fatal(err)
	}
	checkNumbered(t, "after kill -9, read again", msgs, 10000)
}

// TestE2E_LogsTailFollow: aws logs tail --follow prints a line put while
// it runs.
func TestE2E_LogsTailFollow(t *testing.T) {
	testenv.RequireTool(t, "aws")
	t.Parallel()
	bin := buildBerth(t)
	p := startBerth(t, bin, t.TempDir())
	cw := p.cwlogs(t)
	ctx := context.Background()
	group, stream := "/ecs/follow", "s"
	if _, err := cw.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	if _, err := cw.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)}); err != nil {
		t.Fatal(err)
	}
	put := func(msg string) {
		t.Helper()
		if _, err := cw.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream),
			LogEvents: []cwtypes.InputLogEvent{{Timestamp: aws.Int64(time.Now().UnixMilli()), Message: aws.String(msg)}}}); err != nil {
			t.Fatal(err)
		}
	}
	put("before")

	cmd := exec.Command(testenv.RequireTool(t, "aws"), "--endpoint-url", "http://"+p.api, "--profile", "berth",
		"logs", "tail", group, "--follow", "--format", "short")
	// The profile gives the credentials and the region: no AWS_* variable
	// of this environment may override them (an empty AWS_DEFAULT_REGION
	// would sign for region "").
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env,
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(p.data, "aws", "credentials"),
		"AWS_CONFIG_FILE="+filepath.Join(p.data, "aws", "config"),
		"AWS_PAGER=")
	var stderr testenv.SafeBuffer
	cmd.Stderr = &stderr
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("aws logs tail stderr:\n%s", stderr.String())
		}
	})
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("aws logs tail --follow exited")
			}
			return l
		case <-time.After(30 * time.Second):
			t.Fatal("aws logs tail --follow printed nothing for 30 s")
		}
		return ""
	}
	if l := next(); !strings.HasSuffix(l, " before") {
		t.Fatalf("first line %q", l)
	}
	start := time.Now()
	put("after")
	if l := next(); !strings.HasSuffix(l, " after") {
		t.Fatalf("followed line %q", l)
	}
	t.Logf("aws logs tail --follow printed the new line after %v (the CLI polls every 5 s)", time.Since(start).Round(time.Millisecond))
}
