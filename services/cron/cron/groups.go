package cron

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/internal/natsutil"
)

type groupInput struct {
	Name        string `json:"Name"`
	ClientToken string `json:"ClientToken"`
	Tags        []Tag  `json:"Tags"`
}

// defaultGroupRecord is the default group, which always exists.
func (s *Service) defaultGroupRecord() *groupRecord {
	return &groupRecord{Name: defaultGroup, ARN: groupARN(s.cfg.Region, s.cfg.Account, defaultGroup), State: groupActive}
}

func (s *Service) loadGroup(ctx context.Context, name string) (*groupRecord, uint64, error) {
	var g groupRecord
	rev, ok, err := s.load(ctx, events.CronGroupKey(name), &g)
	switch {
	case err != nil:
		return nil, 0, err
	case ok:
		return &g, rev, nil
	case name == defaultGroup:
		return s.defaultGroupRecord(), 0, nil
	}
	return nil, 0, groupNotFound(name)
}

func checkTags(tags []Tag) error {
	if len(tags) > 200 {
		return constraint(len(tags), "tags", "Member must have length less than or equal to 200")
	}
	for _, t := range tags {
		if len(t.Key) < 1 || len(t.Key) > 128 {
			return constraint(t.Key, "tags.member.key", "Member must have length between 1 and 128")
		}
		if len(t.Value) > 256 {
			return constraint(t.Value, "tags.member.value", "Member must have length less than or equal to 256")
		}
	}
	return nil
}

func (s *Service) createGroup(ctx context.Context, req *natsutil.Request) (any, error) {
	var in groupInput
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkName(in.Name, "name"); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	if in.Name == defaultGroup {
		return nil, groupExists(in.Name)
	}
	now := s.now()
	g := &groupRecord{Name: in.Name, ARN: groupARN(s.cfg.Region, s.cfg.Account, in.Name), State: groupActive, Created: now, Modified: now, Tags: in.Tags}
	if _, err := s.save(ctx, events.CronGroupKey(in.Name), g, 0); errors.Is(err, errConflict) {
		return nil, groupExists(in.Name)
	} else if err != nil {
		return nil, err
	}
	return map[string]string{"ScheduleGroupArn": g.ARN}, nil
}

func groupSummary(g *groupRecord) ScheduleGroupSummary {
	out := ScheduleGroupSummary{Arn: g.ARN, Name: g.Name, State: g.State}
	if !g.Created.IsZero() {
		out.CreationDate = awsjson.NewTime(g.Created)
		out.LastModificationDate = awsjson.NewTime(g.Modified)
	}
	return out
}

