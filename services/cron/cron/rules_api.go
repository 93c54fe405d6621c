package cron

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/services/cron/expr"
	"github.com/berth-project/berth/services/cron/pattern"
)

var (
	ruleNameRE = regexp.MustCompile(`^[\.\-_A-Za-z0-9]+$`)
	targetIDRE = regexp.MustCompile(`^[\.\-_A-Za-z0-9]+$`)
)

func (s *Service) eventsOps() map[string]natsutil.Handler {
	return map[string]natsutil.Handler{
		"PutRule":               s.putRule,
		"DescribeRule":          s.describeRule,
		"ListRules":             s.listRules,
		"EnableRule":            s.enableRule,
		"DisableRule":           s.disableRule,
		"DeleteRule":            s.deleteRule,
		"PutTargets":            s.putTargets,
		"RemoveTargets":         s.removeTargets,
		"ListTargetsByRule":     s.listTargets,
		"ListRuleNamesByTarget": s.listRuleNamesByTarget,
		"TestEventPattern":      s.testEventPattern,
		"PutEvents":             s.putEvents,
		"TagResource":           s.tagRule,
		"UntagResource":         s.untagRule,
		"ListTagsForResource":   s.listRuleTags,
	}
}

// bus resolves EventBusName (a name or an ARN; default "default"). Berth
// has the default bus only.
func (s *Service) bus(name string) (string, error) {
	if name == "" {
		return defaultBus, nil
	}
	if strings.HasPrefix(name, "arn:") {
		_, n, _ := cutLast(name, "/")
		if name != busARN(s.cfg.Region, s.cfg.Account, n) {
			return "", busNotFound(name)
		}
		name = n
	}
	if name != defaultBus {
		return "", busNotFound(name)
	}
	return name, nil
}

func checkRuleName(name, member string) error {
	if len(name) < 1 || len(name) > 64 {
		return constraint(name, member, "Member must have length less than or equal to 64")
	}
	if !ruleNameRE.MatchString(name) {
		return constraint(name, member, "Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+")
	}
	return nil
}

type putRuleInput struct {
	Name               string  `json:"Name"`
	ScheduleExpression string  `json:"ScheduleExpression"`
	EventPattern       string  `json:"EventPattern"`
	State              string  `json:"State"`
	Description        *string `json:"Description"`
	RoleArn            string  `json:"RoleArn"`
	Tags               []Tag   `json:"Tags"`
	EventBusName       string  `json:"EventBusName"`
}

