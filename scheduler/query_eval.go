package scheduler

import (
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

type node interface {
	match(in *Instance) bool
}

type andNode []node

func (n andNode) match(in *Instance) bool {
	for _, t := range n {
		if !t.match(in) {
			return false
		}
	}
	return true
}

type orNode []node

func (n orNode) match(in *Instance) bool {
	for _, t := range n {
		if t.match(in) {
			return true
		}
	}
	return false
}

type notNode struct{ n node }

func (n notNode) match(in *Instance) bool { return !n.n.match(in) }

// cond is one "subject operator [argument]" condition. A negated operator
// (!=, !in, !~, !exists) is the exact complement of its positive form, so an
// instance lacking an attribute satisfies "attribute:x != y".
type cond struct {
	subj     subjectKind
	subjText string
	attr     string // attribute name for subjAttribute
	op       opKind
	opText   string
	negate   bool

	arg      string
	args     []string
	re       *regexp.Regexp
	fast     fastMatch // set when re has a cheaper equivalent
	lit      string
	memo     atomic.Pointer[regexMemo]
	argNum   float64 // attribute ordering: numeric when both sides are numbers
	argIsNum bool
	argInt   int64     // runningTasksCount
	argTime  time.Time // registeredAt
	dateOnly bool      // registeredAt argument was a date: compare by UTC day
}

func (c *cond) match(in *Instance) bool {
	return c.positive(in) != c.negate
}

func (c *cond) positive(in *Instance) bool {
	switch c.subj {
	case subjAttribute:
		v, ok := in.Attributes[c.attr]
		if !ok {
			return false
		}
		if c.op == opExists {
			return true
		}
		if isOrdering(c.op) {
			return orderingHolds(c.op, c.compareAttr(v))
		}
		return c.matchString(v)
	case subjEC2InstanceID:
		return c.matchString(in.EC2InstanceID)
	case subjAgentConnected:
		v := strconv.FormatBool(in.AgentConnected)
		switch c.op {
		case opEq:
			return strings.EqualFold(v, c.arg)
		case opIn:
			for _, a := range c.args {
				if strings.EqualFold(v, a) {
					return true
				}
			}
			return false
		}
		return c.matchString(v)
	case subjAgentVersion:
		return orderingHolds(c.op, compareVersions(in.AgentVersion, c.arg))
	case subjRegisteredAt:
		t := in.RegisteredAt.UTC()
		if c.dateOnly {
			t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		} else if c.argTime.Nanosecond() == 0 {
			t = t.Truncate(time.Second)
		}
		return orderingHolds(c.op, t.Compare(c.argTime))
	case subjRunningTasksCount:
		n := int64(in.RunningTasks)
		switch {
		case n < c.argInt:
			return orderingHolds(c.op, -1)
		case n > c.argInt:
			return orderingHolds(c.op, 1)
		}
		return orderingHolds(c.op, 0)
	case subjTaskGroup:
		return c.matchGroups(in.Groups)
	}
	return false
}

// matchString evaluates ==, in and =~ against a string value.
func (c *cond) matchString(v string) bool {
	switch c.op {
	case opEq:
		return v == c.arg
	case opIn:
		for _, a := range c.args {
			if v == a {
				return true
			}
		}
		return false
	case opMatches:
		return c.matchRegex(v)
	}
	return false
}

type fastMatch uint8

const (
	fastNone    fastMatch = iota
	fastLiteral           // the whole value equals lit
	fastPrefix            // lit followed by .* (which stops at a newline)
)

func (c *cond) matchRegex(v string) bool {
	switch c.fast {
	case fastLiteral:
		return v == c.lit
	case fastPrefix:
		return strings.HasPrefix(v, c.lit) && strings.IndexByte(v[len(c.lit):], '\n') < 0
	}
	if len(v) > memoMaxValue {
		return c.re.MatchString(v)
	}
	m := c.memo.Load()
	if m != nil {
		for i := range m.values {
			if m.values[i] == v {
				return m.results[i]
			}
		}
	}
	r := c.re.MatchString(v)
	if m == nil || len(m.values) < memoMaxEntries {
		next := &regexMemo{}
		if m != nil {
			next.values = append(next.values, m.values...)
			next.results = append(next.results, m.results...)
		}
		next.values = append(next.values, v)
		next.results = append(next.results, r)
		c.memo.CompareAndSwap(m, next) // losing a race only skips caching
	}
	return r
}

// regexMemo remembers the results of a pattern for the first few values it
// met. Attribute values such as instance types or zones repeat across a
// cluster, so placement on many instances runs the regexp engine a handful
// of times. It is immutable; matchRegex swaps in extended copies.
type regexMemo struct {
	values  []string
	results []bool
}

const (
	memoMaxEntries = 16
	memoMaxValue   = 128
)

// matchGroups: the instance "has" a group when at least one task of the
// group is on it.
func (c *cond) matchGroups(groups map[string]int) bool {
	switch c.op {
	case opEq:
		return groups[c.arg] > 0
	case opIn:
		for _, a := range c.args {
			if groups[a] > 0 {
				return true
			}
		}
		return false
	case opExists:
		for _, n := range groups {
			if n > 0 {
				return true
			}
		}
		return false
	case opMatches:
		for g, n := range groups {
			if n > 0 && c.matchRegex(g) {
				return true
			}
		}
		return false
	}
	return false
}

func (c *cond) compareAttr(v string) int {
	if c.argIsNum {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			switch {
			case f < c.argNum:
				return -1
			case f > c.argNum:
				return 1
			}
			return 0
		}
	}
	return strings.Compare(v, c.arg)
}

func isOrdering(op opKind) bool { return op == opGT || op == opGE || op == opLT || op == opLE }

// orderingHolds reports whether a comparison result satisfies op; opEq
// holds on 0.
func orderingHolds(op opKind, cmp int) bool {
	switch op {
	case opEq:
		return cmp == 0
	case opGT:
		return cmp > 0
	case opGE:
		return cmp >= 0
	case opLT:
		return cmp < 0
	case opLE:
		return cmp <= 0
	}
	return false
}

// compareVersions compares agent versions such as 1.14.5, v1.20.0 or
// 1.2.3-beta component by component: numbers numerically, a missing
// component as 0, and at equal numbers a release above a pre-release
// suffix, suffixes otherwise as strings.
func compareVersions(a, b string) int {
	a = strings.TrimPrefix(strings.TrimPrefix(a, "v"), "V")
	b = strings.TrimPrefix(strings.TrimPrefix(b, "v"), "V")
	for a != "" || b != "" {
		var pa, pb string
		pa, a, _ = strings.Cut(a, ".")
		pb, b, _ = strings.Cut(b, ".")
		if c := compareVersionPart(pa, pb); c != 0 {
			return c
		}
	}
	return 0
}

func compareVersionPart(a, b string) int {
	na, sa := splitNumber(a)
	nb, sb := splitNumber(b)
	switch {
	case na < nb:
		return -1
	case na > nb:
		return 1
	case sa == sb:
		return 0
	case sa == "":
		return 1
	case sb == "":
		return -1
	}
	return strings.Compare(sa, sb)
}

// splitNumber splits "12-rc1" into 12 and "-rc1"; "" is 0.
func splitNumber(s string) (uint64, string) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, err := strconv.ParseUint(s[:i], 10, 64)
	if err != nil {
		n = 0
	}
	return n, s[i:]
}
