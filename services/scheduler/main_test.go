package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
)

// TestRun_Standalone runs the scheduler main against an external NATS server
// until it answers its PING, then stops it with the context.
func TestRun_Standalone(t *testing.T) {
	s := natstest.Start(t)
	nc := natstest.Connect(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	var logs bytes.Buffer
	env := map[string]string{"BERTH_NATS_URL": s.ClientURL(), "BERTH_ACCOUNT": "123456789012"}
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, &logs) }()
	natstest.Eventually(t, 15*time.Second, 50*time.Millisecond, func() error {
		_, err := nc.Request("$SRV.PING."+events.ServiceScheduler, nil, time.Second)
		return err
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("scheduler did not stop")
	}
}

func TestRun_BadFlags(t *testing.T) {
	var logs bytes.Buffer
	if err := run(t.Context(), []string{"--account", "42"}, func(string) string { return "" }, &logs); err == nil {
		t.Fatal("bad account accepted")
	}
}
