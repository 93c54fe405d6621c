package logs_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
)

// The benchmarks below drive Berth's logs service (in-process NATS with
// file storage, the gateway, the Go SDK v2 client over loopback HTTP) and,
// side by side, moto's logs backend (`moto_server`, when installed) with the
// same client code. They are bench tests: run with BERTH_BENCH=1, e.g.
//
//	BERTH_BENCH=1 go test -run 'TestBench' -v -count=1 ./logs/
//
// Every number is events per second, counted back: after the puts, every
// stream is read back with GetLogEvents and the count must equal what was
// sent.

func benchOn(t *testing.T) {
	if os.Getenv("BERTH_BENCH") != "1" {
		t.Skip("bench test: set BERTH_BENCH=1")
	}
}

// target is a CloudWatch Logs endpoint under test.
type target struct {
	name string
	cw   *cloudwatchlogs.Client
}

func berthTarget(t *testing.T) target {
	f := start(t, nil)
	return target{"berth", f.cw}
}

// motoTarget starts moto_server on a free port, or skips.
func motoTarget(t *testing.T) target {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		if testenv.Required() {
			t.Fatal("moto_server is required (CI=true or BERTH_REQUIRE_DOCKER=1) but not installed")
		}
		t.Skip("moto_server not installed")
	}
	addr := testenv.FreeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "-H", host, "-p", port)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	natstest.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
		resp, err := http.Get("http://" + addr + "/moto-api/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	env := &testenv.Env{Key: eventsKey()}
	cw := cloudwatchlogs.NewFromConfig(env.AWSConfig(), func(o *cloudwatchlogs.Options) { o.BaseEndpoint = aws.String("http://" + addr) })
	return target{"moto", cw}
}

func benchBatch(n int, now int64, seq int) []types.InputLogEvent {
	evs := make([]types.InputLogEvent, n)
	for i := range evs {
		lvl := "INFO"
		if (seq+i)%100 == 0 {
			lvl = "ERROR"
		}
		evs[i] = types.InputLogEvent{Timestamp: aws.Int64(now), Message: aws.String(fmt.Sprintf("%s request %d served in %d ms", lvl, seq+i, (seq+i)%250))}
	}
	return evs
}

// ingest puts total events in batches of batch from clients goroutines, each
// on its own stream, and returns the elapsed time.
func ingest(t *testing.T, tg target, group string, total, batch, clients int) time.Duration {
	ctx := context.Background()
	if _, err := tg.cw.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	for c := range clients {
		if _, err := tg.cw.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String("s" + strconv.Itoa(c))}); err != nil {
			t.Fatal(err)
		}
	}
	per := total / clients / batch
	now := time.Now().UnixMilli()
	// Build every batch first: the timed part is the puts only.
	batches := make([][][]types.InputLogEvent, clients)
	for c := range clients {
		for b := range per {
			batches[c] = append(batches[c], benchBatch(batch, now, (c*per+b)*batch))
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Go(func() {
			for _, evs := range batches[c] {
				if _, err := tg.cw.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String("s" + strconv.Itoa(c)), LogEvents: evs}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatalf("%s: put: %v", tg.name, err)
	}
	got := 0
	for c := range clients {
		got += countStream(t, tg, group, "s"+strconv.Itoa(c))
	}
	if got != per*batch*clients {
		t.Fatalf("%s: counted back %d events, sent %d", tg.name, got, per*batch*clients)
	}
	return elapsed
}

func countStream(t *testing.T, tg target, group, stream string) int {
	n := 0
	var token *string
	for {
		res, err := tg.cw.GetLogEvents(context.Background(), &cloudwatchlogs.GetLogEventsInput{
			LogGroupName: aws.String(group), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true), NextToken: token,
		})
		for attempt := 0; err != nil && attempt < 3; attempt++ {
			t.Logf("%s: get %s/%s (after %d events): %v; retrying", tg.name, group, stream, n, err)
			res, err = tg.cw.GetLogEvents(context.Background(), &cloudwatchlogs.GetLogEventsInput{
				LogGroupName: aws.String(group), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true), NextToken: token,
			})
		}
		if err != nil {
			t.Fatalf("%s: get: %v", tg.name, err)
		}
		n += len(res.Events)
		if len(res.Events) == 0 && token != nil && aws.ToString(res.NextForwardToken) == *token {
			return n
		}
		token = res.NextForwardToken
	}
}

func benchIngest(t *testing.T, tg target, total int) {
	for _, batch := range []int{1000, 10000} {
		for _, clients := range []int{1, 8} {
			sent := total / clients / batch * batch * clients
			if sent == 0 {
				continue
			}
			d := ingest(t, tg, fmt.Sprintf("/bench/%d/%d", batch, clients), sent, batch, clients)
			t.Logf("%s PutLogEvents batch=%d clients=%d: %d events in %v = %.0f events/s (all counted back)",
				tg.name, batch, clients, sent, d.Round(time.Millisecond), float64(sent)/d.Seconds())
		}
	}
}

func TestBench_PutLogEvents_Berth(t *testing.T) {
	benchOn(t)
	benchIngest(t, berthTarget(t), envInt("BERTH_BENCH_EVENTS", 400000))
}

func TestBench_PutLogEvents_Moto(t *testing.T) {
	benchOn(t)
	benchIngest(t, motoTarget(t), envInt("BERTH_BENCH_MOTO_EVENTS", 400000))
}

// benchFilter stores total events in one group (8 streams, batches of
// 10,000), then times FilterLogEvents over all of them: a pattern that
// matches 1 % (ERROR), a JSON-free space-delimited pattern, and the empty
// pattern (every event, 10,000 a page).
func benchFilter(t *testing.T, tg target, total int) {
	group := "/bench/filter"
	total = total / 80000 * 80000
	d := ingest(t, tg, group, total, 10000, 8)
	t.Logf("%s: stored %d events in %v", tg.name, total, d.Round(time.Millisecond))
	for _, pat := range []string{"ERROR", "[lvl=ERROR, ...]", ""} {
		start := time.Now()
		n, pages := 0, 0
		var token *string
		for {
			res, err := tg.cw.FilterLogEvents(context.Background(), &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group), FilterPattern: aws.String(pat), NextToken: token})
			if err != nil {
				t.Fatalf("%s: filter: %v", tg.name, err)
			}
			n += len(res.Events)
			pages++
			if res.NextToken == nil {
				break
			}
			token = res.NextToken
		}
		el := time.Since(start)
		want := total
		if pat != "" {
			want = total / 100
		}
		if n != want && tg.name == "moto" {
			t.Logf("moto FilterLogEvents %q: %d matches, want %d: moto does not implement this pattern form", pat, n, want)
			continue
		}
		if n != want {
			t.Fatalf("%s: pattern %q matched %d, want %d", tg.name, pat, n, want)
		}
		t.Logf("%s FilterLogEvents %q over %d events: %d matches in %d pages, %v (%.0f events scanned/s)",
			tg.name, pat, total, n, pages, el.Round(time.Millisecond), float64(total)/el.Seconds())
	}
}

func TestBench_FilterLogEvents_Berth(t *testing.T) {
	benchOn(t)
	benchFilter(t, berthTarget(t), envInt("BERTH_BENCH_FILTER_EVENTS", 1040000))
}

func TestBench_FilterLogEvents_Moto(t *testing.T) {
	benchOn(t)
	benchFilter(t, motoTarget(t), envInt("BERTH_BENCH_MOTO_FILTER_EVENTS", 1040000))
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func eventsKey() events.AccessKey {
	return events.AccessKey{AccessKeyID: "test", SecretAccessKey: "test"}
}
