package expr

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Year bounds of the year field.
const (
	minYear = 1970
	maxYear = 2199
)

// cronSpec is a parsed cron expression: bit sets of the plain fields and the
// AWS-only day forms.
type cronSpec struct {
	minute, hour, month uint64 // bits 0-59, 0-23, 1-12
	years               []bool // index year-minYear

	anyDom    bool   // day-of-month is '?': day-of-week decides
	dom       uint64 // bits 1-31
	lastDom   bool   // L
	lastWkDom bool   // LW
	nearestWk int    // nW: 1-31, 0 = unused

	dow     uint64 // bits 1-7 (1 = Sunday)
	lastDow int    // nL: the last n-day of the month (1-7), 0 = unused
	nthDow  int    // n#k: the n-day (1-7) ...
	nthWeek int    // ... of week k (1-5)
}

var (
	dowNames   = map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
	plainChars = "0123456789,-*/"
)

// robfigParser parses the minute, hour, day-of-month and month fields.
var robfigParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month)

const starBit = 1 << 63

func parseCron(body string) (*cronSpec, error) {
	f := strings.Fields(body)
	if len(f) != 6 {
		return nil, fmt.Errorf("%d fields, want 6", len(f))
	}
	min, hour, dom, month, dow, year := f[0], f[1], f[2], f[3], f[4], f[5]
	if err := onlyChars(min, plainChars); err != nil {
		return nil, fmt.Errorf("minutes: %w", err)
	}
	if err := onlyChars(hour, plainChars); err != nil {
		return nil, fmt.Errorf("hours: %w", err)
	}
	if err := onlyChars(strings.ToUpper(month), plainChars+"ABCDEFGHIJKLMNOPQRSTUVWXYZ"); err != nil {
		return nil, fmt.Errorf("month: %w", err)
	}
	if err := onlyChars(year, plainChars); err != nil {
		return nil, fmt.Errorf("year: %w", err)
	}
	for _, fs := range []struct {
		name, f string
		max     int
	}{{"minutes", min, 59}, {"hours", hour, 23}, {"day-of-month", dom, 31}, {"month", month, 12}, {"day-of-week", dow, 7}} {
		if err := checkSteps(fs.f, fs.max); err != nil {
			return nil, fmt.Errorf("%s: %w", fs.name, err)
		}
	}
	switch {
	case dom == "?" && dow == "?":
		return nil, errors.New("day-of-month and day-of-week cannot both be '?'")
	case dom != "?" && dow != "?":
		return nil, errors.New("one of day-of-month and day-of-week must be '?'")
	}
	c := &cronSpec{}
	plainDom := "*"
	if dom != "?" && !strings.ContainsAny(dom, "LW") {
		if err := onlyChars(dom, plainChars); err != nil {
			return nil, fmt.Errorf("day-of-month: %w", err)
		}
		plainDom = dom
	}
	s, err := robfigParser.Parse(min + " " + hour + " " + plainDom + " " + month)
	if err != nil {
		return nil, err
	}
	spec := s.(*cron.SpecSchedule)
	c.minute, c.hour, c.month, c.dom = spec.Minute&^starBit, spec.Hour&^starBit, spec.Month&^starBit, spec.Dom&^starBit
	if c.years, err = parseYears(year); err != nil {
		return nil, fmt.Errorf("year: %w", err)
	}
	if dom == "?" {
		c.anyDom = true
		if err := c.parseDow(strings.ToUpper(dow)); err != nil {
			return nil, fmt.Errorf("day-of-week: %w", err)
		}
		return c, nil
	}
	c.dow = 0
	if plainDom == "*" && dom != "*" {
		if err := c.parseSpecialDom(dom); err != nil {
			return nil, fmt.Errorf("day-of-month: %w", err)
		}
	}
	return c, nil
}

// checkSteps refuses increments larger than the field's range (*/60 in
// minutes), as AWS does.
func checkSteps(f string, max int) error {
	for item := range strings.SplitSeq(f, ",") {
		if _, step, ok := strings.Cut(item, "/"); ok {
			n, err := strconv.Atoi(step)
			if err != nil || n < 1 || n > max {
				return fmt.Errorf("increment %q: want 1-%d", step, max)
			}
		}
	}
	return nil
}

