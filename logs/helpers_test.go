package logs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/logs"
)

type fixture struct {
	env *testenv.Env
	cw  *cloudwatchlogs.Client
	ctx context.Context
}

// start runs NATS, a gateway and the logs service; now (optional) is the
// service's clock.
func start(t testing.TB, now func() time.Time) *fixture {
	t.Helper()
	env := testenv.New(t)
	svc, err := logs.New(logs.Config{Region: testenv.Region, Account: testenv.Account, Now: now}, env.NC, env.JS)
	if err != nil {
		t.Fatal(err)
	}
	env.Go(t, "logs", svc.Run)
	env.WaitFor(t, events.ServiceLogs)
	cw := cloudwatchlogs.NewFromConfig(env.AWSConfig(), func(o *cloudwatchlogs.Options) { o.BaseEndpoint = aws.String(env.Endpoint) })
	return &fixture{env: env, cw: cw, ctx: context.Background()}
}

func (f *fixture) group(t testing.TB, group string, streams ...string) {
	t.Helper()
	if _, err := f.cw.CreateLogGroup(f.ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatalf("CreateLogGroup: %v", err)
	}
	for _, s := range streams {
		if _, err := f.cw.CreateLogStream(f.ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(s)}); err != nil {
			t.Fatalf("CreateLogStream: %v", err)
		}
	}
}

func (f *fixture) put(t testing.TB, group, stream string, evs ...types.InputLogEvent) *cloudwatchlogs.PutLogEventsOutput {
	t.Helper()
	out, err := f.cw.PutLogEvents(f.ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream), LogEvents: evs})
	if err != nil {
		t.Fatalf("PutLogEvents: %v", err)
	}
	return out
}

func ev(ts int64, msg string) types.InputLogEvent {
	return types.InputLogEvent{Timestamp: aws.Int64(ts), Message: aws.String(msg)}
}

// all reads a stream from the head with GetLogEvents until the token repeats.
func (f *fixture) all(t testing.TB, group, stream string) []string {
	t.Helper()
	var out []string
	var token *string
	for range 10000 {
		res, err := f.cw.GetLogEvents(f.ctx, &cloudwatchlogs.GetLogEventsInput{
			LogGroupName: aws.String(group), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true), NextToken: token,
		})
		if err != nil {
			t.Fatalf("GetLogEvents: %v", err)
		}
		for _, e := range res.Events {
			out = append(out, aws.ToString(e.Message))
		}
		if token != nil && aws.ToString(res.NextForwardToken) == *token {
			return out
		}
		token = res.NextForwardToken
	}
	t.Fatal("GetLogEvents never ended")
	return nil
}

func wantCode(t testing.TB, err error, code, msg string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want %s, got %v", code, err)
	}
	if ae.ErrorCode() != code || (msg != "" && ae.ErrorMessage() != msg) {
		t.Fatalf("want %s %q, got %s %q", code, msg, ae.ErrorCode(), ae.ErrorMessage())
	}
}
