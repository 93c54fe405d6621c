package cron

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/services/cron/expr"
)

var nameRE = regexp.MustCompile(`^[0-9a-zA-Z-_.]+$`)

// universalRunTask is Scheduler's universal target for ECS RunTask.
const universalRunTask = "arn:aws:scheduler:::aws-sdk:ecs:runTask"

func (s *Service) schedulerOps() map[string]natsutil.Handler {
	return map[string]natsutil.Handler{
		"CreateSchedule":      s.createSchedule,
		"GetSchedule":         s.getSchedule,
		"UpdateSchedule":      s.updateSchedule,
		"DeleteSchedule":      s.deleteSchedule,
		"ListSchedules":       s.listSchedules,
		"CreateScheduleGroup": s.createGroup,
		"GetScheduleGroup":    s.getGroup,
		"DeleteScheduleGroup": s.deleteGroup,
		"ListScheduleGroups":  s.listGroups,
		"TagResource":         s.tagResource,
		"UntagResource":       s.untagResource,
		"ListTagsForResource": s.listTags,
	}
}

func checkName(v, member string) error {
	if len(v) < 1 || len(v) > 64 {
		return constraint(v, member, "Member must have length between 1 and 64")
	}
	if !nameRE.MatchString(v) {
		return constraint(v, member, "Member must satisfy regular expression pattern: ^[0-9a-zA-Z-_.]+$")
	}
	return nil
}

// buildSchedule validates a CreateSchedule or UpdateSchedule input and
// returns the record it describes (times not set).
func (s *Service) buildSchedule(in *ScheduleInput) (*scheduleRecord, error) {
	if err := checkName(in.Name, "name"); err != nil {
		return nil, err
	}
	if in.GroupName == "" {
		in.GroupName = defaultGroup
	}
	if err := checkName(in.GroupName, "groupName"); err != nil {
		return nil, err
	}
	if in.ScheduleExpression == "" || len(in.ScheduleExpression) > 256 {
		return nil, constraint(in.ScheduleExpression, "scheduleExpression", "Member must have length between 1 and 256")
	}
	r := &scheduleRecord{
		Name: in.Name, Group: in.GroupName, ARN: scheduleARN(s.cfg.Region, s.cfg.Account, in.GroupName, in.Name),
		Expression: in.ScheduleExpression, Timezone: in.ScheduleExpressionTimezone, State: in.State,
		AfterCompletion: in.ActionAfterCompletion, KmsKeyARN: in.KmsKeyArn,
	}
	if in.Description != nil {
		if len(*in.Description) > 512 {
			return nil, constraint(*in.Description, "description", "Member must have length less than or equal to 512")
		}
		r.Description = *in.Description
	}
	if _, err := expr.Parse(in.ScheduleExpression, expr.Scheduler); err != nil {
		return nil, badSchedulerExpression(in.ScheduleExpression)
	}
	if r.Timezone != "" {
		if _, err := time.LoadLocation(r.Timezone); err != nil || len(r.Timezone) > 50 || r.Timezone == "Local" {
			return nil, validation("Invalid timezone %s.", r.Timezone) // (unverified)
		}
	}
	switch r.State {
	case "":
		r.State = stateEnabled
	case stateEnabled, stateDisabled:
	default:
		return nil, constraint(r.State, "state", "Member must satisfy enum value set: [ENABLED, DISABLED]")
	}
	switch r.AfterCompletion {
	case "", afterNone, afterDelete:
	default:
		return nil, constraint(r.AfterCompletion, "actionAfterCompletion", "Member must satisfy enum value set: [NONE, DELETE]")
	}
	if in.StartDate != nil {
		r.Start = in.StartDate.UTC()
	}
	if in.EndDate != nil {
		r.End = in.EndDate.UTC()
	}
	if !r.Start.IsZero() && !r.End.IsZero() && !r.End.After(r.Start) {
		return nil, validation("The EndDate you specify must be after the StartDate.") // (unverified)
	}
	if in.FlexibleTimeWindow == nil {
		return nil, validation("1 validation error detected: Value null at 'flexibleTimeWindow' failed to satisfy constraint: Member must not be null")
	}
	r.Window = *in.FlexibleTimeWindow
	if err := checkWindow(&r.Window); err != nil {
		return nil, err
	}
	if in.Target == nil {
		return nil, validation("1 validation error detected: Value null at 'target' failed to satisfy constraint: Member must not be null")
	}
	if err := checkSchedTarget(in.Target); err != nil {
		return nil, err
	}
	r.Target = *in.Target
	return r, nil
}

