package control

import (
	"strings"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/jsonx"
)

// capabilityPrefix starts the names of the agent's capability attributes.
const capabilityPrefix = "com.amazonaws.ecs.capability."

// storedInstance is how an instance record is stored in the state bucket:
// the record, with its capability attributes that carry no value moved to
// caps as names without capabilityPrefix. They are most of a record (an
// agent announces some forty, about 2 KB as attributes) and no placement
// changes them, yet every placement writes its instances again, stages
// them in the atomic batch and sends them in a feed digest to every
// replica. A record stored before caps existed has them among its
// attributes and decodes the same.
type storedInstance struct {
	*events.InstanceRecord
	Caps []string `json:"caps,omitempty"`
}

// instanceValue is what a batch stores for r (see storedInstance).
func instanceValue(r *events.InstanceRecord) storedInstance {
	var caps []string
	for _, a := range r.Attributes {
		if storedAsCap(a) {
			caps = append(caps, a.Name[len(capabilityPrefix):])
		}
	}
	if caps == nil {
		return storedInstance{InstanceRecord: r}
	}
	cp := *r
	cp.Attributes = make([]ecsapi.Attribute, 0, len(r.Attributes)-len(caps))
	for _, a := range r.Attributes {
		if !storedAsCap(a) {
			cp.Attributes = append(cp.Attributes, a)
		}
	}
	return storedInstance{InstanceRecord: &cp, Caps: caps}
}

// storedAsCap reports whether a is stored in caps: a capability attribute
// without a value.
func storedAsCap(a ecsapi.Attribute) bool {
	return a.Value == "" && strings.HasPrefix(a.Name, capabilityPrefix)
}

// decodeInstance decodes a stored instance record, its capability
// attributes back among the others, in name order.
func decodeInstance(b []byte) (*events.InstanceRecord, error) {
	rec := &events.InstanceRecord{}
	s := storedInstance{InstanceRecord: rec}
	if err := jsonx.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	if len(s.Caps) > 0 {
		rec.Attributes = mergeCapabilities(rec.Attributes, s.Caps)
	}
	return rec, nil
}

// mergeCapabilities merges the capability names caps (sorted, without
// capabilityPrefix) into attrs (sorted by name).
func mergeCapabilities(attrs []ecsapi.Attribute, caps []string) []ecsapi.Attribute {
	out := make([]ecsapi.Attribute, 0, len(attrs)+len(caps))
	i := 0
	for _, c := range caps {
		name := capabilityPrefix + c
		for i < len(attrs) && attrs[i].Name < name {
			out = append(out, attrs[i])
			i++
		}
		out = append(out, ecsapi.Attribute{Name: name})
	}
	return append(out, attrs[i:]...)
}
