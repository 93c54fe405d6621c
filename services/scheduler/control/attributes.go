package control

import (
	"context"
	"regexp"
	"slices"
	"sort"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
)

// Attribute rules (the ECS model): names 1-128 characters of letters,
// digits, '-', '_', '/', '\' and '.'; values 1-128 characters that may also
// hold '@', ':' and inner spaces. Registration attributes may come without a
// value (agent capabilities are presence-only).
const (
	maxAttributesPerCall = 10
	maxCustomAttributes  = 10
	targetContainerInst  = "container-instance"
	listAttributesToken  = "ListAttributes"
)

var (
	attrNameRE  = regexp.MustCompile(`^[A-Za-z0-9\-_/\\.]{1,128}$`)
	attrValueRE = regexp.MustCompile(`^[A-Za-z0-9\-_.@/\\: ]{1,128}$`)
)

// checkAttribute validates an attribute's name and (optional) value.
func checkAttribute(a ecsapi.Attribute) error {
	if !attrNameRE.MatchString(a.Name) {
		return invalid(msgAttributeName, a.Name)
	}
	if a.Value != "" && (!attrValueRE.MatchString(a.Value) || a.Value[0] == ' ' || a.Value[len(a.Value)-1] == ' ') {
		return invalid(msgAttributeValue, a.Name)
	}
	return nil
}

// attributeTargets checks the attributes of a Put/DeleteAttributes call and
// returns them grouped by target instance id, in the order of first
// appearance.
func (s *Service) attributeTargets(cluster string, attrs []ecsapi.Attribute, needValue bool) ([]string, map[string][]ecsapi.Attribute, error) {
	switch {
	case len(attrs) == 0:
		return nil, nil, invalid(msgAttributesEmpty)
	case len(attrs) > maxAttributesPerCall:
		return nil, nil, invalid(msgTooManyAttributes)
	}
	var order []string
	byTarget := map[string][]ecsapi.Attribute{}
	for _, a := range attrs {
		if needValue {
			if err := checkAttribute(a); err != nil {
				return nil, nil, err
			}
		} else if !attrNameRE.MatchString(a.Name) {
			return nil, nil, invalid(msgAttributeName, a.Name)
		}
		if a.TargetType != "" && a.TargetType != targetContainerInst {
			return nil, nil, invalid(msgTargetType)
		}
		if a.TargetId == "" {
			return nil, nil, invalid(msgTargetRequired)
		}
		if !events.IsARN(a.TargetId) && a.TargetType == "" {
			return nil, nil, invalid(msgTargetType)
		}
		id, ok := s.instanceRef(cluster, a.TargetId)
		if !ok {
			return nil, nil, errTargetNotFound(a.TargetId)
		}
		if _, seen := byTarget[id]; !seen {
			order = append(order, id)
		}
		byTarget[id] = append(byTarget[id], a)
	}
	return order, byTarget, nil
}

// checkTargets makes sure every target is a registered instance before
// anything is written.
func (s *Service) checkTargets(ctx context.Context, cluster string, order []string, byTarget map[string][]ecsapi.Attribute) error {
	for _, id := range order {
		rec, _, err := s.state.getInstance(ctx, cluster, id)
		if err != nil {
			return err
		}
		if rec == nil || !rec.Registered() {
			return errTargetNotFound(byTarget[id][0].TargetId)
		}
	}
	return nil
}

func (s *Service) putAttributes(ctx context.Context, in *ecsapi.PutAttributesRequest) (any, error) {
	c, err := s.existingCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	order, byTarget, err := s.attributeTargets(c.Name, in.Attributes, true)
	if err != nil {
		return nil, err
	}
	if err := s.checkTargets(ctx, c.Name, order, byTarget); err != nil {
		return nil, err
	}
	for _, id := range order {
		put := byTarget[id]
		_, _, err := s.updateInstance(ctx, c.Name, id, func(cur *events.InstanceRecord) (*events.InstanceRecord, error) {
			if cur == nil || !cur.Registered() {
				return nil, errTargetNotFound(put[0].TargetId)
			}
			next := cloneInstance(cur)
			changed := false
			for _, a := range put {
				i := slices.IndexFunc(next.Attributes, func(b ecsapi.Attribute) bool { return b.Name == a.Name })
				switch {
				case i < 0:
					next.Attributes = append(next.Attributes, ecsapi.Attribute{Name: a.Name, Value: a.Value})
					changed = true
				case next.Attributes[i].Value != a.Value:
					next.Attributes[i].Value = a.Value
					changed = true
				}
			}
			if !changed {
				return nil, nil
			}
			custom := 0
			for _, a := range next.Attributes {
				if !builtinAttribute(a.Name) {
					custom++
				}
			}
			if custom > maxCustomAttributes {
				return nil, errAttributeLimit()
			}
			sortAttributes(next.Attributes)
			return next, nil
		})
		if err != nil {
			return nil, err
		}
	}
	return &ecsapi.PutAttributesResponse{Attributes: echoAttributes(in.Attributes)}, nil
}

