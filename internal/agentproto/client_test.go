package agentproto_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/agentproto"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
)

const instanceArn = "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/0123456789abcdef0123456789abcdef"

// fakeRegistrar answers RegisterContainerInstance like the scheduler does,
// only for this unit test of the client (end-to-end tests use the real one).
func fakeRegistrar(t *testing.T, nc *nats.Conn) {
	t.Helper()
	sub, err := nc.Subscribe(events.SubjAPI(events.APIECS, "RegisterContainerInstance"), func(m *nats.Msg) {
		var req ecsapi.RegisterContainerInstanceRequest
		_ = json.Unmarshal(m.Data, &req)
		raw, _ := json.Marshal(ecsapi.RegisterContainerInstanceResponse{ContainerInstance: &ecsapi.ContainerInstance{ContainerInstanceArn: instanceArn}})
		_ = m.Respond(raw)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
}

func TestClient_Protocol(t *testing.T) {
	s := natstest.Start(t)
	nc, js := natstest.JetStream(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	// The test plays the scheduler, which owns the streams and the bucket.
	kv, err := natsutil.EnsureKV(ctx, js, events.BucketECSState, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, def := range []events.StreamDef{events.StreamHeartbeats, events.StreamAgentReports} {
		if _, err := natsutil.EnsureStream(ctx, js, def, 1); err != nil {
			t.Fatal(err)
		}
	}
	fakeRegistrar(t, natstest.Connect(t, s))
	c, ci, err := agentproto.Register(ctx, nc, ecsapi.RegisterContainerInstanceRequest{Cluster: "prod"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ci.ContainerInstanceArn != instanceArn || c.Cluster() != "prod" || c.InstanceID() != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("registered %+v as %s/%s", ci, c.Cluster(), c.InstanceID())
	}

	// Heartbeats keep the last message per agent.
	if err := c.Heartbeat(ctx, events.Heartbeat{RunningTasks: 2}); err != nil {
		t.Fatal(err)
	}
	hbs, _ := js.Stream(ctx, events.StreamHeartbeats.Name)
	m, err := hbs.GetLastMsgForSubject(ctx, events.SubjAgentHeartbeat("prod", c.InstanceID()))
	if err != nil {
		t.Fatal(err)
	}
	var hb events.Heartbeat
	_ = json.Unmarshal(m.Data, &hb)
	if hb.ContainerInstanceArn != instanceArn || hb.RunningTasks != 2 || hb.At.IsZero() {
		t.Fatalf("heartbeat %+v", hb)
	}

	// A repeated report (same seq) is stored once.
	r := events.TaskStateReport{TaskArn: "arn:task/1", LastStatus: "RUNNING", Seq: 7}
	for range 3 {
		if err := c.Report(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Report(ctx, events.TaskStateReport{TaskArn: "arn:task/1", LastStatus: "STOPPED"}); err != nil {
		t.Fatal(err)
	}
	reports, _ := js.Stream(ctx, events.StreamAgentReports.Name)
	info, _ := reports.Info(ctx)
	if info.State.Msgs != 2 {
		t.Fatalf("reports stored: %d, want 2", info.State.Msgs)
	}

	// Assignments: initial values, the sync marker, then changes and deletes.
	put := func(task, desired string) {
		raw, _ := json.Marshal(events.TaskAssignment{TaskArn: "arn:task/" + task, DesiredStatus: desired})
		if _, err := kv.Put(ctx, events.AssignmentKey("prod", c.InstanceID(), task), raw); err != nil {
			t.Fatal(err)
		}
	}
	put("a1", events.DesiredRunning)
	// Another instance's assignment is not ours.
	raw, _ := json.Marshal(events.TaskAssignment{TaskArn: "arn:task/x"})
	_, _ = kv.Put(ctx, events.AssignmentKey("prod", "ffffffffffffffffffffffffffffffff", "x"), raw)

	snap, err := c.Assignments(ctx)
	if err != nil || len(snap) != 1 || snap["arn:task/a1"].DesiredStatus != events.DesiredRunning {
		t.Fatalf("snapshot %v %v", snap, err)
	}
	updates := c.Watch(ctx)
	next := func() agentproto.Update {
		select {
		case u := <-updates:
			return u
		case <-ctx.Done():
			t.Fatal("no update")
		}
		return agentproto.Update{}
	}
	if u := next(); u.Assignment.TaskArn != "arn:task/a1" {
		t.Fatalf("initial %+v", u)
	}
	if u := next(); !u.Synced {
		t.Fatalf("want sync marker, got %+v", u)
	}
	put("a1", events.DesiredStopped)
	if u := next(); u.Assignment.DesiredStatus != events.DesiredStopped {
		t.Fatalf("update %+v", u)
	}
	if err := kv.Delete(ctx, events.AssignmentKey("prod", c.InstanceID(), "a1")); err != nil {
		t.Fatal(err)
	}
	if u := next(); !u.Deleted || u.TaskID != "a1" {
		t.Fatalf("delete %+v", u)
	}
}
