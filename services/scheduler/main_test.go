package main

import (
	"strings"
	"testing"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/testenv"
)

func TestRun_Standalone(t *testing.T) {
	testenv.RunMain(t, run, events.ServiceScheduler, nil)
}

func TestRun_BadFlags(t *testing.T) {
	var logs testenv.SafeBuffer
	if err := run(t.Context(), []string{"--account", "42"}, func(string) string { return "" }, &logs); err == nil {
		t.Fatal("bad account accepted")
	}
}

func TestRun_BadDurationFlag(t *testing.T) {
	var logs testenv.SafeBuffer
	err := run(t.Context(), []string{"--heartbeat-timeout", "soon"}, func(string) string { return "" }, &logs)
	if err == nil || !strings.Contains(logs.String(), "heartbeat-timeout") {
		t.Fatalf("bad --heartbeat-timeout: %v\n%s", err, logs.String())
	}
}
