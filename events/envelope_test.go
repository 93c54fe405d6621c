package events

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestEventEncode: Encode (through EncodeEvent and EncodeEventJSON) writes
// exactly what json.Marshal writes, for details with nesting, escapes and
// HTML-sensitive characters, and for an event without a detail.
func TestEventEncode(t *testing.T) {
	at := time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)
	details := []any{
		map[string]any{"a": []int{1, 2}, "b": map[string]string{"x": "<&>\u2028\"\\"}},
		TaskDetail{TaskArn: "arn:aws:ecs:eu-west-1:000000000000:task/c/1", LastStatus: TaskRunning, Version: 3},
		"plain",
		nil,
	}
	for i, d := range details {
		ev, err := NewEvent("id-\"1\"", SourceECS, DetailTaskStateChange, "000000000000", "eu-west-1", at, nil, d)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := EncodeEvent("id-\"1\"", SourceECS, DetailTaskStateChange, "000000000000", "eu-west-1", at, nil, d)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("detail %d:\n got %s\nwant %s", i, got, want)
		}
	}
	ev := Event{ID: "x"}
	want, _ := json.Marshal(ev)
	if got, err := ev.Encode(); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("no detail: %s, %v; want %s", got, err, want)
	}
}