// checkWindow validates a FlexibleTimeWindow.
func checkWindow(w *FlexibleTimeWindow) error {
	switch w.Mode {
	case "OFF":
		if w.MaximumWindowInMinutes != nil {
			return validation("MaximumWindowInMinutes is not allowed when FlexibleTimeWindow Mode is OFF.") // (unverified)
		}
	case "FLEXIBLE":
		m := w.MaximumWindowInMinutes
		if m == nil {
			return validation("MaximumWindowInMinutes is required when FlexibleTimeWindow Mode is FLEXIBLE.") // (unverified)
		}
		if *m < 1 || *m > 1440 {
			return constraint(*m, "flexibleTimeWindow.maximumWindowInMinutes", "Member must have value between 1 and 1440")
		}
	default:
		return constraint(w.Mode, "flexibleTimeWindow.mode", "Member must satisfy enum value set: [OFF, FLEXIBLE]")
	}
	return nil
}

// checkSchedTarget validates a Scheduler target: an ECS cluster with
// EcsParameters, the universal RunTask target, or an event bus.
func checkSchedTarget(t *SchedTarget) error {
	if t.Arn == "" {
		return validation("1 validation error detected: Value null at 'target.arn' failed to satisfy constraint: Member must not be null")
	}
	if t.RoleArn == "" {
		return validation("1 validation error detected: Value null at 'target.roleArn' failed to satisfy constraint: Member must not be null")
	}
	if err := checkRetry(t.RetryPolicy, "target.retryPolicy"); err != nil {
		return err
	}
	switch targetKind(t.Arn) {
	case targetECS:
		if t.EcsParameters == nil {
			return validation("EcsParameters is required for an Amazon ECS target.") // (unverified)
		}
		return checkEcs(t.EcsParameters, "target.ecsParameters")
	case targetRunTask:
		if !json.Valid([]byte(t.Input)) || !strings.HasPrefix(strings.TrimSpace(t.Input), "{") {
			return validation("Input must be a JSON object with the RunTask request for %s.", universalRunTask) // (unverified)
		}
		return nil
	case targetBus:
		if t.EventBridgeParameters == nil || t.EventBridgeParameters.DetailType == "" || t.EventBridgeParameters.Source == "" {
			return validation("EventBridgeParameters with DetailType and Source is required for an EventBridge target.") // (unverified)
		}
		return nil
	}
	return unsupportedTarget(t.Arn)
}

func checkRetry(p *RetryPolicy, member string) error {
	if p == nil {
		return nil
	}
	if v := p.MaximumRetryAttempts; v != nil && (*v < 0 || *v > 185) {
		return constraint(*v, member+".maximumRetryAttempts", "Member must have value between 0 and 185")
	}
	if v := p.MaximumEventAgeInSeconds; v != nil && (*v < 60 || *v > 86400) {
		return constraint(*v, member+".maximumEventAgeInSeconds", "Member must have value between 60 and 86400")
	}
	return nil
}

