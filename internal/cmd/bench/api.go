package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/nats-io/nats.go"
)

// operation is one timed API call.
type operation struct {
	name string
	call func(ctx context.Context, c *ecs.Client) error
}

var operations = []operation{
	{"RegisterTaskDefinition", func(ctx context.Context, c *ecs.Client) error {
		_, err := c.RegisterTaskDefinition(ctx, registerInput("bench-register"))
		return err
	}},
	{"DescribeTaskDefinition", func(ctx context.Context, c *ecs.Client) error {
		_, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("bench-describe")})
		return err
	}},
}

// registerInput is the README's hello-server task definition.
func registerInput(family string) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("nginx"), Image: aws.String("nginx"), Cpu: 384, Memory: aws.Int32(384), Essential: aws.Bool(true),
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(0), Protocol: types.TransportProtocolTcp}},
		}},
	}
}

// result is one operation's latencies on one target, and for Berth the
// NATS messages the taskdefs service sent per call (its JetStream requests
// and its reply).
type result struct {
	p50, p99 time.Duration
	msgs     float64
}

func runAPI(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench api", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 2000, "calls per operation and target in each round")
	rounds := fs.Int("rounds", 1, "rounds (each starts a fresh Berth and moto_server)")
	conn := fs.String("conn", "inproc", "how Berth's services reach NATS: inproc (the all-in-one) or tcp")
	moto := fs.String("moto", "moto_server", "moto_server command")
	stages := fs.Bool("stages", false, "also time Berth's layers on their own (KV read, KV write, NATS request to the service)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the Berth calls (client, gateway, service and NATS server: one process) to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *conn != "inproc" && *conn != "tcp" {
		return fmt.Errorf("-conn %q: want inproc or tcp", *conn)
	}
	fmt.Fprintf(stdout, "API latency, one AWS SDK for Go v2 client, %d sequential calls per operation; Berth: in-process stack, NATS connections %s, JetStream file storage (default sync)\n\n", *n, *conn)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "round\toperation\tBerth p50 ms\tBerth p99 ms\tmoto p50 ms\tmoto p99 ms\tBerth NATS msgs/call\tload avg\t")
	for r := 1; r <= *rounds; r++ {
		berth, motoRes, err := apiRound(ctx, *n, *conn == "inproc", *moto, *cpuprofile, stagesOut(*stages, stdout))
		if err != nil {
			return err
		}
		for i, op := range operations {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%.1f\t%s\t\n", r, op.name,
				ms(berth[i].p50), ms(berth[i].p99), ms(motoRes[i].p50), ms(motoRes[i].p99), berth[i].msgs, loadAvg())
		}
	}
	return tw.Flush()
}

// apiRound starts both targets and times every operation on each.
func apiRound(ctx context.Context, n int, inproc bool, motoBin, cpuprofile string, stages io.Writer) ([]result, []result, error) {
	dir, err := os.MkdirTemp("", "berth-bench-")
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	st, err := startBerth(ctx, dir, inproc)
	if err != nil {
		return nil, nil, err
	}
	defer st.stop()
	if stages != nil {
		if err := printStages(ctx, stages, st, n); err != nil {
			return nil, nil, fmt.Errorf("stages: %w", err)
		}
	}
	motoURL, stopMoto, err := startMoto(ctx, motoBin)
	if err != nil {
		return nil, nil, err
	}
	defer stopMoto()
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return nil, nil, err
		}
		defer func() { _ = f.Close() }()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, nil, err
		}
	}
	berth, err := timeOps(ctx, client(st.endpoint, st.key.AccessKeyID, st.key.SecretAccessKey), n, st.svcNC)
	if cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("berth: %w", err)
	}
	moto, err := timeOps(ctx, client(motoURL, "test", "test"), n, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("moto: %w", err)
	}
	return berth, moto, nil
}

func client(endpoint, id, secret string) *ecs.Client {
	cfg := aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""),
		// The SDK's default of 3 attempts: under load moto_server now and
		// then drops a keep-alive connection; a retried call's time counts.
		RetryMaxAttempts: 3,
	}
	return ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// timeOps seeds the describe family, warms the connection up, then makes n
// calls of each operation in sequence.
func timeOps(ctx context.Context, c *ecs.Client, n int, svcNC *nats.Conn) ([]result, error) {
	if _, err := c.RegisterTaskDefinition(ctx, registerInput("bench-describe")); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	var out []result
	for _, op := range operations {
		for range min(n/10, 100) {
			if err := op.call(ctx, c); err != nil {
				return nil, fmt.Errorf("%s (warm-up): %w", op.name, err)
			}
		}
		var before uint64
		if svcNC != nil {
			before = svcNC.Stats().OutMsgs
		}
		lat := make([]time.Duration, n)
		for i := range lat {
			t0 := time.Now()
			if err := op.call(ctx, c); err != nil {
				return nil, fmt.Errorf("%s: %w", op.name, err)
			}
			lat[i] = time.Since(t0)
		}
		slices.Sort(lat)
		pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
		res := result{p50: pct(0.50), p99: pct(0.99)}
		if svcNC != nil {
			res.msgs = float64(svcNC.Stats().OutMsgs-before) / float64(n)
		}
		out = append(out, res)
	}
	return out, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// loadAvg is the 1-minute load average (Linux), or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// stagesOut is where the stage table goes: w when on, else nowhere.
func stagesOut(on bool, w io.Writer) io.Writer {
	if !on {
		return nil
	}
	return w
}
