package logs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/logsapi"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natsutil"
)

// RetentionDays are the values PutRetentionPolicy accepts.
var RetentionDays = []int32{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

const maxTags = 50

func (s *Service) createLogGroup(ctx context.Context, req *natsutil.Request) (any, error) {
	var in logsapi.CreateLogGroupRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkGroupName(in.LogGroupName, "logGroupName"); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	switch in.LogGroupClass {
	case "", "STANDARD", "INFREQUENT_ACCESS", "DELIVERY":
	default:
		return nil, validation("'"+in.LogGroupClass+"'", "logGroupClass", "Member must satisfy enum value set: [STANDARD, INFREQUENT_ACCESS, DELIVERY]")
	}
	return nil, s.createGroup(ctx, events.LogGroupRecord{
		Name: in.LogGroupName, CreationTime: s.nowMS(), KmsKeyID: in.KmsKeyId,
		Class: in.LogGroupClass, Tags: in.Tags,
	})
}

func (s *Service) createGroup(ctx context.Context, rec events.LogGroupRecord) error {
	if rec.Class == "" {
		rec.Class = "STANDARD"
	}
	b, _ := json.Marshal(rec)
	if _, err := s.kv.Create(ctx, groupKey(rec.Name), b); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return apierr.New(events.CodeResourceAlreadyExists, msgGroupExists)
		}
		return fmt.Errorf("create group %s: %w", rec.Name, err)
	}
	return nil
}

func (s *Service) deleteLogGroup(ctx context.Context, req *natsutil.Request) (any, error) {
	var in logsapi.DeleteLogGroupRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkGroupName(in.LogGroupName, "logGroupName"); err != nil {
		return nil, err
	}
	if _, _, err := s.getGroup(ctx, in.LogGroupName); err != nil {
		return nil, err
	}
	// The group record is the commit point; its streams and events follow.
	if err := s.kv.Delete(ctx, groupKey(in.LogGroupName)); err != nil {
		return nil, fmt.Errorf("delete group: %w", err)
	}
	keys, err := s.kv.ListKeysFiltered(ctx, streamKeys(in.LogGroupName))
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	if keys != nil {
		for k := range keys.Keys() {
			if err := s.kv.Purge(ctx, k); err != nil {
				return nil, fmt.Errorf("delete stream %s: %w", k, err)
			}
		}
	}
	if err := s.purge(ctx, events.SubjLogsGroup(in.LogGroupName), 0); err != nil {
		return nil, err
	}
	if err := s.kv.Purge(ctx, groupKey(in.LogGroupName)); err != nil {
		return nil, fmt.Errorf("delete group: %w", err)
	}
	return nil, nil
}

// purge removes the events on subject below seq (0: all of them).
func (s *Service) purge(ctx context.Context, subject string, seq uint64) error {
	opts := []jetstream.StreamPurgeOpt{jetstream.WithPurgeSubject(subject)}
	if seq > 0 {
		opts = append(opts, jetstream.WithPurgeSequence(seq))
	}
	if err := s.stream.Purge(ctx, opts...); err != nil {
		return fmt.Errorf("purge %s: %w", subject, err)
	}
	return nil
}