func checkEcs(p *EcsParameters, member string) error {
	if p.TaskDefinitionArn == "" {
		return validation("1 validation error detected: Value null at '%s.taskDefinitionArn' failed to satisfy constraint: Member must not be null", member)
	}
	if c := p.TaskCount; c != nil && (*c < 1 || *c > 10) {
		return constraint(*c, member+".taskCount", "Member must have value between 1 and 10")
	}
	if p.LaunchType != "" && !slices.Contains([]string{"EC2", "FARGATE", "EXTERNAL"}, p.LaunchType) {
		return constraint(p.LaunchType, member+".launchType", "Member must satisfy enum value set: [EC2, FARGATE, EXTERNAL]")
	}
	return nil
}

// Target kinds.
const (
	targetOther = iota
	targetECS
	targetRunTask
	targetBus
)

func targetKind(arn string) int {
	switch {
	case arn == universalRunTask:
		return targetRunTask
	case strings.HasPrefix(arn, "arn:aws:ecs:") && strings.Contains(arn, ":cluster/"):
		return targetECS
	case strings.HasPrefix(arn, "arn:aws:events:") && strings.Contains(arn, ":event-bus/"):
		return targetBus
	}
	return targetOther
}

func (s *Service) groupExists(ctx context.Context, name string) (bool, error) {
	if name == defaultGroup {
		return true, nil
	}
	var g groupRecord
	_, ok, err := s.load(ctx, events.CronGroupKey(name), &g)
	return ok, err
}

func (s *Service) createSchedule(ctx context.Context, req *natsutil.Request) (any, error) {
	var in ScheduleInput
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	r, err := s.buildSchedule(&in)
	if err != nil {
		return nil, err
	}
	if ok, err := s.groupExists(ctx, r.Group); err != nil {
		return nil, err
	} else if !ok {
		return nil, groupNotFound(r.Group)
	}
	now := s.now()
	r.Created, r.Modified = now, now
	if _, err := s.save(ctx, keyOfSchedule(r), r, 0); errors.Is(err, errConflict) {
		return nil, scheduleExists(r.Name)
	} else if err != nil {
		return nil, err
	}
	return map[string]string{"ScheduleArn": r.ARN}, nil
}

func (s *Service) updateSchedule(ctx context.Context, req *natsutil.Request) (any, error) {
	var in ScheduleInput
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	r, err := s.buildSchedule(&in)
	if err != nil {
		return nil, err
	}
	err = retry(func() error {
		var old scheduleRecord
		rev, ok, err := s.load(ctx, keyOfSchedule(r), &old)
		if err != nil {
			return err
		}
		if !ok {
			return scheduleNotFound(r.Name)
		}
		r.Created, r.Modified = old.Created, s.now()
		_, err = s.save(ctx, keyOfSchedule(r), r, rev)
		return err
	})
	if err != nil {
		return nil, err
	}
	return map[string]string{"ScheduleArn": r.ARN}, nil
}

type nameInput struct {
	Name        string `json:"Name"`
	GroupName   string `json:"GroupName"`
	ClientToken string `json:"ClientToken"`
}

func (s *Service) scheduleRef(req *natsutil.Request) (nameInput, error) {
	var in nameInput
	if err := req.Decode(&in); err != nil {
		return in, err
	}
	if in.GroupName == "" {
		in.GroupName = defaultGroup
	}
	if err := checkName(in.Name, "name"); err != nil {
		return in, err
	}
	return in, checkName(in.GroupName, "groupName")
}

func (s *Service) getSchedule(ctx context.Context, req *natsutil.Request) (any, error) {
	in, err := s.scheduleRef(req)
	if err != nil {
		return nil, err
	}
	var r scheduleRecord
	_, ok, err := s.load(ctx, events.CronScheduleKey(in.GroupName, in.Name), &r)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, scheduleNotFound(in.Name)
	}
	out := GetScheduleOutput{
		ActionAfterCompletion: r.AfterCompletion, Arn: r.ARN, CreationDate: awsjson.NewTime(r.Created),
		Description: r.Description, FlexibleTimeWindow: &r.Window, GroupName: r.Group, KmsKeyArn: r.KmsKeyARN,
		LastModificationDate: awsjson.NewTime(r.Modified), Name: r.Name, ScheduleExpression: r.Expression,
		ScheduleExpressionTimezone: r.Timezone, State: r.State, Target: &r.Target,
	}
	if out.ActionAfterCompletion == "" {
		out.ActionAfterCompletion = afterNone
	}
	if !r.Start.IsZero() {
		out.StartDate = awsjson.NewTime(r.Start)
	}
	if !r.End.IsZero() {
		out.EndDate = awsjson.NewTime(r.End)
	}
	return out, nil
}

