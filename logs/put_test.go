package logs

import (
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/logsapi"
	"github.com/berth-project/berth/internal/apierr"
)

func batch(ts ...int64) []logsapi.InputLogEvent {
	out := make([]logsapi.InputLogEvent, len(ts))
	for i, t := range ts {
		out[i] = logsapi.InputLogEvent{Timestamp: ptr(t), Message: "m"}
	}
	return out
}

func TestCheckBatch_Rules(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC).UnixMilli()
	h := int64(time.Hour / time.Millisecond)
	day := 24 * h
	big := make([]logsapi.InputLogEvent, 10001)
	for i := range big {
		big[i] = logsapi.InputLogEvent{Timestamp: ptr(now), Message: "x"}
	}
	max := make([]logsapi.InputLogEvent, 10000)
	for i := range max {
		max[i] = logsapi.InputLogEvent{Timestamp: ptr(now), Message: "x"}
	}
	huge := []logsapi.InputLogEvent{{Timestamp: ptr(now), Message: strings.Repeat("a", MaxBatchBytes-EventOverhead+1)}}
	exact := []logsapi.InputLogEvent{{Timestamp: ptr(now), Message: strings.Repeat("a", MaxBatchBytes-EventOverhead)}}
	cases := []struct {
		name      string
		evs       []logsapi.InputLogEvent
		retention int32
		errMsg    string // "" = accepted
		from, to  int
		tooNew    *int32
		tooOld    *int32
		expired   *int32
	}{
		{name: "ok", evs: batch(now-1, now), from: 0, to: 2},
		{name: "equal timestamps ok", evs: batch(now, now), from: 0, to: 2},
		{name: "null", evs: nil, errMsg: "Member must not be null"},
		{name: "empty", evs: batch(), errMsg: "Member must have length greater than or equal to 1"},
		{name: "10,000 events ok", evs: max, from: 0, to: 10000},
		{name: "10,001 events", evs: big, errMsg: "Member must have length less than or equal to 10000"},
		{name: "1 MiB exactly ok", evs: exact, from: 0, to: 1},
		{name: "over 1 MiB with overhead", evs: huge, errMsg: "Upload too large: 1048577 bytes exceeds limit of 1048576"},
		{name: "empty message", evs: []logsapi.InputLogEvent{{Timestamp: ptr(now)}}, errMsg: "logEvents.1.member.message"},
		{name: "no timestamp", evs: []logsapi.InputLogEvent{{Message: "x"}}, errMsg: "logEvents.1.member.timestamp"},
		{name: "out of order", evs: batch(now, now-1), errMsg: "must be in chronological order"},
		{name: "span over 24h", evs: batch(now-day-1, now), errMsg: "cannot span more than 24 hours"},
		{name: "span exactly 24h ok", evs: batch(now-day, now), from: 0, to: 2},
		{name: "too new", evs: batch(now, now+2*h+1, now+3*h), from: 0, to: 1, tooNew: ptr(int32(1))},
		{name: "2h ahead ok", evs: batch(now + 2*h), from: 0, to: 1},
		{name: "too old", evs: batch(now-14*day-2, now-14*day-1, now-14*day+h), from: 2, to: 3, tooOld: ptr(int32(2))},
		{name: "expired by retention", evs: batch(now-30*h, now-12*h), retention: 1, from: 1, to: 2, expired: ptr(int32(1))},
		{name: "all too new", evs: batch(now+3*h, now+4*h), from: 0, to: 0, tooNew: ptr(int32(0))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			from, to, rej, err := CheckBatch(c.evs, now, c.retention)
			if c.errMsg != "" {
				e, ok := apierr.As(err)
				if !ok || e.Code != events.CodeInvalidParameter || !strings.Contains(e.Message, c.errMsg) {
					t.Fatalf("err %v, want InvalidParameterException containing %q", err, c.errMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if from != c.from || to != c.to {
				t.Fatalf("accepted [%d,%d), want [%d,%d)", from, to, c.from, c.to)
			}
			var got logsapi.RejectedLogEventsInfo
			if rej != nil {
				got = *rej
			}
			if !eqp(got.TooNewLogEventStartIndex, c.tooNew) || !eqp(got.TooOldLogEventEndIndex, c.tooOld) || !eqp(got.ExpiredLogEventEndIndex, c.expired) {
				t.Fatalf("rejected %+v", got)
			}
		})
	}
}

func eqp(a, b *int32) bool { return (a == nil && b == nil) || (a != nil && b != nil && *a == *b) }

func TestChunk_RoundTrip(t *testing.T) {
	in := []events.LogEvent{{Timestamp: 1, Message: "a b\nc"}, {Timestamp: 2, Message: "é 12 3\n"}, {Timestamp: 3, Message: "x"}}
	var b []byte
	for _, ev := range in {
		b = events.AppendLogChunk(b, ev)
	}
	var out []events.LogEvent
	if err := events.ParseLogChunk(b, func(_ int, ev events.LogEvent) bool { out = append(out, ev); return true }); err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || out[0] != in[0] || out[1] != in[1] || out[2] != in[2] {
		t.Fatalf("%+v", out)
	}
	if err := events.ParseLogChunk([]byte("1 5\nab\n"), func(int, events.LogEvent) bool { return true }); err == nil {
		t.Fatal("truncated chunk parsed")
	}
}
