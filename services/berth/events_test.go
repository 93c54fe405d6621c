package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natsauth"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
)

func publishEvent(t *testing.T, js jetstream.JetStream, subject, detailType, id string) {
	t.Helper()
	ev, err := events.NewEvent(id, events.SourceECS, detailType, "123456789012", "us-east-1", time.Now(), []string{"arn:" + id}, map[string]string{"id": id})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(ev)
	if _, err := js.Publish(t.Context(), subject, raw); err != nil {
		t.Fatal(err)
	}
}

func TestEvents_FiltersAndReplay(t *testing.T) {
	s := natstest.Start(t)
	_, js := natstest.JetStream(t, s)
	if _, err := natsutil.EnsureStream(t.Context(), js, events.StreamEvents, 1); err != nil {
		t.Fatal(err)
	}
	publishEvent(t, js, events.SubjECSEvent("prod", events.KindTask, "t1"), events.DetailTaskStateChange, "e1")
	publishEvent(t, js, events.SubjECSEvent("dev", events.KindTask, "t2"), events.DetailTaskStateChange, "e2")
	publishEvent(t, js, events.SubjECSEvent("prod", events.KindContainerInstance, "i1"), events.DetailContainerInstanceStateChange, "e3")
	publishEvent(t, js, events.SubjECSEvent("prod", events.KindTask, "t3"), events.DetailTaskStateChange, "e4")

	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"cluster and type", []string{"--cluster", "prod", "--type", "task", "--all", "--count", "2"}, []string{"e1", "e4"}},
		{"cluster", []string{"--cluster", "prod", "--since", "1h", "--count", "3"}, []string{"e1", "e3", "e4"}},
		{"detail type", []string{"--type", events.DetailContainerInstanceStateChange, "--all", "--count", "1"}, []string{"e3"}},
		{"everything", []string{"--all", "--count", "4"}, []string{"e1", "e2", "e3", "e4"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			var out, errb bytes.Buffer
			args := append([]string{"events", "--nats-url", s.ClientURL(), "--nats-creds", natstest.ContextFile(t, s.ClientURL(), natsauth.Subscriber)}, tc.args...)
			if err := run(ctx, args, func(string) string { return "" }, &out, &errb); err != nil {
				t.Fatalf("run: %v (%s)", err, errb.String())
			}
			var got []string
			sc := bufio.NewScanner(&out)
			for sc.Scan() {
				var ev events.Event
				if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
					t.Fatalf("bad line %q: %v", sc.Text(), err)
				}
				if ev.Version != "0" || ev.Source != events.SourceECS {
					t.Fatalf("envelope: %+v", ev)
				}
				got = append(got, ev.ID)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEvents_BadFlags(t *testing.T) {
	for _, args := range [][]string{{"--type", "bogus"}, {"--source", "s3"}, {"--since", "yesterday", "--nats-url", "nats://127.0.0.1:1"}} {
		var out, errb bytes.Buffer
		if err := run(t.Context(), append([]string{"events"}, args...), func(string) string { return "" }, &out, &errb); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