func (s *Service) putRule(ctx context.Context, req *natsutil.Request) (any, error) {
	var in putRuleInput
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkRuleName(in.Name, "name"); err != nil {
		return nil, err
	}
	bus, err := s.bus(in.EventBusName)
	if err != nil {
		return nil, err
	}
	if in.ScheduleExpression == "" && in.EventPattern == "" {
		return nil, validation("Parameter(s) EventPattern or ScheduleExpression must be specified.")
	}
	if in.ScheduleExpression != "" {
		if _, err := expr.Parse(in.ScheduleExpression, expr.Rule); err != nil {
			return nil, badRuleExpression()
		}
	}
	if in.EventPattern != "" {
		if _, err := pattern.Compile([]byte(in.EventPattern)); err != nil {
			var pe *pattern.Error
			if errors.As(err, &pe) {
				return nil, badPattern(pe.Reason)
			}
			return nil, badPattern(err.Error())
		}
	}
	switch in.State {
	case "":
		in.State = stateEnabled
	case stateEnabled, stateDisabled:
	default:
		return nil, constraint(in.State, "state", "Member must satisfy enum value set: [ENABLED, DISABLED]")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	key := events.CronRuleKey(bus, in.Name)
	arn := ruleARN(s.cfg.Region, s.cfg.Account, bus, in.Name)
	err = retry(func() error {
		var r ruleRecord
		rev, ok, err := s.load(ctx, key, &r)
		if err != nil {
			return err
		}
		now := s.now()
		if !ok {
			r = ruleRecord{Name: in.Name, Bus: bus, ARN: arn, Created: now, Tags: in.Tags}
		}
		// PutRule replaces the rule's settings and keeps its targets.
		r.Expression, r.Pattern, r.State, r.RoleARN, r.Modified = in.ScheduleExpression, in.EventPattern, in.State, in.RoleArn, now
		if in.Description != nil {
			r.Description = *in.Description
		}
		_, err = s.save(ctx, key, &r, rev)
		return err
	})
	if err != nil {
		return nil, err
	}
	return map[string]string{"RuleArn": arn}, nil
}

type ruleRef struct {
	Name         string `json:"Name"`
	Rule         string `json:"Rule"`
	EventBusName string `json:"EventBusName"`
	Force        bool   `json:"Force"`
}

// loadRule reads the rule named by name on bus name busName.
func (s *Service) loadRule(ctx context.Context, name, busName string) (*ruleRecord, uint64, error) {
	if err := checkRuleName(name, "name"); err != nil {
		return nil, 0, err
	}
	bus, err := s.bus(busName)
	if err != nil {
		return nil, 0, err
	}
	var r ruleRecord
	rev, ok, err := s.load(ctx, events.CronRuleKey(bus, name), &r)
	if err != nil {
		return nil, 0, err
	}
	if !ok {
		return nil, 0, ruleNotFound(name, bus)
	}
	return &r, rev, nil
}

func ruleOut(r *ruleRecord) Rule {
	return Rule{Arn: r.ARN, Description: r.Description, EventBusName: r.Bus, EventPattern: r.Pattern, Name: r.Name,
		RoleArn: r.RoleARN, ScheduleExpression: r.Expression, State: r.State}
}

func (s *Service) describeRule(ctx context.Context, req *natsutil.Request) (any, error) {
	var in ruleRef
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	r, _, err := s.loadRule(ctx, in.Name, in.EventBusName)
	if err != nil {
		return nil, err
	}
	out := ruleOut(r)
	out.CreatedBy = s.cfg.Account
	return out, nil
}

func (s *Service) setRuleState(ctx context.Context, req *natsutil.Request, state string) (any, error) {
	var in ruleRef
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	return struct{}{}, retry(func() error {
		r, rev, err := s.loadRule(ctx, in.Name, in.EventBusName)
		if err != nil {
			return err
		}
		r.State, r.Modified = state, s.now()
		_, err = s.save(ctx, keyOfRule(r), r, rev)
		return err
	})
}

func (s *Service) enableRule(ctx context.Context, req *natsutil.Request) (any, error) {
	return s.setRuleState(ctx, req, stateEnabled)
}

func (s *Service) disableRule(ctx context.Context, req *natsutil.Request) (any, error) {
	return s.setRuleState(ctx, req, stateDisabled)
}

func (s *Service) deleteRule(ctx context.Context, req *natsutil.Request) (any, error) {
	var in ruleRef
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	return struct{}{}, retry(func() error {
		r, rev, err := s.loadRule(ctx, in.Name, in.EventBusName)
		if apiNotFound(err) {
			return nil // DeleteRule of a missing rule succeeds
		}
		if err != nil {
			return err
		}
		if len(r.Targets) > 0 {
			return validation("Rule can't be deleted since it has targets.")
		}
		return s.remove(ctx, keyOfRule(r), rev)
	})
}

type listRulesInput struct {
	NamePrefix   string `json:"NamePrefix"`
	EventBusName string `json:"EventBusName"`
	NextToken    string `json:"NextToken"`
	Limit        *int   `json:"Limit"`
	TargetArn    string `json:"TargetArn"`
	Rule         string `json:"Rule"`
}

// rules lists the rules of a bus in name order.
func (s *Service) rules(ctx context.Context, busName string) ([]*ruleRecord, error) {
	bus, err := s.bus(busName)
	if err != nil {
		return nil, err
	}
	keys, err := s.listKeys(ctx, "rule."+events.Token(bus)+".")
	if err != nil {
		return nil, err
	}
	var out []*ruleRecord
	for _, k := range keys {
		var r ruleRecord
		if _, ok, err := s.load(ctx, k, &r); err != nil {
			return nil, err
		} else if ok {
			out = append(out, &r)
		}
	}
	slices.SortFunc(out, func(a, b *ruleRecord) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// paginate returns the items after token (an item's name) and the next
// token.
func paginate[T any](items []T, name func(T) string, token string, limit *int) ([]T, string, error) {
	n := 100
	if limit != nil {
		if *limit < 1 || *limit > 100 {
			return nil, "", constraint(*limit, "limit", "Member must have value between 1 and 100")
		}
		n = *limit
	}
	start := 0
	if token != "" {
		start = len(items)
		for i, it := range items {
			if name(it) > token {
				start = i
				break
			}
		}
	}
	items = items[start:]
	if len(items) > n {
		return items[:n], name(items[n-1]), nil
	}
	return items, "", nil
}

func (s *Service) listRules(ctx context.Context, req *natsutil.Request) (any, error) {
	var in listRulesInput
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	all, err := s.rules(ctx, in.EventBusName)
	if err != nil {
		return nil, err
	}
	all = slices.DeleteFunc(all, func(r *ruleRecord) bool { return !strings.HasPrefix(r.Name, in.NamePrefix) })
	page, next, err := paginate(all, func(r *ruleRecord) string { return r.Name }, in.NextToken, in.Limit)
	if err != nil {
		return nil, err
	}
	out := struct {
		Rules     []Rule `json:"Rules"`
		NextToken string `json:"NextToken,omitempty"`
	}{Rules: []Rule{}, NextToken: next}
	for _, r := range page {
		out.Rules = append(out.Rules, ruleOut(r))
	}
	return out, nil
}

func (s *Service) listRuleNamesByTarget(ctx context.Context, req *natsutil.Request) (any, error) {
	var in listRulesInput
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if in.TargetArn == "" {
		return nil, validation("1 validation error detected: Value null at 'targetArn' failed to satisfy constraint: Member must not be null")
	}
	all, err := s.rules(ctx, in.EventBusName)
	if err != nil {
		return nil, err
	}
	all = slices.DeleteFunc(all, func(r *ruleRecord) bool {
		return !slices.ContainsFunc(r.Targets, func(t RuleTarget) bool { return t.Arn == in.TargetArn })
	})
	page, next, err := paginate(all, func(r *ruleRecord) string { return r.Name }, in.NextToken, in.Limit)
	if err != nil {
		return nil, err
	}
	out := struct {
		RuleNames []string `json:"RuleNames"`
		NextToken string   `json:"NextToken,omitempty"`
	}{RuleNames: []string{}, NextToken: next}
	for _, r := range page {
		out.RuleNames = append(out.RuleNames, r.Name)
	}
	return out, nil
}

type targetsInput struct {
	Rule         string       `json:"Rule"`
	EventBusName string       `json:"EventBusName"`
	Targets      []RuleTarget `json:"Targets"`
	Ids          []string     `json:"Ids"`
	Force        bool         `json:"Force"`
	NextToken    string       `json:"NextToken"`
	Limit        *int         `json:"Limit"`
}

// checkRuleTarget validates one target of PutTargets; the error goes into
// FailedEntries.
func checkRuleTarget(t *RuleTarget) error {
	if !targetIDRE.MatchString(t.Id) || len(t.Id) > 64 {
		return constraint(t.Id, "targets.member.id", "Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+")
	}
	if targetKind(t.Arn) != targetECS {
		return unsupportedTarget(t.Arn)
	}
	if t.EcsParameters == nil {
		return validation("EcsParameters must be specified for an Amazon ECS target.") // (unverified)
	}
	if t.InputPath != "" || len(t.InputTransformer) > 0 {
		return validation("Berth does not support InputPath or InputTransformer; use Input.")
	}
	if t.Input != "" && !json.Valid([]byte(t.Input)) {
		return validation("Target %s: Input is not valid JSON text.", t.Id) // (unverified)
	}
	if err := checkRetry(t.RetryPolicy, "targets.member.retryPolicy"); err != nil {
		return err
	}
	return checkEcs(t.EcsParameters, "targets.member.ecsParameters")
}

func (s *Service) putTargets(ctx context.Context, req *natsutil.Request) (any, error) {
	var in targetsInput
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if len(in.Targets) < 1 || len(in.Targets) > 10 {
		return nil, constraint(len(in.Targets), "targets", "Member must have length between 1 and 10")
	}
	var failed []ResultEntry
	err := retry(func() error {
		failed = nil
		r, rev, err := s.loadRule(ctx, in.Rule, in.EventBusName)
		if err != nil {
			return err
		}
		for _, t := range in.Targets {
			if err := checkRuleTarget(&t); err != nil {
				failed = append(failed, ResultEntry{TargetId: t.Id, ErrorCode: "ValidationException", ErrorMessage: messageOf(err)})
				continue
			}
			if i := slices.IndexFunc(r.Targets, func(x RuleTarget) bool { return x.Id == t.Id }); i >= 0 {
				r.Targets[i] = t
			} else if len(r.Targets) >= 5 {
				failed = append(failed, ResultEntry{TargetId: t.Id, ErrorCode: "LimitExceededException", ErrorMessage: "The requested resource exceeds the maximum number allowed."})
				continue
			} else {
				r.Targets = append(r.Targets, t)
			}
		}
		r.Modified = s.now()
		_, err = s.save(ctx, keyOfRule(r), r, rev)
		return err
	})
	if err != nil {
		return nil, err
	}
	if failed == nil {
		failed = []ResultEntry{}
	}
	return map[string]any{"FailedEntryCount": len(failed), "FailedEntries": failed}, nil
}

func (s *Service) removeTargets(ctx context.Context, req *natsutil.Request) (any, error) {
	var in targetsInput
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if len(in.Ids) < 1 || len(in.Ids) > 100 {
		return nil, constraint(len(in.Ids), "ids", "Member must have length between 1 and 100")
	}
	err := retry(func() error {
		r, rev, err := s.loadRule(ctx, in.Rule, in.EventBusName)
		if err != nil {
			return err
		}
		r.Targets = slices.DeleteFunc(r.Targets, func(t RuleTarget) bool { return slices.Contains(in.Ids, t.Id) })
		r.Modified = s.now()
		_, err = s.save(ctx, keyOfRule(r), r, rev)
		return err
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"FailedEntryCount": 0, "FailedEntries": []ResultEntry{}}, nil
}

func (s *Service) listTargets(ctx context.Context, req *natsutil.Request) (any, error) {
	var in targetsInput
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	r, _, err := s.loadRule(ctx, in.Rule, in.EventBusName)
	if err != nil {
		return nil, err
	}
	page, next, err := paginate(r.Targets, func(t RuleTarget) string { return t.Id }, in.NextToken, in.Limit)
	if err != nil {
		return nil, err
	}
	if page == nil {
		page = []RuleTarget{}
	}
	return map[string]any{"Targets": page, "NextToken": next}, nil
}

func (s *Service) testEventPattern(ctx context.Context, req *natsutil.Request) (any, error) {
	var in struct {
		EventPattern string `json:"EventPattern"`
		Event        string `json:"Event"`
	}
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	p, err := pattern.Compile([]byte(in.EventPattern))
	if err != nil {
		var pe *pattern.Error
		if errors.As(err, &pe) {
			return nil, badPattern(pe.Reason)
		}
		return nil, badPattern(err.Error())
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(in.Event), &ev); err != nil {
		return nil, validation("Parameter Event is not valid.")
	}
	for _, f := range []string{"id", "account", "source", "time", "region", "detail-type"} {
		if _, ok := ev[f]; !ok {
			return nil, validation("Parameter Event is not valid.")
		}
	}
	return map[string]bool{"Result": p.MatchJSON([]byte(in.Event))}, nil
}

func (s *Service) putEvents(ctx context.Context, req *natsutil.Request) (any, error) {
	var in struct {
		Entries []PutEventsEntry `json:"Entries"`
	}
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if len(in.Entries) < 1 || len(in.Entries) > 10 {
		return nil, constraint(len(in.Entries), "entries", "Member must have length between 1 and 10")
	}
	out := struct {
		FailedEntryCount int           `json:"FailedEntryCount"`
		Entries          []ResultEntry `json:"Entries"`
	}{Entries: []ResultEntry{}}
	for _, e := range in.Entries {
		res := s.putOne(ctx, &e)
		if res.ErrorCode != "" {
			out.FailedEntryCount++
		}
		out.Entries = append(out.Entries, res)
	}
	return out, nil
}

// putOne publishes one PutEvents entry on the EVENTS stream (source as
// given), or says why not.
func (s *Service) putOne(ctx context.Context, e *PutEventsEntry) ResultEntry {
	fail := func(code, format string, args ...any) ResultEntry {
		return ResultEntry{ErrorCode: code, ErrorMessage: sprintf(format, args...)}
	}
	switch {
	case e.Source == "":
		return fail("InvalidArgument", "Parameter Source is not valid. Reason: Source is a required argument.")
	case e.DetailType == "":
		return fail("InvalidArgument", "Parameter DetailType is not valid. Reason: DetailType is a required argument.")
	case e.Detail == "":
		return fail("InvalidArgument", "Parameter Detail is not valid. Reason: Detail is a required argument.")
	case strings.HasPrefix(e.Source, "aws."):
		return fail("NotAuthorizedForSourceException", "Not authorized for the source.")
	}
	var obj map[string]any
	if json.Unmarshal([]byte(e.Detail), &obj) != nil {
		return fail("MalformedDetail", "Detail is malformed.")
	}
	bus, err := s.bus(e.EventBusName)
	if err != nil {
		return fail("InvalidArgument", "%s", messageOf(err))
	}
	at := s.cfg.Now()
	if e.Time != nil {
		at = e.Time.Time
	}
	id, err := s.putEvent(ctx, bus, e.Source, e.DetailType, e.Resources, json.RawMessage(e.Detail), at, "")
	if err != nil {
		s.log.Warn("put event", "err", err)
		return fail("InternalFailure", "An internal error occurred. Try again.")
	}
	return ResultEntry{EventId: id}
}

func (s *Service) ruleByARN(ctx context.Context, arn string) (*ruleRecord, uint64, error) {
	rest, ok := strings.CutPrefix(arn, "arn:aws:events:"+s.cfg.Region+":"+s.cfg.Account+":rule/")
	if !ok {
		return nil, 0, apiResourceNotFound(arn)
	}
	bus, name := defaultBus, rest
	if b, n, ok := strings.Cut(rest, "/"); ok {
		bus, name = b, n
	}
	return s.loadRule(ctx, name, bus)
}

func (s *Service) tagRule(ctx context.Context, req *natsutil.Request) (any, error) {
	var in struct {
		ResourceARN string `json:"ResourceARN"`
		Tags        []Tag  `json:"Tags"`
	}
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	return struct{}{}, retry(func() error {
		r, rev, err := s.ruleByARN(ctx, in.ResourceARN)
		if err != nil {
			return err
		}
		r.Tags = mergeTags(r.Tags, in.Tags)
		if err := checkTags(r.Tags); err != nil {
			return err
		}
		_, err = s.save(ctx, keyOfRule(r), r, rev)
		return err
	})
}

func (s *Service) untagRule(ctx context.Context, req *natsutil.Request) (any, error) {
	var in struct {
		ResourceARN string   `json:"ResourceARN"`
		TagKeys     []string `json:"TagKeys"`
	}
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	return struct{}{}, retry(func() error {
		r, rev, err := s.ruleByARN(ctx, in.ResourceARN)
		if err != nil {
			return err
		}
		r.Tags = slices.DeleteFunc(r.Tags, func(t Tag) bool { return slices.Contains(in.TagKeys, t.Key) })
		_, err = s.save(ctx, keyOfRule(r), r, rev)
		return err
	})
}

func (s *Service) listRuleTags(ctx context.Context, req *natsutil.Request) (any, error) {
	var in struct {
		ResourceARN string `json:"ResourceARN"`
	}
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	r, _, err := s.ruleByARN(ctx, in.ResourceARN)
	if err != nil {
		return nil, err
	}
	tags := r.Tags
	if tags == nil {
		tags = []Tag{}
	}
	return map[string][]Tag{"Tags": tags}, nil
}
