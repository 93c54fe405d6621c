package pattern

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// Pattern is a compiled event pattern.
type Pattern struct {
	fields []field
	ors    [][]*Pattern // each $or: one of its patterns must match
}

// field is one key of a pattern object: a nested pattern or a list of
// matchers.
type field struct {
	key      string
	nested   *Pattern
	matchers []matcher
}

// Error is an invalid pattern.
type Error struct{ Reason string }

func (e *Error) Error() string { return "invalid event pattern: " + e.Reason }

func bad(format string, args ...any) error { return &Error{Reason: fmt.Sprintf(format, args...)} }

// Compile parses and validates an EventBridge event pattern.
func Compile(data []byte) (*Pattern, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, bad("Filter is not an object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, bad("Filter is not an object")
	}
	return compileObject(obj, true)
}

func compileObject(obj map[string]any, top bool) (*Pattern, error) {
	p := &Pattern{}
	if top && len(obj) == 0 {
		return nil, bad("Empty objects are not allowed")
	}
	for k, v := range obj {
		if k == "$or" {
			list, ok := v.([]any)
			if !ok || len(list) < 2 {
				return nil, bad("$or must be an array of at least two patterns")
			}
			var alts []*Pattern
			for _, alt := range list {
				o, ok := alt.(map[string]any)
				if !ok {
					return nil, bad("$or must contain objects")
				}
				sub, err := compileObject(o, true)
				if err != nil {
					return nil, err
				}
				alts = append(alts, sub)
			}
			p.ors = append(p.ors, alts)
			continue
		}
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 0 {
				return nil, bad("Empty objects are not allowed")
			}
			sub, err := compileObject(x, false)
			if err != nil {
				return nil, err
			}
			p.fields = append(p.fields, field{key: k, nested: sub})
		case []any:
			if len(x) == 0 {
				return nil, bad("Empty arrays are not allowed")
			}
			var ms []matcher
			for _, e := range x {
				m, err := compileMatcher(e)
				if err != nil {
					return nil, err
				}
				ms = append(ms, m)
			}
			p.fields = append(p.fields, field{key: k, matchers: ms})
		default:
			return nil, bad("Match value must be String, number, true, false, or null")
		}
	}
	return p, nil
}

// matcher tests one leaf value; present reports whether the field exists.
type matcher interface {
	match(v any, present bool) bool
}

type exact struct{ v any }
type prefix struct {
	s          string
	ignoreCase bool
}
type suffix struct {
	s          string
	ignoreCase bool
}
type ignoreCase struct{ s string }
type wildcard struct{ parts []string } // split on unescaped '*'
type exists struct{ want bool }
type anythingBut struct{ inner []matcher }
type numeric struct {
	lo, hi       float64
	loInc, hiInc bool
}
type cidr struct{ p netip.Prefix }

func compileMatcher(e any) (matcher, error) {
	switch x := e.(type) {
	case string, json.Number, bool, nil:
		return exact{x}, nil
	case map[string]any:
		if len(x) != 1 {
			return nil, bad("Only one key allowed in match expression")
		}
		for op, arg := range x {
			return compileOp(op, arg)
		}
	}
	return nil, bad("Match value must be String, number, true, false, or null")
}

func compileOp(op string, arg any) (matcher, error) {
	switch op {
	case "prefix", "suffix":
		s, ci, err := stringOrIgnoreCase(op, arg)
		if err != nil {
			return nil, err
		}
		if op == "prefix" {
			return prefix{s, ci}, nil
		}
		return suffix{s, ci}, nil
	case "equals-ignore-case":
		s, ok := arg.(string)
		if !ok {
			return nil, bad("equals-ignore-case match pattern must be a string")
		}
		return ignoreCase{strings.ToLower(s)}, nil
	case "wildcard":
		s, ok := arg.(string)
		if !ok {
			return nil, bad("wildcard match pattern must be a string")
		}
		if strings.Contains(s, "**") {
			return nil, bad("Consecutive wildcard characters at pos %d", strings.Index(s, "**")+1)
		}
		return wildcard{splitWildcard(s)}, nil
	case "exists":
		b, ok := arg.(bool)
		if !ok {
			return nil, bad("exists match pattern must be either true or false.")
		}
		return exists{b}, nil
	case "anything-but":
		return compileAnythingBut(arg)
	case "numeric":
		return compileNumeric(arg)
	case "cidr":
		s, ok := arg.(string)
		if !ok {
			return nil, bad("prefix match pattern must be a string")
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, bad("Nonstandard IP address: %s", s)
		}
		return cidr{p.Masked()}, nil
	}
	return nil, bad("Unrecognized match type %s", op)
}

func stringOrIgnoreCase(op string, arg any) (string, bool, error) {
	switch x := arg.(type) {
	case string:
		return x, false, nil
	case map[string]any:
		if s, ok := x["equals-ignore-case"].(string); ok && len(x) == 1 {
			return strings.ToLower(s), true, nil
		}
	}
	return "", false, bad("%s match pattern must be a string", op)
}

