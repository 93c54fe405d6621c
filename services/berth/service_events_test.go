package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natsauth"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
)

// TestEvents_TypeService: --type service follows both kinds of service
// events, "ECS Service Action" and "ECS Deployment State Change".
func TestEvents_TypeService(t *testing.T) {
	s := natstest.Start(t)
	_, js := natstest.JetStream(t, s)
	if _, err := natsutil.EnsureStream(t.Context(), js, events.StreamEvents, 1); err != nil {
		t.Fatal(err)
	}
	publishEvent(t, js, events.SubjECSEvent("prod", events.KindTask, "t1"), events.DetailTaskStateChange, "e1")
	publishEvent(t, js, events.SubjECSEvent("prod", events.KindService, "web"), events.DetailServiceAction, "e2")
	publishEvent(t, js, events.SubjECSEvent("prod", events.KindDeployment, "ecs-svc/1234567890123456789"), events.DetailDeploymentStateChange, "e3")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	if err := run(ctx, []string{"events", "--nats-url", s.ClientURL(), "--nats-creds", natstest.ContextFile(t, s.ClientURL(), natsauth.Subscriber), "--type", "service", "--all", "--count", "2"}, func(string) string { return "" }, &out, &errb); err != nil {
		t.Fatalf("run: %v (%s)", err, errb.String())
	}
	var got []string
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		var ev events.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.ID)
	}
	if !slices.Equal(got, []string{"e2", "e3"}) {
		t.Fatalf("--type service: %v", got)
	}
}
