package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/services/agent/docker"
)

// BenchmarkRunTaskAWSVPCvsBridge times RunTask -> RUNNING through the
// all-in-one for a Fargate (awsvpc: a pause container and the task's own
// address on the agent's network) task against a bridge task of the same
// image and command, alternating the two, benchSamples of each. Each task
// is stopped once measured. Run it with -benchtime 1x:
//
//	BERTH_REQUIRE_DOCKER=1 go test ./services/berth -run '^$' -bench RunTaskAWSVPCvsBridge -benchtime 1x
func BenchmarkRunTaskAWSVPCvsBridge(b *testing.B) {
	requireDocker(b)
	bin := buildBerth(b)
	owner := e2eOwner(b)
	b.Cleanup(func() {
		removeContainers(b, "label="+docker.LabelManaged+"="+owner)
		_ = exec.Command("docker", "network", "rm", docker.AWSVPCNetworkName(owner)).Run()
	})
	subnet := netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", 208+rand.IntN(8), rand.IntN(256)))
	p := startBerthWithAgent(b, bin, b.TempDir(), owner, "--agent-awsvpc-subnet", subnet.String())
	c := p.ecs(b)
	image := p.pushBusybox(b, "busybox", "bench")
	bridge := p.registerTaskDef(b, taskDef("bench-bridge", ctrDef("app", image, "sleep", "360")))
	vpcDef := taskDef("bench-awsvpc", ctrDef("app", image, "sleep", "360"))
	vpcDef["networkMode"], vpcDef["cpu"], vpcDef["memory"] = "awsvpc", "256", "512"
	vpcDef["requiresCompatibilities"] = []string{"FARGATE"}
	awsvpc := p.registerTaskDef(b, vpcDef)
	netConf := &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-12345678"}}}

	run := func(in *ecs.RunTaskInput) time.Duration {
		start := time.Now()
		out, err := c.RunTask(context.Background(), in)
		if err != nil || len(out.Tasks) != 1 {
			b.Fatalf("RunTask: %v (failures %v)", err, out)
		}
		arn := aws.ToString(out.Tasks[0].TaskArn)
		for {
			task, err := describe(c, arn)
			if err != nil {
				b.Fatal(err)
			}
			switch aws.ToString(task.LastStatus) {
			case "RUNNING":
				d := time.Since(start)
				if _, err := c.StopTask(context.Background(), &ecs.StopTaskInput{Task: aws.String(arn)}); err != nil {
					b.Fatal(err)
				}
				return d
			case "STOPPED":
				b.Fatalf("task %s stopped: %s", arn, aws.ToString(task.StoppedReason))
			}
			if time.Since(start) > time.Minute {
				b.Fatalf("task %s not RUNNING after a minute", arn)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	runVPC := func() time.Duration {
		return run(&ecs.RunTaskInput{TaskDefinition: aws.String(awsvpc), LaunchType: types.LaunchTypeFargate, NetworkConfiguration: netConf})
	}
	runBridge := func() time.Duration { return run(&ecs.RunTaskInput{TaskDefinition: aws.String(bridge)}) }

	runVPC() // warm up: image pull, registry token, the awsvpc network
	runBridge()

	var vpc, br []time.Duration
	for b.Loop() {
		vpc, br = vpc[:0], br[:0]
		for range benchSamples {
			vpc = append(vpc, runVPC())
			br = append(br, runBridge())
		}
	}
	b.ReportMetric(ms(percentile(vpc, 50)), "awsvpc-p50-ms")
	b.ReportMetric(ms(percentile(vpc, 90)), "awsvpc-p90-ms")
	b.ReportMetric(ms(percentile(br, 50)), "bridge-p50-ms")
	b.ReportMetric(ms(percentile(br, 90)), "bridge-p90-ms")
	b.Logf("awsvpc (FARGATE) RunTask->RUNNING ms: %s", msList(vpc))
	b.Logf("bridge (EC2)     RunTask->RUNNING ms: %s", msList(br))
}
