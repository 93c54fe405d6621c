// Package expr parses the schedule expressions of Amazon EventBridge rules
// and EventBridge Scheduler and computes their fire times. It is pure: no
// I/O, no clock.
//
//	cron(Minutes Hours Day-of-month Month Day-of-week Year)
//	rate(value unit)              unit minute|minutes|hour|hours|day|days
//	at(yyyy-mm-ddThh:mm:ss)       Scheduler only: one time
//
// Cron fields follow AWS: six fields, day-of-week 1-7 = SUN-SAT, exactly one
// of day-of-month and day-of-week is '?', 'L' (last day of the month or of
// the week, 'nL' the last n-day of the month, 'LW' the last weekday), 'nW'
// (the weekday nearest day n, never leaving the month), 'n#k' (the k-th
// n-day of the month), names (JAN-DEC, SUN-SAT), ranges, lists and steps,
// years 1970-2199. The minute, hour and month fields (and a plain
// day-of-month) are parsed by github.com/robfig/cron/v3; the rest (the
// AWS-only forms and the 1-based day of week) is parsed here.
//
// Rate values follow the EventBridge rule: 1 takes the singular unit, more
// than 1 the plural (rate(1 hours) and rate(5 hour) are invalid).
//
// Time zones and daylight saving time follow EventBridge Scheduler: cron and
// at expressions are evaluated on the wall clock of the schedule's time
// zone; a wall time that does not exist (the hour skipped in spring) is
// skipped, and a wall time that happens twice (the hour repeated in autumn)
// fires once, at its first instant. Rates are fixed durations ("1 day" is
// 24 hours whatever the clock says).
package expr
