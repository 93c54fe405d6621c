package simagent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/internal/simagent"
	"github.com/berth-project/berth/services/scheduler/control"
	"github.com/berth-project/berth/services/taskdefs/taskdefs"
)

// TestFleet runs a small fleet against a real scheduler: every instance
// registers once (the same host identity keeps its instance), every
// assignment reaches its instance through the one shared watcher, and the
// tasks report PENDING, RUNNING (with dynamic host ports) and STOPPED with
// the configured exit code.
func TestFleet(t *testing.T) {
	s := natstest.Start(t)
	nc, js := natstest.JetStream(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc, err := control.New(control.Config{Region: "us-east-1", Account: "123456789012", HeartbeatTimeout: time.Second}, natstest.Connect(t, s), js)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	sctx, stop := context.WithCancel(context.Background())
	go func() { done <- svc.Run(sctx) }()
	defer func() { stop(); <-done }()
	<-svc.Ready()
	if err := natsutil.Call(ctx, nc, events.SubjAPI(events.APIECS, "CreateCluster"), ecsapi.CreateClusterRequest{ClusterName: "sim"}, nil); err != nil {
		t.Fatal(err)
	}
	// The scheduler resolves task definitions through the taskdefs service.
	tds, err := taskdefs.New(taskdefs.Config{Region: "us-east-1", Account: "123456789012", Replicas: 1}, natstest.Connect(t, s), js)
	if err != nil {
		t.Fatal(err)
	}
	tdDone := make(chan error, 1)
	go func() { tdDone <- tds.Run(sctx) }()
	defer func() { stop(); <-tdDone }()
	reg := ecsapi.RegisterTaskDefinitionRequest{
		Family: "sim",
		ContainerDefinitions: []ecsapi.ContainerDefinition{{
			Name: "app", Image: "busybox", Memory: awsjson.Int32(16),
			PortMappings: []ecsapi.PortMapping{{ContainerPort: awsjson.Int32(8080)}},
		}},
	}
	natstest.Eventually(t, 15*time.Second, 50*time.Millisecond, func() error {
		return natsutil.Call(ctx, nc, events.SubjAPI(events.APIECS, "RegisterTaskDefinition"), reg, nil)
	})

	fctx, fcancel := context.WithCancel(context.Background())
	defer fcancel()
	cfg := simagent.Config{Cluster: "sim", HeartbeatInterval: 100 * time.Millisecond, RunTime: 200 * time.Millisecond, ExitCode: 7}
	fleet, err := simagent.StartFleet(fctx, natstest.Connect(t, s), simagent.FleetConfig{Count: 3, Template: cfg, HostPrefix: "host"})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, a := range fleet.Agents() {
		ids[a.InstanceID()] = true
	}
	if len(ids) != 3 {
		t.Fatalf("instances %v", ids)
	}
	// Registering a host again keeps its instance.
	again, err := simagent.Start(fctx, natstest.Connect(t, s), simagent.Config{Cluster: "sim", HostID: "host-1", HeartbeatInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !ids[again.InstanceID()] {
		t.Fatalf("host-1 registered as a new instance %s", again.InstanceID())
	}

	var out ecsapi.RunTaskResponse
	if err := natsutil.Call(ctx, nc, events.SubjAPI(events.APIECS, "RunTask"),
		ecsapi.RunTaskRequest{Cluster: "sim", TaskDefinition: "sim", Count: awsjson.Int32(6)}, &out); err != nil || len(out.Tasks) != 6 {
		t.Fatalf("run task: %v %+v", err, out.Failures)
	}
	kv, _ := js.KeyValue(ctx, events.BucketECSState.Name)
	natstest.Eventually(t, 15*time.Second, 50*time.Millisecond, func() error {
		for _, task := range out.Tasks {
			id := task.TaskArn[len(task.TaskArn)-32:]
			e, err := kv.Get(ctx, events.TaskKey("sim", id))
			if err != nil {
				return err
			}
			var rec events.TaskRecord
			_ = json.Unmarshal(e.Value(), &rec)
			if rec.LastStatus != events.TaskStopped {
				return fmt.Errorf("task %s is %s", id, rec.LastStatus)
			}
			c := rec.Containers[0]
			if awsjson.Value(c.ExitCode) != 7 || rec.StopCode != events.StopEssentialContainerExited || len(c.NetworkBindings) != 1 {
				t.Fatalf("stopped task: %+v", rec)
			}
			if hp := awsjson.Value(c.NetworkBindings[0].HostPort); hp < simagent.DynamicPortMin || hp > simagent.DynamicPortMax {
				t.Fatalf("dynamic host port %d", hp)
			}
		}
		return nil
	})
	// The assignments are gone once the tasks are recorded STOPPED.
	natstest.Eventually(t, 5*time.Second, 50*time.Millisecond, func() error {
		keys, err := kv.ListKeysFiltered(ctx, "asg.sim.>")
		if err != nil {
			return err
		}
		n := 0
		for range keys.Keys() {
			n++
		}
		if n != 0 {
			return fmt.Errorf("%d assignments left", n)
		}
		return nil
	})
	if fleet.Running() != 0 {
		t.Fatalf("fleet still runs %d tasks", fleet.Running())
	}
}
