package testenv

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
)

// CreateAtSchedule creates in as a one-time schedule, at(...) the whole
// second at least lead from now, and returns that time. A schedule fires
// only occurrences after its last change, so when the call was slow enough
// to be stored after its own time (a loaded machine), the schedule is
// deleted and created again, later.
func CreateAtSchedule(t testing.TB, c *scheduler.Client, in scheduler.CreateScheduleInput, lead time.Duration) time.Time {
	t.Helper()
	ctx := context.Background()
	for try := 0; try < 5; try++ {
		at := time.Now().UTC().Add(lead + time.Second).Truncate(time.Second)
		in.ScheduleExpression = aws.String("at(" + at.Format("2006-01-02T15:04:05") + ")")
		if _, err := c.CreateSchedule(ctx, &in); err != nil {
			t.Fatalf("create schedule %s: %v", aws.ToString(in.Name), err)
		}
		if time.Now().Before(at) || storedBefore(t, c, &in, at) {
			return at
		}
		if _, err := c.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{Name: in.Name, GroupName: in.GroupName}); err != nil {
			t.Fatalf("delete schedule %s: %v", aws.ToString(in.Name), err)
		}
		lead = 2*max(lead, 0) + time.Second
	}
	t.Fatalf("schedule %s: every try was stored after its time", aws.ToString(in.Name))
	return time.Time{}
}

// storedBefore reports whether the schedule was stored before at (so it
// fires), or is already gone (it fired and deleted itself).
func storedBefore(t testing.TB, c *scheduler.Client, in *scheduler.CreateScheduleInput, at time.Time) bool {
	t.Helper()
	out, err := c.GetSchedule(context.Background(), &scheduler.GetScheduleInput{Name: in.Name, GroupName: in.GroupName})
	var missing *schedtypes.ResourceNotFoundException
	if errors.As(err, &missing) {
		return true
	}
	if err != nil {
		t.Fatalf("get schedule %s: %v", aws.ToString(in.Name), err)
	}
	return aws.ToTime(out.LastModificationDate).Before(at)
}
