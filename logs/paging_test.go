package logs_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// TestLogs_Paging stores 25 batches of 1,000 events (plus a second stream
// interleaved) and reads them with every kind of page: forward and backward
// GetLogEvents with a limit that cuts batches, and FilterLogEvents with a
// limit and a pattern.
func TestLogs_Paging(t *testing.T) {
	f := start(t, nil)
	f.group(t, "p", "a", "b")
	base := time.Now().Add(-time.Hour).UnixMilli()
	n := 0
	for b := range 25 {
		evs := make([]types.InputLogEvent, 1000)
		for i := range evs {
			evs[i] = ev(base+int64(n), fmt.Sprintf("event %d", n))
			n++
		}
		f.put(t, "p", "a", evs...)
		f.put(t, "p", "b", ev(base+int64(n), fmt.Sprintf("other %d", b)))
	}
	want := func(i int) string { return fmt.Sprintf("event %d", i) }

	// Forward, 7,000 a page, until the token comes back unchanged.
	var got []string
	var token *string
	pages := 0
	for {
		res, err := f.cw.GetLogEvents(f.ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("p"), LogStreamName: aws.String("a"),
			StartFromHead: aws.Bool(true), Limit: aws.Int32(7000), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, e := range res.Events {
			got = append(got, aws.ToString(e.Message))
		}
		if token != nil && aws.ToString(res.NextForwardToken) == *token {
			if len(res.Events) != 0 {
				t.Fatal("same token with events")
			}
			break
		}
		token = res.NextForwardToken
	}
	if len(got) != 25000 || pages != 5 {
		t.Fatalf("forward: %d events in %d pages", len(got), pages)
	}
	for i, m := range got {
		if m != want(i) {
			t.Fatalf("forward %d: %q", i, m)
		}
	}

	// Backward from the end, 7,000 a page.
	got = got[:0]
	token = nil
	for range 10 {
		res, err := f.cw.GetLogEvents(f.ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("p"), LogStreamName: aws.String("a"),
			Limit: aws.Int32(7000), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		var page []string
		for _, e := range res.Events {
			page = append(page, aws.ToString(e.Message))
		}
		got = append(page, got...)
		if token != nil && aws.ToString(res.NextBackwardToken) == *token {
			break
		}
		token = res.NextBackwardToken
	}
	if len(got) != 25000 {
		t.Fatalf("backward: %d events", len(got))
	}
	for i, m := range got {
		if m != want(i) {
			t.Fatalf("backward %d: %q", i, m)
		}
	}

	// Time range: [base+100, base+200) gives events 100..199.
	res, err := f.cw.GetLogEvents(f.ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("p"), LogStreamName: aws.String("a"),
		StartFromHead: aws.Bool(true), StartTime: aws.Int64(base + 100), EndTime: aws.Int64(base + 200)})
	if err != nil || len(res.Events) != 100 || aws.ToString(res.Events[0].Message) != want(100) {
		t.Fatalf("time range: %d events, %v", len(res.Events), err)
	}

	// FilterLogEvents over both streams, 3,000 a page, every eventId once.
	ids := map[string]bool{}
	total, others := 0, 0
	var next *string
	for {
		fl, err := f.cw.FilterLogEvents(f.ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("p"), Limit: aws.Int32(3000), NextToken: next})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range fl.Events {
			if ids[aws.ToString(e.EventId)] {
				t.Fatalf("eventId %s twice", aws.ToString(e.EventId))
			}
			ids[aws.ToString(e.EventId)] = true
			total++
			if aws.ToString(e.LogStreamName) == "b" {
				others++
			}
		}
		if fl.NextToken == nil {
			break
		}
		next = fl.NextToken
	}
	if total != 25025 || others != 25 {
		t.Fatalf("filter: %d events, %d from b", total, others)
	}
	fl, err := f.cw.FilterLogEvents(f.ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("p"), LogStreamNamePrefix: aws.String("b"),
		FilterPattern: aws.String(`"other 2"`), StartTime: aws.Int64(base)})
	if err != nil || len(fl.Events) != 6 || fl.NextToken != nil { // other 2, 20..24
		t.Fatalf("filter prefix+pattern: %d events, next %v, %v", len(fl.Events), fl.NextToken, err)
	}
}
