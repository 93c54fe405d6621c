package logs_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natsutil"
)

func TestLogs_SDK_Lifecycle(t *testing.T) {
	f := start(t, nil)
	g := "/ecs/web"
	f.group(t, g, "app/web/1", "app/web/2")
	now := time.Now().UnixMilli()
	out := f.put(t, g, "app/web/1", ev(now-2, "hello"), ev(now-1, "world"))
	if out.NextSequenceToken == nil || out.RejectedLogEventsInfo != nil {
		t.Fatalf("put: %+v", out)
	}
	f.put(t, g, "app/web/1", ev(now, "third"))
	if got := f.all(t, g, "app/web/1"); !slices.Equal(got, []string{"hello", "world", "third"}) {
		t.Fatalf("events %q", got)
	}
	// Default GetLogEvents reads the newest page.
	res, err := f.cw.GetLogEvents(f.ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(g), LogStreamName: aws.String("app/web/1"), Limit: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 2 || aws.ToString(res.Events[0].Message) != "world" || aws.ToString(res.Events[1].Message) != "third" {
		t.Fatalf("newest page %+v", res.Events)
	}
	back, err := f.cw.GetLogEvents(f.ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(g), LogStreamName: aws.String("app/web/1"), NextToken: res.NextBackwardToken})
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Events) != 1 || aws.ToString(back.Events[0].Message) != "hello" {
		t.Fatalf("backward page %+v", back.Events)
	}

	ds, err := f.cw.DescribeLogStreams(f.ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String(g), OrderBy: types.OrderByLastEventTime, Descending: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.LogStreams) != 2 || aws.ToString(ds.LogStreams[0].LogStreamName) != "app/web/1" || aws.ToInt64(ds.LogStreams[0].LastEventTimestamp) != now {
		t.Fatalf("streams %+v", ds.LogStreams)
	}
	dg, err := f.cw.DescribeLogGroups(f.ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/ecs/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(dg.LogGroups) != 1 || aws.ToString(dg.LogGroups[0].Arn) != "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/web:*" {
		t.Fatalf("groups %+v", dg.LogGroups)
	}

	fl, err := f.cw.FilterLogEvents(f.ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(g), FilterPattern: aws.String("?hello ?third")})
	if err != nil {
		t.Fatal(err)
	}
	if len(fl.Events) != 2 || fl.NextToken != nil || aws.ToString(fl.Events[1].LogStreamName) != "app/web/1" || aws.ToString(fl.Events[0].EventId) == "" {
		t.Fatalf("filter %+v next %v", fl.Events, fl.NextToken)
	}

	if _, err := f.cw.DeleteLogStream(f.ctx, &cloudwatchlogs.DeleteLogStreamInput{LogGroupName: aws.String(g), LogStreamName: aws.String("app/web/1")}); err != nil {
		t.Fatal(err)
	}
	_, err = f.cw.GetLogEvents(f.ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(g), LogStreamName: aws.String("app/web/1")})
	wantCode(t, err, "ResourceNotFoundException", "The specified log stream does not exist.")
	if _, err := f.cw.DeleteLogGroup(f.ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(g)}); err != nil {
		t.Fatal(err)
	}
	_, err = f.cw.DescribeLogStreams(f.ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String(g)})
	wantCode(t, err, "ResourceNotFoundException", "The specified log group does not exist.")
}

