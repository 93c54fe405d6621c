package expr

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Kind is the kind of an expression.
type Kind int

// Expression kinds.
const (
	KindCron Kind = iota + 1
	KindRate
	KindAt
)

// Dialect is the API whose rules apply.
type Dialect int

// Dialects.
const (
	// Rule is an EventBridge rule (cron and rate).
	Rule Dialect = iota + 1
	// Scheduler is EventBridge Scheduler (cron, rate and at).
	Scheduler
)

// Error is an invalid expression; Reason says why (for logs and tests; the
// APIs answer with AWS's fixed messages).
type Error struct {
	Expr   string
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid schedule expression %q: %s", e.Expr, e.Reason)
}

// Expr is a parsed schedule expression.
type Expr struct {
	Kind Kind
	Text string
	// Every is the interval of a rate expression, in minutes (multiply by
	// the length of a minute: Timing.Minute).
	Every int64
	// at is the wall time of an at expression.
	at wall
	// cron is the spec of a cron expression.
	cron *cronSpec
}

// wall is a wall-clock time without a zone.
type wall struct{ y, mo, d, h, mi, s int }

var (
	rateRE = regexp.MustCompile(`^rate\(([0-9]+) ([a-z]+)\)$`)
	atRE   = regexp.MustCompile(`^at\(([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\)$`)
)

// Parse parses s in dialect d.
func Parse(s string, d Dialect) (*Expr, error) {
	bad := func(format string, args ...any) error { return &Error{Expr: s, Reason: fmt.Sprintf(format, args...)} }
	switch {
	case strings.HasPrefix(s, "cron(") && strings.HasSuffix(s, ")"):
		c, err := parseCron(strings.TrimSuffix(strings.TrimPrefix(s, "cron("), ")"))
		if err != nil {
			return nil, bad("%v", err)
		}
		return &Expr{Kind: KindCron, Text: s, cron: c}, nil
	case strings.HasPrefix(s, "rate("):
		m := rateRE.FindStringSubmatch(s)
		if m == nil {
			return nil, bad("want rate(value unit)")
		}
		v, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || v <= 0 || v > 1<<31 {
			return nil, bad("value must be a positive integer")
		}
		unit, plural := strings.CutSuffix(m[2], "s")
		mult := map[string]int64{"minute": 1, "hour": 60, "day": 24 * 60}[unit]
		switch {
		case mult == 0:
			return nil, bad("unit %q: want minute(s), hour(s) or day(s)", m[2])
		case v == 1 && plural:
			return nil, bad("a value of 1 takes the singular unit")
		case v > 1 && !plural:
			return nil, bad("a value above 1 takes the plural unit")
		}
		return &Expr{Kind: KindRate, Text: s, Every: v * mult}, nil
	case strings.HasPrefix(s, "at("):
		if d != Scheduler {
			return nil, bad("at() is for EventBridge Scheduler only")
		}
		m := atRE.FindStringSubmatch(s)
		if m == nil {
			return nil, bad("want at(yyyy-mm-ddThh:mm:ss)")
		}
		var n [6]int
		for i := range n {
			n[i], _ = strconv.Atoi(m[i+1])
		}
		w := wall{n[0], n[1], n[2], n[3], n[4], n[5]}
		t := time.Date(w.y, time.Month(w.mo), w.d, w.h, w.mi, w.s, 0, time.UTC)
		if t.Year() != w.y || int(t.Month()) != w.mo || t.Day() != w.d || t.Hour() != w.h || t.Minute() != w.mi || t.Second() != w.s {
			return nil, bad("not a valid date and time")
		}
		return &Expr{Kind: KindAt, Text: s, at: w}, nil
	}
	return nil, bad("want cron(...), rate(...) or at(...)")
}

// At returns the time of an at expression in loc (the first instant of an
// ambiguous wall time; a wall time that does not exist moves forward by the
// gap, as time.Date does).
func (e *Expr) At(loc *time.Location) time.Time {
	w := e.at
	return time.Date(w.y, time.Month(w.mo), w.d, w.h, w.mi, w.s, 0, loc)
}

// Timing is an expression with the settings that place its occurrences in
// time.
type Timing struct {
	Expr *Expr
	// Loc is the time zone of cron and at expressions (default UTC).
	Loc *time.Location
	// Start and End bound the occurrences of cron and rate expressions:
	// Start <= occurrence < End (zero: unbounded). One-time (at) schedules
	// ignore them, as EventBridge Scheduler does.
	Start, End time.Time
	// Anchor is the first occurrence of a rate expression when Start is zero
	// (the creation time: a rate schedule without a start date fires at
	// once, then every interval).
	Anchor time.Time
	// Minute is the length of a minute for rate expressions (default one
	// minute; tests shorten it).
	Minute time.Duration
}

// Next returns the first occurrence strictly after after, or false when
// there is none.
func (t Timing) Next(after time.Time) (time.Time, bool) {
	loc := t.Loc
	if loc == nil {
		loc = time.UTC
	}
	var next time.Time
	switch t.Expr.Kind {
	case KindAt:
		at := t.Expr.At(loc)
		if !at.After(after) {
			return time.Time{}, false
		}
		return at, true
	case KindRate:
		minute := t.Minute
		if minute <= 0 {
			minute = time.Minute
		}
		every := time.Duration(t.Expr.Every) * minute
		base := t.Anchor
		if !t.Start.IsZero() {
			base = t.Start
		}
		if after.Before(base) {
			next = base
		} else {
			k := after.Sub(base)/every + 1
			next = base.Add(k * every)
		}
	case KindCron:
		from := after
		if !t.Start.IsZero() && t.Start.After(after) {
			from = t.Start.Add(-time.Nanosecond)
		}
		var ok bool
		if next, ok = t.Expr.cron.next(from, loc); !ok {
			return time.Time{}, false
		}
	default:
		return time.Time{}, false
	}
	if !t.End.IsZero() && !next.Before(t.End) {
		return time.Time{}, false
	}
	return next, true
}
