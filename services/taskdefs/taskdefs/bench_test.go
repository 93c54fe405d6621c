package taskdefs_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/internal/testenv"
)

// BenchmarkTaskDefs measures RegisterTaskDefinition and
// DescribeTaskDefinition through the real gateway with the AWS SDK, next to
// moto_server driven by the same client code (skipped when moto_server is
// not on PATH). Each sub-benchmark reports calls/s and p50/p99 latency,
// sequentially (c1) and with 8 concurrent clients (c8). Register c8 uses one
// family per client; register-samefamily/c8 has all eight race on one
// family (every registration then conflicts with the others until it wins).
//
//	go test -run '^$' -bench BenchmarkTaskDefs -benchtime=2000x ./services/taskdefs/taskdefs/
func BenchmarkTaskDefs(b *testing.B) {
	targets := []struct {
		name  string
		setup func(b *testing.B) func() *ecs.Client
	}{
		{"berth", func(b *testing.B) func() *ecs.Client {
			env := startEnv(b, 1)
			return func() *ecs.Client { return env.ECS() }
		}},
		{"moto", startMoto},
	}
	for _, target := range targets {
		b.Run(target.name, func(b *testing.B) {
			newClient := target.setup(b)
			seed := newClient()
			if _, err := seed.RegisterTaskDefinition(context.Background(), benchInput("bench-describe")); err != nil {
				b.Fatalf("seed: %v", err)
			}
			for _, conc := range []int{1, 8} {
				b.Run(fmt.Sprintf("register/c%d", conc), func(b *testing.B) {
					runCalls(b, conc, newClient, func(ctx context.Context, c *ecs.Client, worker int) error {
						_, err := c.RegisterTaskDefinition(ctx, benchInput(fmt.Sprintf("bench-w%d", worker)))
						return err
					})
				})
				b.Run(fmt.Sprintf("describe/c%d", conc), func(b *testing.B) {
					runCalls(b, conc, newClient, func(ctx context.Context, c *ecs.Client, _ int) error {
						_, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("bench-describe")})
						return err
					})
				})
			}
			b.Run("register-samefamily/c8", func(b *testing.B) {
				runCalls(b, 8, newClient, func(ctx context.Context, c *ecs.Client, _ int) error {
					_, err := c.RegisterTaskDefinition(ctx, benchInput("bench-same"))
					return err
				})
			})
		})
	}
}

// benchInput is the hello-server example.
func benchInput(family string) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("nginx"), Image: aws.String("nginx"), Cpu: 384, Memory: aws.Int32(384), Essential: aws.Bool(true),
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(0), Protocol: types.TransportProtocolTcp}},
		}},
	}
}

// runCalls makes b.N calls spread over conc clients and reports calls/s and
// the p50/p99 latency.
func runCalls(b *testing.B, conc int, newClient func() *ecs.Client, call func(context.Context, *ecs.Client, int) error) {
	clients := make([]*ecs.Client, conc)
	for i := range clients {
		clients[i] = newClient()
	}
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for w := range conc {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				if err := call(ctx, clients[w], w); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatalf("call failed: %v", err)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
}

// startMoto runs moto_server on a free port for the benchmark, or skips.
func startMoto(b *testing.B) func() *ecs.Client {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		if testenv.Required() {
			b.Fatal("moto_server is required (CI=true or BERTH_REQUIRE_DOCKER=1) but not on PATH")
		}
		b.Skip("moto_server not on PATH")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Stdout, cmd.Stderr = nil, nil
	if os.Getenv("BERTH_BENCH_MOTO_LOG") == "1" {
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start moto_server: %v", err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("moto_server did not listen: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cfg := aws.Config{
		Region:           testenv.Region,
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		RetryMaxAttempts: 1,
	}
	return func() *ecs.Client {
		return ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = aws.String(endpoint) })
	}
}

// replicaCallers is BenchmarkTaskDefsReplicas's number of concurrent
// clients: enough to keep this two-core machine busy with one replica or
// three.
const replicaCallers = 32

// BenchmarkTaskDefsReplicas compares one and three taskdefs replicas
// behind one gateway (issue 16 point 4: replicas that share work): the
// calls of BenchmarkTaskDefs, RegisterTaskDefinition with one family per
// client (no two replicas ever write the same keys) and
// DescribeTaskDefinition, from replicaCallers clients. Each replica has its
// own NATS connection, as separate processes would, and they share the
// requests through the queue group. cpu-µs/call is the whole process's CPU
// (NATS server, gateway, replicas and clients) per call.
//
//	go test -run '^$' -bench TaskDefsReplicas -benchtime 10000x ./services/taskdefs/taskdefs/
func BenchmarkTaskDefsReplicas(b *testing.B) {
	for _, replicas := range []int{1, 3} {
		b.Run(fmt.Sprintf("replicas=%d", replicas), func(b *testing.B) {
			env := startEnv(b, replicas)
			newClient := func() *ecs.Client { return env.ECS() }
			if _, err := newClient().RegisterTaskDefinition(context.Background(), benchInput("bench-describe")); err != nil {
				b.Fatalf("seed: %v", err)
			}
			b.Run("register", func(b *testing.B) {
				runCallsCPU(b, replicaCallers, newClient, func(ctx context.Context, c *ecs.Client, worker int) error {
					_, err := c.RegisterTaskDefinition(ctx, benchInput(fmt.Sprintf("bench-w%d", worker)))
					return err
				})
			})
			b.Run("describe", func(b *testing.B) {
				runCallsCPU(b, replicaCallers, newClient, func(ctx context.Context, c *ecs.Client, _ int) error {
					_, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("bench-describe")})
					return err
				})
			})
		})
	}
}

// runCallsCPU is runCalls that also reports the process's CPU per call.
func runCallsCPU(b *testing.B, conc int, newClient func() *ecs.Client, call func(context.Context, *ecs.Client, int) error) {
	cpu0 := testenv.CPUTime()
	runCalls(b, conc, newClient, call)
	b.ReportMetric(float64((testenv.CPUTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/call")
}