func (s *Service) deleteSchedule(ctx context.Context, req *natsutil.Request) (any, error) {
	in, err := s.scheduleRef(req)
	if err != nil {
		return nil, err
	}
	key := events.CronScheduleKey(in.GroupName, in.Name)
	err = retry(func() error {
		var r scheduleRecord
		rev, ok, err := s.load(ctx, key, &r)
		if err != nil {
			return err
		}
		if !ok {
			return scheduleNotFound(in.Name)
		}
		return s.remove(ctx, key, rev)
	})
	return struct{}{}, err
}

type listInput struct {
	GroupName  string `json:"GroupName"`
	NamePrefix string `json:"NamePrefix"`
	State      string `json:"State"`
	MaxResults string `json:"MaxResults"` // a query parameter: a string on the wire
	NextToken  string `json:"NextToken"`
}

// page parses MaxResults (1-100, default 100) and NextToken (the last key
// of the previous page).
func (in *listInput) page() (int, string, error) {
	limit := 100
	if in.MaxResults != "" {
		n, err := parseInt(in.MaxResults)
		if err != nil || n < 1 || n > 100 {
			return 0, "", constraint(in.MaxResults, "maxResults", "Member must have value between 1 and 100")
		}
		limit = n
	}
	after := ""
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil {
			return 0, "", validation("Invalid NextToken.") // (unverified)
		}
		after = string(b)
	}
	return limit, after, nil
}

func (s *Service) listSchedules(ctx context.Context, req *natsutil.Request) (any, error) {
	var in listInput
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	limit, after, err := in.page()
	if err != nil {
		return nil, err
	}
	if in.State != "" && in.State != stateEnabled && in.State != stateDisabled {
		return nil, constraint(in.State, "state", "Member must satisfy enum value set: [ENABLED, DISABLED]")
	}
	prefix := "sch."
	if in.GroupName != "" {
		if ok, err := s.groupExists(ctx, in.GroupName); err != nil {
			return nil, err
		} else if !ok {
			return nil, groupNotFound(in.GroupName)
		}
		prefix = "sch." + events.Token(in.GroupName) + "."
	}
	keys, err := s.listKeys(ctx, prefix)
	if err != nil {
		return nil, err
	}
	slices.Sort(keys)
	out := struct {
		NextToken string            `json:"NextToken,omitempty"`
		Schedules []ScheduleSummary `json:"Schedules"`
	}{Schedules: []ScheduleSummary{}}
	for _, k := range keys {
		if k <= after {
			continue
		}
		var r scheduleRecord
		if _, ok, err := s.load(ctx, k, &r); err != nil {
			return nil, err
		} else if !ok || !strings.HasPrefix(r.Name, in.NamePrefix) || (in.State != "" && r.State != in.State) {
			continue
		}
		if len(out.Schedules) == limit {
			out.NextToken = b64(after)
			break
		}
		sum := ScheduleSummary{Arn: r.ARN, CreationDate: awsjson.NewTime(r.Created), GroupName: r.Group,
			LastModificationDate: awsjson.NewTime(r.Modified), Name: r.Name, State: r.State}
		sum.Target.Arn = r.Target.Arn
		out.Schedules = append(out.Schedules, sum)
		after = k
	}
	return out, nil
}

func parseInt(s string) (int, error) {
	var n int
	err := json.Unmarshal([]byte(s), &n)
	return n, err
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
