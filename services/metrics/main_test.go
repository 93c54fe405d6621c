package main

import (
	"testing"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/testenv"
)

func TestRun_Standalone(t *testing.T) {
	testenv.RunMain(t, run, events.ServiceMetrics, nil)
}