func (s *Service) describeLogGroups(ctx context.Context, req *natsutil.Request) (any, error) {
	var in logsapi.DescribeLogGroupsRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	limit, err := checkLimit(in.Limit, 50)
	if err != nil {
		return nil, err
	}
	if in.LogGroupNamePrefix != "" && in.LogGroupNamePattern != "" {
		return nil, apierr.InvalidParameter("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
	}
	offset, err := parseOffset(in.NextToken)
	if err != nil {
		return nil, err
	}
	all, err := s.listGroups(ctx)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, id := range in.LogGroupIdentifiers {
		want[groupFromIdentifier("", id)] = true
	}
	var sel []events.LogGroupRecord
	for _, g := range all {
		switch {
		case in.LogGroupNamePrefix != "" && !strings.HasPrefix(g.Name, in.LogGroupNamePrefix),
			in.LogGroupNamePattern != "" && !strings.Contains(strings.ToLower(g.Name), strings.ToLower(in.LogGroupNamePattern)),
			in.LogGroupClass != "" && in.LogGroupClass != g.Class,
			len(want) > 0 && !want[g.Name]:
			continue
		}
		sel = append(sel, g)
	}
	out := logsapi.DescribeLogGroupsResponse{LogGroups: []logsapi.LogGroup{}}
	for i := offset; i < len(sel) && i < offset+limit; i++ {
		out.LogGroups = append(out.LogGroups, s.groupOut(sel[i]))
	}
	if offset+limit < len(sel) {
		out.NextToken = strconv.Itoa(offset + limit)
	}
	return out, nil
}

func (s *Service) groupOut(g events.LogGroupRecord) logsapi.LogGroup {
	out := logsapi.LogGroup{
		LogGroupName:              g.Name,
		Arn:                       s.groupARN(g.Name) + ":*",
		LogGroupArn:               s.groupARN(g.Name),
		CreationTime:              &g.CreationTime,
		StoredBytes:               new(int64),
		MetricFilterCount:         new(int32),
		LogGroupClass:             g.Class,
		KmsKeyId:                  g.KmsKeyID,
		DeletionProtectionEnabled: new(bool),
	}
	if g.RetentionInDays > 0 {
		out.RetentionInDays = &g.RetentionInDays
	}
	return out
}

func checkLimit(limit *int32, max int) (int, error) {
	if limit == nil {
		return max, nil
	}
	n := int(*limit)
	if n < 1 {
		return 0, validation(strconv.Itoa(n), "limit", "Member must have value greater than or equal to 1")
	}
	if n > max {
		return 0, validation(strconv.Itoa(n), "limit", "Member must have value less than or equal to "+strconv.Itoa(max))
	}
	return n, nil
}

func parseOffset(tok string) (int, error) {
	if tok == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(tok)
	if err != nil || n < 0 {
		return 0, apierr.InvalidParameter("The specified nextToken is invalid.")
	}
	return n, nil
}

func (s *Service) putRetentionPolicy(ctx context.Context, req *natsutil.Request) (any, error) {
	var in logsapi.PutRetentionPolicyRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkGroupName(in.LogGroupName, "logGroupName"); err != nil {
		return nil, err
	}
	if in.RetentionInDays == nil {
		return nil, validation("null", "retentionInDays", "Member must not be null")
	}
	if !slices.Contains(RetentionDays, *in.RetentionInDays) {
		vals := make([]string, len(RetentionDays))
		for i, d := range RetentionDays {
			vals[i] = strconv.Itoa(int(d))
		}
		return nil, validation("'"+strconv.Itoa(int(*in.RetentionInDays))+"'", "retentionInDays",
			"Member must satisfy enum value set: ["+strings.Join(vals, ", ")+"]")
	}
	if _, err := s.updateGroup(ctx, in.LogGroupName, func(g *events.LogGroupRecord) error {
		g.RetentionInDays = *in.RetentionInDays
		return nil
	}); err != nil {
		return nil, err
	}
	s.enforceRetention(ctx, in.LogGroupName, *in.RetentionInDays)
	return nil, nil
}

func (s *Service) deleteRetentionPolicy(ctx context.Context, req *natsutil.Request) (any, error) {
	var in logsapi.DeleteRetentionPolicyRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkGroupName(in.LogGroupName, "logGroupName"); err != nil {
		return nil, err
	}
	_, err := s.updateGroup(ctx, in.LogGroupName, func(g *events.LogGroupRecord) error {
		g.RetentionInDays = 0
		return nil
	})
	return nil, err
}

// ---- tags ----

func checkTags(tags map[string]string) error {
	if len(tags) > maxTags {
		return apierr.New(events.CodeTooManyTags, "A resource can have no more than %d tags.", maxTags)
	}
	for k, v := range tags {
		if k == "" || len(k) > 128 || strings.HasPrefix(k, "aws:") {
			return apierr.InvalidParameter("Invalid tag key: %q", k)
		}
		if len(v) > 256 {
			return apierr.InvalidParameter("Invalid tag value for key %q", k)
		}
	}
	return nil
}

func (s *Service) tag(ctx context.Context, group string, add map[string]string, remove []string) error {
	if err := checkTags(add); err != nil {
		return err
	}
	_, err := s.updateGroup(ctx, group, func(g *events.LogGroupRecord) error {
		tags := maps.Clone(g.Tags)
		if tags == nil {
			tags = map[string]string{}
		}
		maps.Copy(tags, add)
		for _, k := range remove {
			delete(tags, k)
		}
		if len(tags) > maxTags {
			return apierr.New(events.CodeTooManyTags, "A resource can have no more than %d tags.", maxTags)
		}
		g.Tags = tags
		return nil
	})
	return err
}

func (s *Service) tagLogGroup(ctx context.Context, req *natsutil.Request) (any, error) {
	var in logsapi.TagLogGroupRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkGroupName(in.LogGroupName, "logGroupName"); err != nil {
		return nil, err
	}
	if len(in.Tags) == 0 {
		return nil, validation("null", "tags", "Member must not be null")
	}
	return nil, s.tag(ctx, in.LogGroupName, in.Tags, nil)
}

func (s *Service) untagLogGroup(ctx context.Context, req *natsutil.Request) (any, error) {
	var in logsapi.UntagLogGroupRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkGroupName(in.LogGroupName, "logGroupName"); err != nil {
		return nil, err
	}
	return nil, s.tag(ctx, in.LogGroupName, nil, in.Tags)
}

func (s *Service) listTagsLogGroup(ctx context.Context, req *natsutil.Request) (any, error) {
	var in logsapi.ListTagsLogGroupRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkGroupName(in.LogGroupName, "logGroupName"); err != nil {
		return nil, err
	}
	g, _, err := s.getGroup(ctx, in.LogGroupName)
	if err != nil {
		return nil, err
	}
	return logsapi.ListTagsLogGroupResponse{Tags: nonNil(g.Tags)}, nil
}

// groupFromARN returns the log group an ARN names, or an AWS error.
func (s *Service) groupFromARN(arn string) (string, error) {
	if arn == "" {
		return "", validation("null", "resourceArn", "Member must not be null")
	}
	prefix := "arn:aws:logs:" + s.cfg.Region + ":" + s.cfg.Account + ":log-group:"
	name, ok := strings.CutPrefix(arn, prefix)
	if !ok || name == "" || strings.Contains(strings.TrimSuffix(name, ":*"), ":") {
		return "", apierr.New(events.CodeResourceNotFound, "The specified resource does not exist.")
	}
	return strings.TrimSuffix(name, ":*"), nil
}

func (s *Service) tagResource(ctx context.Context, req *natsutil.Request) (any, error) {
	var in logsapi.TagResourceRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	g, err := s.groupFromARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if len(in.Tags) == 0 {
		return nil, validation("null", "tags", "Member must not be null")
	}
	return nil, resourceNotFound(s.tag(ctx, g, in.Tags, nil))
}

func (s *Service) untagResource(ctx context.Context, req *natsutil.Request) (any, error) {
	var in logsapi.UntagResourceRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	g, err := s.groupFromARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	return nil, resourceNotFound(s.tag(ctx, g, nil, in.TagKeys))
}

func (s *Service) listTagsForResource(ctx context.Context, req *natsutil.Request) (any, error) {
	var in logsapi.ListTagsForResourceRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	name, err := s.groupFromARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	g, _, err := s.getGroup(ctx, name)
	if err != nil {
		return nil, resourceNotFound(err)
	}
	return logsapi.ListTagsForResourceResponse{Tags: nonNil(g.Tags)}, nil
}

// resourceNotFound rewords a missing group for the ARN-based operations.
func resourceNotFound(err error) error {
	if apierr.HasCode(err, events.CodeResourceNotFound) {
		return apierr.New(events.CodeResourceNotFound, "The specified resource does not exist.")
	}
	return err
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
