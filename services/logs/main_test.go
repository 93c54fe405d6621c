package main

import (
	"testing"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/testenv"
)

func TestRun_Standalone(t *testing.T) {
	testenv.RunMain(t, run, events.ServiceLogs, nil)
}

func TestRun_BadFlags(t *testing.T) {
	var logs testenv.SafeBuffer
	if err := run(t.Context(), []string{"--account", "42"}, func(string) string { return "" }, &logs); err == nil {
		t.Fatal("bad account accepted")
	}
}