func TestLogs_SDK_Errors(t *testing.T) {
	f := start(t, nil)
	f.group(t, "g", "s")
	_, err := f.cw.CreateLogGroup(f.ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("g")})
	wantCode(t, err, "ResourceAlreadyExistsException", "The specified log group already exists")
	_, err = f.cw.CreateLogStream(f.ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("g"), LogStreamName: aws.String("s")})
	wantCode(t, err, "ResourceAlreadyExistsException", "The specified log stream already exists")
	_, err = f.cw.CreateLogStream(f.ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("nope"), LogStreamName: aws.String("s")})
	wantCode(t, err, "ResourceNotFoundException", "The specified log group does not exist.")
	_, err = f.cw.CreateLogGroup(f.ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("bad name")})
	wantCode(t, err, "InvalidParameterException", "")
	_, err = f.cw.PutLogEvents(f.ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String("nope"), LogStreamName: aws.String("s"), LogEvents: []types.InputLogEvent{ev(time.Now().UnixMilli(), "x")}})
	wantCode(t, err, "ResourceNotFoundException", "The specified log group does not exist.")
	_, err = f.cw.PutLogEvents(f.ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String("g"), LogStreamName: aws.String("nope"), LogEvents: []types.InputLogEvent{ev(time.Now().UnixMilli(), "x")}})
	wantCode(t, err, "ResourceNotFoundException", "The specified log stream does not exist.")
	_, err = f.cw.FilterLogEvents(f.ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("g"), FilterPattern: aws.String(`{ $.a = `)})
	wantCode(t, err, "InvalidParameterException", "Invalid filter pattern")
	_, err = f.cw.PutRetentionPolicy(f.ctx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String("g"), RetentionInDays: aws.Int32(2)})
	wantCode(t, err, "InvalidParameterException", "")
	now := time.Now().UnixMilli()
	_, err = f.cw.PutLogEvents(f.ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String("g"), LogStreamName: aws.String("s"), LogEvents: []types.InputLogEvent{ev(now, "b"), ev(now-1, "a")}})
	wantCode(t, err, "InvalidParameterException", "Log events in a single PutLogEvents request must be in chronological order.")
	many := make([]types.InputLogEvent, 10001)
	for i := range many {
		many[i] = ev(now, "x")
	}
	for name, batch := range map[string][]types.InputLogEvent{
		"too many":  many,
		"too large": {ev(now, strings.Repeat("a", 1048576-26+1))},
		"span":      {ev(now-25*3600*1000, "a"), ev(now, "b")},
		"empty":     {},
	} {
		_, err = f.cw.PutLogEvents(f.ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String("g"), LogStreamName: aws.String("s"), LogEvents: batch})
		t.Logf("%s: %v", name, err)
		wantCode(t, err, "InvalidParameterException", "")
	}
	if got := f.all(t, "g", "s"); len(got) != 0 {
		t.Fatalf("rejected batch stored %q", got)
	}
}

