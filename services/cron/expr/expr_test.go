package expr

import (
	"errors"
	"testing"
	"time"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestTiming_Next_AWSExamples checks next fire times of the examples in
// AWS's documentation (eb-scheduled-rule-pattern, scheduler schedule-types)
// and of the AWS-only forms.
func TestTiming_Next_AWSExamples(t *testing.T) {
	cases := []struct {
		name  string
		expr  string
		tz    string
		after string
		want  []string // successive occurrences (UTC)
	}{
		{"daily 10:00", "cron(0 10 * * ? *)", "", "2026-12-06T10:00:00Z", []string{"2026-12-07T10:00:00Z", "2026-12-08T10:00:00Z"}},
		{"12:15 daily", "cron(15 12 * * ? *)", "", "2026-12-06T12:14:59Z", []string{"2026-12-06T12:15:00Z", "2026-12-07T12:15:00Z"}},
		// 2026-12-04 is a Friday.
		{"weekdays 18:00", "cron(0 18 ? * MON-FRI *)", "", "2026-12-04T18:00:00Z", []string{"2026-12-07T18:00:00Z", "2026-12-08T18:00:00Z"}},
		{"8:00 first of month", "cron(0 8 1 * ? *)", "", "2026-12-06T00:00:00Z", []string{"2027-01-01T08:00:00Z", "2027-02-01T08:00:00Z"}},
		{"every 15 minutes", "cron(0/15 * * * ? *)", "", "2026-12-06T10:07:00Z", []string{"2026-12-06T10:15:00Z", "2026-12-06T10:30:00Z", "2026-12-06T10:45:00Z", "2026-12-06T11:00:00Z"}},
		{"every 10 min weekdays", "cron(0/10 * ? * MON-FRI *)", "", "2026-12-04T23:55:00Z", []string{"2026-12-07T00:00:00Z", "2026-12-07T00:10:00Z"}},
		{"every 5 min 8-17 weekdays", "cron(0/5 8-17 ? * MON-FRI *)", "", "2026-12-07T17:55:00Z", []string{"2026-12-08T08:00:00Z", "2026-12-08T08:05:00Z"}},
		{"9:00 first Monday (2#1)", "cron(0 9 ? * 2#1 *)", "", "2026-12-06T00:00:00Z", []string{"2026-12-07T09:00:00Z", "2027-01-04T09:00:00Z", "2027-02-01T09:00:00Z"}},
		{"third Friday by name", "cron(0 12 ? * FRI#3 *)", "", "2026-12-01T00:00:00Z", []string{"2026-12-18T12:00:00Z", "2027-01-15T12:00:00Z"}},
		{"last day of month (L)", "cron(0 0 L * ? *)", "", "2027-01-31T00:00:00Z", []string{"2027-02-28T00:00:00Z", "2027-03-31T00:00:00Z"}},
		{"leap February L", "cron(30 23 L 2 ? *)", "", "2027-03-01T00:00:00Z", []string{"2028-02-29T23:30:00Z", "2029-02-28T23:30:00Z"}},
		// 2027-01-03 is a Sunday -> Monday 4th; 2027-04-03 is a Saturday -> Friday 2nd.
		{"nearest weekday (3W)", "cron(0 6 3W * ? *)", "", "2026-12-31T00:00:00Z", []string{"2027-01-04T06:00:00Z", "2027-02-03T06:00:00Z", "2027-03-03T06:00:00Z", "2027-04-02T06:00:00Z"}},
		// 2027-05-01 is a Saturday: 1W stays in May -> Monday 3rd.
		{"1W on a Saturday", "cron(0 6 1W 5 ? *)", "", "2027-01-01T00:00:00Z", []string{"2027-05-03T06:00:00Z"}},
		// 2027-01-31 is a Sunday -> Friday 29th.
		{"last weekday (LW)", "cron(0 6 LW * ? *)", "", "2027-01-01T00:00:00Z", []string{"2027-01-29T06:00:00Z", "2027-02-26T06:00:00Z"}},
		{"last Friday (6L)", "cron(0 0 ? * 6L *)", "", "2026-12-01T00:00:00Z", []string{"2026-12-25T00:00:00Z", "2027-01-29T00:00:00Z"}},
		{"day-of-week L = Saturday", "cron(0 0 ? * L *)", "", "2026-12-06T00:00:00Z", []string{"2026-12-12T00:00:00Z", "2026-12-19T00:00:00Z"}},
		{"year field", "cron(0 0 1 1 ? 2030,2032)", "", "2026-12-06T00:00:00Z", []string{"2030-01-01T00:00:00Z", "2032-01-01T00:00:00Z"}},
		{"year range step", "cron(0 0 1 JAN ? 2028-2040/4)", "", "2026-12-06T00:00:00Z", []string{"2028-01-01T00:00:00Z", "2032-01-01T00:00:00Z"}},
		{"month names and list", "cron(0 0 1 JAN,JUL ? *)", "", "2026-12-06T00:00:00Z", []string{"2027-01-01T00:00:00Z", "2027-07-01T00:00:00Z"}},
		{"day-of-week list by number", "cron(0 0 ? * 1,7 *)", "", "2026-12-06T00:00:00Z", []string{"2026-12-12T00:00:00Z", "2026-12-13T00:00:00Z"}},
		// DST, America/New_York: 2026-03-08 02:00 -> 03:00; 2026-11-01 02:00 -> 01:00.
		{"spring forward skips 2:30", "cron(30 2 * * ? *)", "America/New_York", "2026-03-07T07:30:00Z", []string{"2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"}},
		{"spring forward: 3:00 fires", "cron(0 3 * * ? *)", "America/New_York", "2026-03-07T08:00:00Z", []string{"2026-03-08T07:00:00Z"}},
		{"fall back fires 1:30 once", "cron(30 1 * * ? *)", "America/New_York", "2026-10-31T05:30:00Z", []string{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
		{"fall back every 30 min", "cron(0/30 * * * ? *)", "America/New_York", "2026-11-01T04:00:00Z", []string{"2026-11-01T04:30:00Z", "2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z", "2026-11-01T07:00:00Z", "2026-11-01T07:30:00Z"}},
		{"Berlin 10:00 winter", "cron(0 10 * * ? *)", "Europe/Berlin", "2026-12-06T00:00:00Z", []string{"2026-12-06T09:00:00Z"}},
		{"Berlin 10:00 summer", "cron(0 10 * * ? *)", "Europe/Berlin", "2027-07-01T00:00:00Z", []string{"2027-07-01T08:00:00Z"}},
		{"at in a time zone", "at(2026-12-25T10:00:00)", "Europe/Berlin", "2026-12-06T00:00:00Z", []string{"2026-12-25T09:00:00Z"}},
		{"at past", "at(2026-12-01T10:00:00)", "", "2026-12-06T00:00:00Z", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.expr, Scheduler)
			if err != nil {
				t.Fatal(err)
			}
			tm := Timing{Expr: e}
			if tc.tz != "" {
				tm.Loc = mustLoc(t, tc.tz)
			}
			after := utc(tc.after)
			for i, w := range tc.want {
				got, ok := tm.Next(after)
				if !ok || !got.Equal(utc(w)) {
					t.Fatalf("occurrence %d after %s: got %s (%v), want %s", i, after.UTC().Format(time.RFC3339), got.UTC().Format(time.RFC3339), ok, w)
				}
				after = got
			}
			if tc.want == nil || e.Kind == KindAt {
				if got, ok := tm.Next(after); ok {
					t.Fatalf("unexpected occurrence %s", got)
				}
			}
		})
	}
}

func TestTiming_Next_Rate(t *testing.T) {
	created := utc("2026-03-07T12:00:00Z")
	ny := mustLoc(t, "America/New_York")
	cases := []struct {
		name       string
		expr       string
		start, end string
		after      string
		want       []string
	}{
		{"fires at creation, then every minute", "rate(1 minute)", "", "", "2026-03-07T11:59:00Z", []string{"2026-03-07T12:00:00Z", "2026-03-07T12:01:00Z"}},
		{"every 5 minutes", "rate(5 minutes)", "", "", "2026-03-07T12:07:00Z", []string{"2026-03-07T12:10:00Z", "2026-03-07T12:15:00Z"}},
		{"start date anchors", "rate(2 hours)", "2026-03-10T01:30:00Z", "", "2026-03-07T12:00:00Z", []string{"2026-03-10T01:30:00Z", "2026-03-10T03:30:00Z"}},
		// 1 day is 24 hours across the DST change (zone ignored).
		{"1 day across DST", "rate(1 day)", "", "", "2026-03-07T12:00:00Z", []string{"2026-03-08T12:00:00Z", "2026-03-09T12:00:00Z"}},
		{"end date excludes", "rate(1 hour)", "", "2026-03-07T14:00:00Z", "2026-03-07T12:00:00Z", []string{"2026-03-07T13:00:00Z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.expr, Rule)
			if err != nil {
				t.Fatal(err)
			}
			tm := Timing{Expr: e, Loc: ny, Anchor: created}
			if tc.start != "" {
				tm.Start = utc(tc.start)
			}
			if tc.end != "" {
				tm.End = utc(tc.end)
			}
			after := utc(tc.after)
			for i, w := range tc.want {
				got, ok := tm.Next(after)
				if !ok || !got.Equal(utc(w)) {
					t.Fatalf("occurrence %d: got %s (%v), want %s", i, got.UTC(), ok, w)
				}
				after = got
			}
			if tc.end != "" {
				if got, ok := tm.Next(after); ok {
					t.Fatalf("occurrence %s at or after EndDate", got)
				}
			}
		})
	}
}

func TestTiming_Next_StartEndCron(t *testing.T) {
	e, _ := Parse("cron(0 * * * ? *)", Scheduler)
	tm := Timing{Expr: e, Start: utc("2026-12-06T10:30:00Z"), End: utc("2026-12-06T12:00:00Z")}
	got, ok := tm.Next(utc("2026-12-01T00:00:00Z"))
	if !ok || !got.Equal(utc("2026-12-06T11:00:00Z")) {
		t.Fatalf("first: %s %v", got, ok)
	}
	if got, ok := tm.Next(got); ok {
		t.Fatalf("after end: %s", got)
	}
	// Minute shortens rate minutes (tests).
	r, _ := Parse("rate(1 minute)", Scheduler)
	rt := Timing{Expr: r, Anchor: utc("2026-12-06T10:00:00Z"), Minute: time.Second}
	if got, _ := rt.Next(utc("2026-12-06T10:00:00Z")); !got.Equal(utc("2026-12-06T10:00:01Z")) {
		t.Fatalf("short minute: %s", got)
	}
}

func TestParse_Invalid(t *testing.T) {
	cases := []struct {
		expr    string
		dialect Dialect
	}{
		{"", Scheduler},
		{"every minute", Scheduler},
		{"cron(0 10 * * *)", Scheduler},        // five fields
		{"cron(0 10 * * ? * *)", Scheduler},    // seven fields
		{"cron(0 10 * * * *)", Scheduler},      // no '?'
		{"cron(0 10 ? * ? *)", Scheduler},      // two '?'
		{"cron(7 20 * * 1-7 *)", Rule},         // localstack#12156
		{"cron(60 * * * ? *)", Scheduler},      // minute out of range
		{"cron(*/60 * * * ? *)", Rule},         // increment too large
		{"cron(0 24 * * ? *)", Scheduler},      // hour out of range
		{"cron(0 0 32 * ? *)", Scheduler},      // day out of range
		{"cron(0 0 0 * ? *)", Scheduler},       // day 0
		{"cron(0 0 1 13 ? *)", Scheduler},      // month out of range
		{"cron(0 0 1 FOO ? *)", Scheduler},     // bad month name
		{"cron(0 0 ? * 8 *)", Scheduler},       // day-of-week out of range
		{"cron(0 0 ? * 0 *)", Scheduler},       // day-of-week 0 (1-7 in AWS)
		{"cron(0 0 ? * FUN *)", Scheduler},     // bad day name
		{"cron(0 0 ? * 2#6 *)", Scheduler},     // week 6
		{"cron(0 0 ? * 9#1 *)", Scheduler},     // day 9
		{"cron(0 0 ? * 2#1,3#2 *)", Scheduler}, // two '#'
		{"cron(0 0 L-2 * ? *)", Scheduler},     // L offset
		{"cron(0 0 32W * ? *)", Scheduler},     // W out of range
		{"cron(0 0 1-5W * ? *)", Scheduler},    // W on a range
		{"cron(0 0 ? * MON-FRI 1969)", Scheduler},
		{"cron(0 0 ? * MON-FRI 2200)", Scheduler},
		{"cron(0 0 ? * FRI-MON *)", Scheduler}, // reversed range
		{"cron(0 0 5-1 * ? *)", Scheduler},     // reversed range
		{"cron(a 0 * * ? *)", Scheduler},       // letters in minutes
		{"cron(0 L * * ? *)", Scheduler},       // L in hours
		{"cron(0 0 * * ? 20#1)", Scheduler},    // '#' in year
		{"cron(0/0 * * * ? *)", Scheduler},     // zero step
		{"cron()", Scheduler},
		{"rate(1 minutes)", Rule},
		{"rate(5 minute)", Rule},
		{"rate(1 hours)", Scheduler},
		{"rate(0 minutes)", Scheduler},
		{"rate(-1 minutes)", Scheduler},
		{"rate(1.5 hours)", Scheduler},
		{"rate(1 second)", Scheduler},
		{"rate(2 weeks)", Scheduler},
		{"rate(5  minutes)", Scheduler},
		{"rate(5minutes)", Scheduler},
		{"rate()", Scheduler},
		{"at(2026-12-25T10:00:00)", Rule}, // rules have no at()
		{"at(2026-02-30T10:00:00)", Scheduler},
		{"at(2026-12-25 10:00:00)", Scheduler},
		{"at(2026-12-25T10:00)", Scheduler},
		{"at(2026-12-25T24:00:00)", Scheduler},
		{"CRON(0 10 * * ? *)", Scheduler},
	}
	for _, tc := range cases {
		t.Run(tc.expr, func(t *testing.T) {
			_, err := Parse(tc.expr, tc.dialect)
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Parse(%q) = %v, want *Error", tc.expr, err)
			}
		})
	}
}

func TestParse_Valid(t *testing.T) {
	for _, s := range []string{
		"cron(0 10 * * ? *)", "cron(0 18 ? * MON-FRI *)", "cron(0/15 * * * ? *)", "cron(0 0 ? * 1 *)",
		"cron(5,35 14 * * ? *)", "cron(15 10 ? * 6L 2026-2030)", "cron(0 0 LW * ? *)", "cron(0 0 ? * mon *)",
		"rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "rate(12 hours)", "rate(1 day)", "rate(7 days)",
	} {
		if _, err := Parse(s, Rule); err != nil {
			t.Errorf("Parse(%q): %v", s, err)
		}
	}
	if _, err := Parse("at(2026-12-25T10:00:00)", Scheduler); err != nil {
		t.Error(err)
	}
}