func (s *Service) getGroup(ctx context.Context, req *natsutil.Request) (any, error) {
	var in groupInput
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkName(in.Name, "name"); err != nil {
		return nil, err
	}
	g, _, err := s.loadGroup(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	return groupSummary(g), nil
}

// deleteGroup deletes the group's schedules, then the group.
func (s *Service) deleteGroup(ctx context.Context, req *natsutil.Request) (any, error) {
	var in groupInput
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkName(in.Name, "name"); err != nil {
		return nil, err
	}
	if in.Name == defaultGroup {
		return nil, validation("You cannot delete the default schedule group.") // (unverified)
	}
	_, rev, err := s.loadGroup(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	keys, err := s.listKeys(ctx, "sch."+events.Token(in.Name)+".")
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := s.kv.Delete(ctx, k); err != nil {
			return nil, err
		}
	}
	if rev == 0 { // tags were never stored: nothing to delete
		return struct{}{}, nil
	}
	if err := s.remove(ctx, events.CronGroupKey(in.Name), rev); errors.Is(err, errConflict) {
		return nil, groupChanged(in.Name)
	} else if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (s *Service) listGroups(ctx context.Context, req *natsutil.Request) (any, error) {
	var in listInput
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	limit, after, err := in.page()
	if err != nil {
		return nil, err
	}
	keys, err := s.listKeys(ctx, "grp.")
	if err != nil {
		return nil, err
	}
	groups := []*groupRecord{s.defaultGroupRecord()}
	for _, k := range keys {
		var g groupRecord
		if _, ok, err := s.load(ctx, k, &g); err != nil {
			return nil, err
		} else if ok {
			groups = append(groups, &g)
		}
	}
	slices.SortFunc(groups, func(a, b *groupRecord) int { return strings.Compare(a.Name, b.Name) })
	out := struct {
		NextToken      string                 `json:"NextToken,omitempty"`
		ScheduleGroups []ScheduleGroupSummary `json:"ScheduleGroups"`
	}{ScheduleGroups: []ScheduleGroupSummary{}}
	for _, g := range groups {
		if g.Name <= after || !strings.HasPrefix(g.Name, in.NamePrefix) {
			continue
		}
		if len(out.ScheduleGroups) == limit {
			out.NextToken = b64(after)
			break
		}
		out.ScheduleGroups = append(out.ScheduleGroups, groupSummary(g))
		after = g.Name
	}
	return out, nil
}

type tagInput struct {
	ResourceArn string   `json:"ResourceArn"`
	Tags        []Tag    `json:"Tags"`
	TagKeys     []string `json:"TagKeys"`
}

// groupOfARN returns the group name of a schedule-group ARN.
func (s *Service) groupOfARN(arn string) (string, error) {
	prefix := "arn:aws:scheduler:" + s.cfg.Region + ":" + s.cfg.Account + ":schedule-group/"
	name, ok := strings.CutPrefix(arn, prefix)
	if !ok || checkName(name, "resourceArn") != nil {
		if strings.Contains(arn, ":schedule/") {
			return "", validation("Tags can only be applied to schedule groups.") // (unverified)
		}
		return "", groupNotFound(arn)
	}
	return name, nil
}

// updateGroupTags applies f to the tags of the group named by arn.
func (s *Service) updateGroupTags(ctx context.Context, arn string, f func([]Tag) []Tag) error {
	name, err := s.groupOfARN(arn)
	if err != nil {
		return err
	}
	return retry(func() error {
		g, rev, err := s.loadGroup(ctx, name)
		if err != nil {
			return err
		}
		g.Tags = f(g.Tags)
		if err := checkTags(g.Tags); err != nil {
			return err
		}
		_, err = s.save(ctx, events.CronGroupKey(name), g, rev)
		return err
	})
}

func (s *Service) tagResource(ctx context.Context, req *natsutil.Request) (any, error) {
	var in tagInput
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	return struct{}{}, s.updateGroupTags(ctx, in.ResourceArn, func(tags []Tag) []Tag { return mergeTags(tags, in.Tags) })
}

func (s *Service) untagResource(ctx context.Context, req *natsutil.Request) (any, error) {
	var in tagInput
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	return struct{}{}, s.updateGroupTags(ctx, in.ResourceArn, func(tags []Tag) []Tag {
		return slices.DeleteFunc(tags, func(t Tag) bool { return slices.Contains(in.TagKeys, t.Key) })
	})
}

func (s *Service) listTags(ctx context.Context, req *natsutil.Request) (any, error) {
	var in tagInput
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	name, err := s.groupOfARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	g, _, err := s.loadGroup(ctx, name)
	if err != nil {
		return nil, err
	}
	tags := g.Tags
	if tags == nil {
		tags = []Tag{}
	}
	return map[string][]Tag{"Tags": tags}, nil
}

// mergeTags sets each tag of add on tags (replacing values of existing
// keys).
func mergeTags(tags, add []Tag) []Tag {
	for _, a := range add {
		i := slices.IndexFunc(tags, func(t Tag) bool { return t.Key == a.Key })
		if i >= 0 {
			tags[i].Value = a.Value
		} else {
			tags = append(tags, a)
		}
	}
	return tags
}