func (s *Service) deleteAttributes(ctx context.Context, in *ecsapi.DeleteAttributesRequest) (any, error) {
	c, err := s.existingCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	order, byTarget, err := s.attributeTargets(c.Name, in.Attributes, false)
	if err != nil {
		return nil, err
	}
	if err := s.checkTargets(ctx, c.Name, order, byTarget); err != nil {
		return nil, err
	}
	out := echoAttributes(in.Attributes)
	for _, id := range order {
		del := byTarget[id]
		vals := map[string]string{}
		_, _, err := s.updateInstance(ctx, c.Name, id, func(cur *events.InstanceRecord) (*events.InstanceRecord, error) {
			if cur == nil || !cur.Registered() {
				return nil, errTargetNotFound(del[0].TargetId)
			}
			for _, b := range cur.Attributes {
				vals[b.Name] = b.Value
			}
			next := cloneInstance(cur)
			next.Attributes = slices.DeleteFunc(next.Attributes, func(b ecsapi.Attribute) bool {
				return slices.ContainsFunc(del, func(a ecsapi.Attribute) bool { return a.Name == b.Name })
			})
			if len(next.Attributes) == len(cur.Attributes) {
				return nil, nil
			}
			return next, nil
		})
		if err != nil {
			return nil, err
		}
		// Answer with the values the deleted attributes had.
		for i := range out {
			if tid, _ := s.instanceRef(c.Name, out[i].TargetId); tid == id && out[i].Value == "" {
				out[i].Value = vals[out[i].Name]
			}
		}
	}
	return &ecsapi.DeleteAttributesResponse{Attributes: out}, nil
}

// echoAttributes is the attributes of a Put/DeleteAttributes answer:
// name, value and targetId as given.
func echoAttributes(attrs []ecsapi.Attribute) []ecsapi.Attribute {
	out := make([]ecsapi.Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, ecsapi.Attribute{Name: a.Name, Value: a.Value, TargetId: a.TargetId})
	}
	return out
}

func (s *Service) listAttributes(ctx context.Context, in *ecsapi.ListAttributesRequest) (any, error) {
	c, err := s.existingCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.TargetType != targetContainerInst {
		return nil, invalid(msgTargetType)
	}
	if in.AttributeValue != "" && in.AttributeName == "" {
		return nil, invalid(msgAttributeValueOnly)
	}
	size, err := pageSize(in.MaxResults)
	if err != nil {
		return nil, err
	}
	after, err := decodePageToken(listAttributesToken, in.NextToken)
	if err != nil {
		return nil, err
	}
	type item struct {
		key  string
		attr ecsapi.Attribute
	}
	var items []item
	for _, rec := range s.cache.instances(c.Name) {
		if !rec.Registered() {
			continue
		}
		for _, a := range rec.Attributes {
			if in.AttributeName != "" && a.Name != in.AttributeName {
				continue
			}
			if in.AttributeValue != "" && a.Value != in.AttributeValue {
				continue
			}
			items = append(items, item{
				key:  rec.ARN + "|" + a.Name,
				attr: ecsapi.Attribute{Name: a.Name, Value: a.Value, TargetId: rec.ARN, TargetType: targetContainerInst},
			})
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].key < items[j].key })
	start := sort.Search(len(items), func(i int) bool { return items[i].key > after })
	end := min(start+size, len(items))
	out := &ecsapi.ListAttributesResponse{Attributes: []ecsapi.Attribute{}}
	for _, it := range items[start:end] {
		out.Attributes = append(out.Attributes, it.attr)
	}
	if end < len(items) {
		out.NextToken = encodePageToken(listAttributesToken, items[end-1].key)
	}
	return out, nil
}