func onlyChars(s, allowed string) error {
	for _, r := range s {
		if !strings.ContainsRune(allowed, r) {
			return fmt.Errorf("character %q is not allowed", r)
		}
	}
	return nil
}

// parseSpecialDom parses L, LW and nW.
func (c *cronSpec) parseSpecialDom(f string) error {
	switch {
	case f == "L":
		c.lastDom = true
	case f == "LW":
		c.lastWkDom = true
	case strings.HasSuffix(f, "W"):
		n, err := strconv.Atoi(strings.TrimSuffix(f, "W"))
		if err != nil || n < 1 || n > 31 {
			return fmt.Errorf("%q: want nW with n in 1-31", f)
		}
		c.nearestWk = n
	default:
		return fmt.Errorf("%q: L and W only as L, LW or nW", f)
	}
	return nil
}

// parseDow parses the day-of-week field: a list of values, ranges and
// steps over 1-7 or SUN-SAT, or one of L, nL, n#k.
func (c *cronSpec) parseDow(f string) error {
	switch {
	case f == "L":
		c.dow = 1 << 7
		return nil
	case strings.HasSuffix(f, "L"):
		n, err := dowValue(strings.TrimSuffix(f, "L"))
		if err != nil {
			return err
		}
		c.lastDow = n
		return nil
	case strings.Contains(f, "#"):
		d, k, _ := strings.Cut(f, "#")
		n, err := dowValue(d)
		if err != nil {
			return err
		}
		w, err := strconv.Atoi(k)
		if err != nil || w < 1 || w > 5 {
			return fmt.Errorf("%q: the week after # must be 1-5", f)
		}
		c.nthDow, c.nthWeek = n, w
		return nil
	}
	bits, err := parseList(f, 1, 7, dowNames)
	if err != nil {
		return err
	}
	c.dow = bits
	return nil
}

func dowValue(s string) (int, error) {
	if n, ok := dowNames[s]; ok {
		return n, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 7 {
		return 0, fmt.Errorf("%q: want 1-7 or SUN-SAT", s)
	}
	return n, nil
}

// parseList parses a comma-separated list of *, v, a-b, */s, v/s, a-b/s
// over min..max into a bit set.
func parseList(f string, min, max int, names map[string]int) (uint64, error) {
	var bits uint64
	for item := range strings.SplitSeq(f, ",") {
		rng, stepStr, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			var err error
			if step, err = strconv.Atoi(stepStr); err != nil || step < 1 {
				return 0, fmt.Errorf("%q: bad step", item)
			}
		}
		lo, hi := min, max
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if lo, err = value(a, min, max, names); err != nil {
				return 0, err
			}
			if hi, err = value(b, min, max, names); err != nil {
				return 0, err
			}
			if lo > hi {
				return 0, fmt.Errorf("%q: range start after its end", item)
			}
		default:
			var err error
			if lo, err = value(rng, min, max, names); err != nil {
				return 0, err
			}
			if !hasStep {
				hi = lo
			}
		}
		for v := lo; v <= hi; v += step {
			bits |= 1 << uint(v)
		}
	}
	return bits, nil
}

func value(s string, min, max int, names map[string]int) (int, error) {
	if n, ok := names[s]; ok {
		return n, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		return 0, fmt.Errorf("%q: want %d-%d", s, min, max)
	}
	return n, nil
}

// parseYears parses the year field over 1970-2199.
func parseYears(f string) ([]bool, error) {
	years := make([]bool, maxYear-minYear+1)
	for item := range strings.SplitSeq(f, ",") {
		rng, stepStr, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			var err error
			if step, err = strconv.Atoi(stepStr); err != nil || step < 1 {
				return nil, fmt.Errorf("%q: bad step", item)
			}
		}
		lo, hi := minYear, maxYear
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if lo, err = value(a, minYear, maxYear, nil); err != nil {
				return nil, err
			}
			if hi, err = value(b, minYear, maxYear, nil); err != nil {
				return nil, err
			}
			if lo > hi {
				return nil, fmt.Errorf("%q: range start after its end", item)
			}
		default:
			var err error
			if lo, err = value(rng, minYear, maxYear, nil); err != nil {
				return nil, err
			}
			if !hasStep {
				hi = lo
			}
		}
		for y := lo; y <= hi; y += step {
			years[y-minYear] = true
		}
	}
	return years, nil
}

