package pattern

import (
	"bytes"
	"encoding/json"
)

// MatchJSON reports whether the JSON event matches p; an event that is not
// a JSON object matches nothing.
func (p *Pattern) MatchJSON(event []byte) bool {
	var v any
	dec := json.NewDecoder(bytes.NewReader(event))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return false
	}
	obj, ok := v.(map[string]any)
	return ok && p.Match(obj)
}

// Match reports whether the decoded event (numbers as json.Number) matches
// p.
func (p *Pattern) Match(event map[string]any) bool {
	return p.matchValues([]any{event})
}

// matchValues matches p against objects found at one path: with arrays of
// objects in the event, any element may satisfy each field (as
// EventBridge flattens arrays).
func (p *Pattern) matchValues(objs []any) bool {
	for _, f := range p.fields {
		if !f.matchIn(objs) {
			return false
		}
	}
	for _, alts := range p.ors {
		ok := false
		for _, alt := range alts {
			if alt.matchValues(objs) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (f *field) matchIn(objs []any) bool {
	var vals []any
	present := false
	for _, o := range objs {
		m, ok := o.(map[string]any)
		if !ok {
			continue
		}
		v, ok := m[f.key]
		if !ok {
			continue
		}
		present = true
		if arr, isArr := v.([]any); isArr {
			vals = append(vals, arr...)
		} else {
			vals = append(vals, v)
		}
	}
	if f.nested != nil {
		return present && f.nested.matchValues(vals)
	}
	for _, m := range f.matchers {
		if !present || len(vals) == 0 {
			if m.match(nil, false) {
				return true
			}
			continue
		}
		for _, v := range vals {
			if _, isObj := v.(map[string]any); isObj {
				continue
			}
			if m.match(v, true) {
				return true
			}
		}
	}
	return false
}