func compileAnythingBut(arg any) (matcher, error) {
	switch x := arg.(type) {
	case string, json.Number, bool, nil:
		return anythingBut{[]matcher{exact{x}}}, nil
	case []any:
		if len(x) == 0 {
			return nil, bad("Empty arrays are not allowed")
		}
		var ms []matcher
		for _, v := range x {
			switch v.(type) {
			case string, json.Number:
				ms = append(ms, exact{v})
			default:
				return nil, bad("Inside anything but list, start|null|boolean is not supported.")
			}
		}
		return anythingBut{ms}, nil
	case map[string]any:
		if len(x) != 1 {
			return nil, bad("Only one key allowed in match expression")
		}
		for op, v := range x {
			switch op {
			case "prefix", "suffix", "wildcard", "equals-ignore-case":
			default:
				return nil, bad("Unsupported anything-but pattern: %s", op)
			}
			list, isList := v.([]any)
			if !isList {
				list = []any{v}
			}
			var ms []matcher
			for _, s := range list {
				m, err := compileOp(op, s)
				if err != nil {
					return nil, err
				}
				ms = append(ms, m)
			}
			return anythingBut{ms}, nil
		}
	}
	return nil, bad("Value of anything-but must be an array or single string/number value.")
}

func compileNumeric(arg any) (matcher, error) {
	list, ok := arg.([]any)
	if !ok || (len(list) != 2 && len(list) != 4) {
		return nil, bad("Value of numeric must be an array.")
	}
	n := numeric{lo: math.Inf(-1), hi: math.Inf(1), loInc: true, hiInc: true}
	seenLo, seenHi := false, false
	for i := 0; i < len(list); i += 2 {
		op, ok := list[i].(string)
		num, ok2 := list[i+1].(json.Number)
		if !ok || !ok2 {
			return nil, bad("Value of numeric must be an array of operator and number pairs.")
		}
		f, err := num.Float64()
		if err != nil {
			return nil, bad("Value of numeric must be a number.")
		}
		switch op {
		case "=":
			if len(list) != 2 {
				return nil, bad("Equality can only be used alone.")
			}
			return numeric{lo: f, hi: f, loInc: true, hiInc: true}, nil
		case ">", ">=":
			if seenLo {
				return nil, bad("Bad numeric range operator: %s", op)
			}
			seenLo, n.lo, n.loInc = true, f, op == ">="
		case "<", "<=":
			if seenHi {
				return nil, bad("Bad numeric range operator: %s", op)
			}
			seenHi, n.hi, n.hiInc = true, f, op == "<="
		default:
			return nil, bad("Unrecognized numeric range operator: %s", op)
		}
	}
	if n.lo > n.hi {
		return nil, bad("Bottom must be less than top")
	}
	return n, nil
}

func splitWildcard(s string) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case s[i] == '*':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	return append(parts, cur.String())
}

func (m exact) match(v any, present bool) bool {
	if !present {
		return false
	}
	switch want := m.v.(type) {
	case json.Number:
		got, ok := v.(json.Number)
		if !ok {
			return false
		}
		a, err1 := want.Float64()
		b, err2 := got.Float64()
		return err1 == nil && err2 == nil && a == b
	default:
		return v == m.v
	}
}

func (m prefix) match(v any, present bool) bool {
	s, ok := v.(string)
	if !present || !ok {
		return false
	}
	if m.ignoreCase {
		s = strings.ToLower(s)
	}
	return strings.HasPrefix(s, m.s)
}

func (m suffix) match(v any, present bool) bool {
	s, ok := v.(string)
	if !present || !ok {
		return false
	}
	if m.ignoreCase {
		s = strings.ToLower(s)
	}
	return strings.HasSuffix(s, m.s)
}

func (m ignoreCase) match(v any, present bool) bool {
	s, ok := v.(string)
	return present && ok && strings.ToLower(s) == m.s
}

func (m wildcard) match(v any, present bool) bool {
	s, ok := v.(string)
	if !present || !ok {
		return false
	}
	if len(m.parts) == 1 {
		return s == m.parts[0]
	}
	if !strings.HasPrefix(s, m.parts[0]) {
		return false
	}
	s = s[len(m.parts[0]):]
	last := m.parts[len(m.parts)-1]
	for _, mid := range m.parts[1 : len(m.parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, last)
}

func (m exists) match(_ any, present bool) bool { return present == m.want }

func (m anythingBut) match(v any, present bool) bool {
	if !present {
		return false
	}
	for _, in := range m.inner {
		if in.match(v, true) {
			return false
		}
	}
	return true
}

func (m numeric) match(v any, present bool) bool {
	n, ok := v.(json.Number)
	if !present || !ok {
		return false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return false
	}
	if f < m.lo || (f == m.lo && !m.loInc) || f > m.hi || (f == m.hi && !m.hiInc) {
		return false
	}
	return true
}

func (m cidr) match(v any, present bool) bool {
	s, ok := v.(string)
	if !present || !ok {
		return false
	}
	a, err := netip.ParseAddr(s)
	return err == nil && m.p.Contains(a)
}
