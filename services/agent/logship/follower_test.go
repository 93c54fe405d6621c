package logship

import (
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/events"
)

func TestReadLines_CursorsAndResume(t *testing.T) {
	in := strings.Join([]string{
		"2026-12-06T20:00:00.000000001Z line 1",
		"2026-12-06T20:00:00.000000001Z line 2", // same timestamp: index 1
		"2026-12-06T20:00:01Z line 3",
		"2026-12-06T20:00:01.5Z ",
		"garbage without a timestamp",
		"2026-12-06T20:00:02Z line 5",
	}, "\n") + "\n"
	read := func(after string) []events.LogShipEvent {
		out := make(chan events.LogShipEvent, 16)
		if err := readLines(strings.NewReader(in), after, out); err != nil {
			t.Fatal(err)
		}
		var evs []events.LogShipEvent
		for ev := range out {
			evs = append(evs, ev)
		}
		return evs
	}
	all := read("")
	if len(all) != 5 {
		t.Fatalf("%d events: %+v", len(all), all)
	}
	t0 := time.Date(2026, 12, 6, 20, 0, 0, 1, time.UTC)
	if all[0].Cursor != Cursor(t0.UnixNano(), 0) || all[1].Cursor != Cursor(t0.UnixNano(), 1) || all[1].Message != "line 2" {
		t.Fatalf("same-timestamp cursors: %+v", all[:2])
	}
	if all[0].Timestamp != t0.UnixMilli() || all[3].Message != "" || all[4].Message != "line 5" {
		t.Fatalf("events %+v", all)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Cursor <= all[i-1].Cursor {
			t.Fatalf("cursors not increasing: %q then %q", all[i-1].Cursor, all[i].Cursor)
		}
	}
	// Resuming after line 2 (the checkpoint) yields lines 3.. only.
	rest := read(all[1].Cursor)
	if len(rest) != 3 || rest[0].Message != "line 3" {
		t.Fatalf("resume: %+v", rest)
	}
	if ns := cursorNS(all[2].Cursor); ns != time.Date(2026, 12, 6, 20, 0, 1, 0, time.UTC).UnixNano() {
		t.Fatalf("cursorNS %d", ns)
	}
}