func TestLogs_SDK_TagsAndRetention(t *testing.T) {
	f := start(t, nil)
	f.group(t, "g", "s")
	arn := "arn:aws:logs:us-east-1:123456789012:log-group:g"
	if _, err := f.cw.TagResource(f.ctx, &cloudwatchlogs.TagResourceInput{ResourceArn: aws.String(arn), Tags: map[string]string{"a": "1", "b": "2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cw.UntagLogGroup(f.ctx, &cloudwatchlogs.UntagLogGroupInput{LogGroupName: aws.String("g"), Tags: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cw.TagLogGroup(f.ctx, &cloudwatchlogs.TagLogGroupInput{LogGroupName: aws.String("g"), Tags: map[string]string{"c": "3"}}); err != nil {
		t.Fatal(err)
	}
	lt, err := f.cw.ListTagsForResource(f.ctx, &cloudwatchlogs.ListTagsForResourceInput{ResourceArn: aws.String(arn + ":*")})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(lt.Tags) != "map[b:2 c:3]" {
		t.Fatalf("tags %v", lt.Tags)
	}
	_, err = f.cw.ListTagsForResource(f.ctx, &cloudwatchlogs.ListTagsForResourceInput{ResourceArn: aws.String(arn + "x")})
	wantCode(t, err, "ResourceNotFoundException", "")

	now := time.Now()
	old := now.Add(-30 * time.Hour).UnixMilli()
	f.put(t, "g", "s", ev(old, "old"))
	f.put(t, "g", "s", ev(now.UnixMilli(), "new"))
	if _, err := f.cw.PutRetentionPolicy(f.ctx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String("g"), RetentionInDays: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	if got := f.all(t, "g", "s"); !slices.Equal(got, []string{"new"}) {
		t.Fatalf("after retention %q", got)
	}
	out := f.put(t, "g", "s", ev(old, "expired"), ev(now.Add(-7*time.Hour).UnixMilli(), "kept"))
	if ri := out.RejectedLogEventsInfo; ri == nil || aws.ToInt32(ri.ExpiredLogEventEndIndex) != 1 {
		t.Fatalf("rejected %+v", out.RejectedLogEventsInfo)
	}
	dg, err := f.cw.DescribeLogGroups(f.ctx, &cloudwatchlogs.DescribeLogGroupsInput{})
	if err != nil || len(dg.LogGroups) != 1 || aws.ToInt32(dg.LogGroups[0].RetentionInDays) != 1 {
		t.Fatalf("groups %+v %v", dg, err)
	}
	if _, err := f.cw.DeleteRetentionPolicy(f.ctx, &cloudwatchlogs.DeleteRetentionPolicyInput{LogGroupName: aws.String("g")}); err != nil {
		t.Fatal(err)
	}
	if got := f.all(t, "g", "s"); !slices.Contains(got, "kept") || slices.Contains(got, "expired") {
		t.Fatalf("after delete retention %q", got)
	}
}

func TestLogs_LiveSubject(t *testing.T) {
	f := start(t, nil)
	f.group(t, "/ecs/live", "app/c/1")
	sub, err := f.env.NC.SubscribeSync("logs.>")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	f.put(t, "/ecs/live", "app/c/1", ev(now, "live line"))
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != events.SubjLogs("/ecs/live", "app/c/1") {
		t.Fatalf("subject %s", m.Subject)
	}
	var got []string
	if err := events.ParseLogChunk(m.Data, func(_ int, e events.LogEvent) bool { got = append(got, e.Message); return e.Timestamp == now }); err != nil || !slices.Equal(got, []string{"live line"}) {
		t.Fatalf("live chunk %q %v", m.Data, err)
	}
}

func TestLogs_Ship_ExactlyOnce(t *testing.T) {
	f := start(t, nil)
	now := time.Now().UnixMilli()
	batch := func(from, to int) events.LogShipRequest {
		req := events.LogShipRequest{LogGroupName: "/ecs/ship", LogStreamName: "ecs/app/1", CreateGroup: true}
		for i := from; i <= to; i++ {
			req.Events = append(req.Events, events.LogShipEvent{Timestamp: now, Message: fmt.Sprintf("line %d", i), Cursor: fmt.Sprintf("%020d.%06d", 1000+i, 0)})
		}
		return req
	}
	ship := func(req events.LogShipRequest) events.LogShipResponse {
		t.Helper()
		var res events.LogShipResponse
		if err := natsutil.Call(f.ctx, f.env.NC, events.SubjInternal(events.ServiceLogs, "Ship"), req, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	if r := ship(batch(1, 100)); r.Stored != 100 {
		t.Fatalf("first batch stored %d", r.Stored)
	}
	if r := ship(batch(1, 100)); r.Stored != 0 {
		t.Fatalf("resent batch stored %d", r.Stored)
	}
	if r := ship(batch(50, 150)); r.Stored != 50 {
		t.Fatalf("overlapping batch stored %d", r.Stored)
	}
	got := f.all(t, "/ecs/ship", "ecs/app/1")
	if len(got) != 150 || got[0] != "line 1" || got[149] != "line 150" {
		t.Fatalf("%d events: %q ... ", len(got), got[:3])
	}
	// Without createGroup an unknown group is AWS's error.
	req := batch(1, 1)
	req.LogGroupName, req.CreateGroup = "/ecs/none", false
	err := natsutil.Call(f.ctx, f.env.NC, events.SubjInternal(events.ServiceLogs, "Ship"), req, nil)
	if !apierr.HasCode(err, events.CodeResourceNotFound) {
		t.Fatalf("unknown group: %v", err)
	}
}

// TestLogs_DockerAwslogsDriverCalls replays the calls of Docker's awslogs
// driver (aws-sdk-go CloudWatch Logs client) with the Go SDK v2 client:
// CreateLogStream in a missing group -> ResourceNotFoundException ->
// CreateLogGroup -> CreateLogStream -> PutLogEvents without a token, then
// with the returned token; a second container on the same stream starts
// without a token and gets ResourceAlreadyExistsException on its create.
func TestLogs_DockerAwslogsDriverCalls(t *testing.T) {
	f := start(t, nil)
	g, s := "docker-driver", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	_, err := f.cw.CreateLogStream(f.ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(g), LogStreamName: aws.String(s)})
	wantCode(t, err, "ResourceNotFoundException", "The specified log group does not exist.")
	if _, err := f.cw.CreateLogGroup(f.ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(g)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cw.CreateLogStream(f.ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(g), LogStreamName: aws.String(s)}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	out := f.put(t, g, s, ev(now, "hi"), ev(now, "there"))
	tok := out.NextSequenceToken
	if tok == nil {
		t.Fatal("no nextSequenceToken")
	}
	out2, err := f.cw.PutLogEvents(f.ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(g), LogStreamName: aws.String(s),
		SequenceToken: tok, LogEvents: []types.InputLogEvent{ev(now+1, "again")}})
	if err != nil || out2.NextSequenceToken == nil {
		t.Fatalf("put with token: %v", err)
	}
	// A stale token is ignored, as AWS now does.
	if _, err := f.cw.PutLogEvents(f.ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(g), LogStreamName: aws.String(s),
		SequenceToken: tok, LogEvents: []types.InputLogEvent{ev(now+2, "stale token")}}); err != nil {
		t.Fatalf("put with a stale token: %v", err)
	}
	_, err = f.cw.CreateLogStream(f.ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(g), LogStreamName: aws.String(s)})
	wantCode(t, err, "ResourceAlreadyExistsException", "The specified log stream already exists")
	if got := f.all(t, g, s); !slices.Equal(got, []string{"hi", "there", "again", "stale token"}) {
		t.Fatalf("events %q", got)
	}
}