// dayMatches reports whether the date y-m-d matches the day fields.
func (c *cronSpec) dayMatches(y int, m time.Month, d int) bool {
	last := daysIn(y, m)
	if !c.anyDom {
		switch {
		case c.lastDom:
			return d == last
		case c.lastWkDom:
			return d == nearestWeekday(y, m, last)
		case c.nearestWk > 0:
			return c.nearestWk <= last && d == nearestWeekday(y, m, c.nearestWk)
		}
		return c.dom&(1<<uint(d)) != 0
	}
	wd := int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Weekday()) + 1 // 1 = Sunday
	switch {
	case c.lastDow > 0:
		return wd == c.lastDow && d+7 > last
	case c.nthDow > 0:
		return wd == c.nthDow && (d-1)/7+1 == c.nthWeek
	}
	return c.dow&(1<<uint(wd)) != 0
}

// nearestWeekday is the weekday (Mon-Fri) nearest day n of the month,
// without leaving the month.
func nearestWeekday(y int, m time.Month, n int) int {
	last := daysIn(y, m)
	switch time.Date(y, m, n, 0, 0, 0, 0, time.UTC).Weekday() {
	case time.Saturday:
		if n == 1 {
			return 3
		}
		return n - 1
	case time.Sunday:
		if n == last {
			return n - 2
		}
		return n + 1
	}
	return n
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// next returns the first wall-clock match in loc strictly after after. A
// wall time that does not exist in loc is skipped; one that happens twice
// matches at its first instant only.
func (c *cronSpec) next(after time.Time, loc *time.Location) (time.Time, bool) {
	t := after.In(loc)
	y0, m0, d0 := t.Date()
	startMin := t.Hour()*60 + t.Minute() + 1
	first := true
	for y := y0; y <= maxYear; y++ {
		if y < minYear || !c.years[y-minYear] {
			first = false
			continue
		}
		mStart := time.January
		if first {
			mStart = m0
		}
		for m := mStart; m <= time.December; m++ {
			if c.month&(1<<uint(m)) == 0 {
				first = false
				continue
			}
			dStart := 1
			if first {
				dStart = d0
			}
			for d := dStart; d <= daysIn(y, m); d++ {
				from := 0
				if first {
					from = startMin
					first = false
				}
				if !c.dayMatches(y, m, d) {
					continue
				}
				if at, ok := c.inDay(y, m, d, from, after, loc); ok {
					return at, true
				}
			}
		}
	}
	return time.Time{}, false
}

// inDay returns the first matching minute of the day at or after wall
// minute from that exists in loc and lies after after.
func (c *cronSpec) inDay(y int, m time.Month, d, from int, after time.Time, loc *time.Location) (time.Time, bool) {
	for h := from / 60; h < 24; h++ {
		if c.hour&(1<<uint(h)) == 0 {
			continue
		}
		for mi := 0; mi < 60; mi++ {
			if c.minute&(1<<uint(mi)) == 0 || h*60+mi < from {
				continue
			}
			at := time.Date(y, m, d, h, mi, 0, 0, loc)
			if at.Hour() != h || at.Minute() != mi {
				continue // skipped by a daylight-saving change
			}
			if first := firstInstant(at); first.After(after) {
				return first, true
			}
		}
	}
	return time.Time{}, false
}

// firstInstant returns the earliest instant showing at's wall time: at
// itself, or an hour earlier when the wall time repeats (autumn change).
func firstInstant(at time.Time) time.Time {
	for _, back := range []time.Duration{time.Hour, 30 * time.Minute} {
		e := at.Add(-back)
		if e.Hour() == at.Hour() && e.Minute() == at.Minute() && e.Day() == at.Day() {
			return e
		}
	}
	return at
}
