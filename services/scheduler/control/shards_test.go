package control_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/simagent"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/services/scheduler/control"
)

// TestShards_ReplicasPlaceOnTheirOwnShards: three replicas split the
// placement shards among them; binpack requests each fit on the replica
// that got them, so no commit loses a race and no instance is
// oversubscribed.
func TestShards_ReplicasPlaceOnTheirOwnShards(t *testing.T) {
	e := startSched(t, 3, testConfig())
	e.waitReplicas(t)
	shards := 0
	for _, r := range e.replicas {
		shards += r.Stats().Shards
	}
	if shards != 256 {
		t.Fatalf("the replicas own %d shards in all, want 256", shards)
	}
	e.cluster(t, "shards")
	e.fleet(t, simagent.FleetConfig{Count: 30, Template: simagent.Config{Cluster: "shards", CPU: 4096, Memory: 4096, Hold: true}})
	td := e.taskDef(t, "sh", 64, 64)
	for range 60 {
		e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("shards"), TaskDefinition: aws.String(td), Count: aws.Int32(5),
			PlacementStrategy: []types.PlacementStrategy{{Type: types.PlacementStrategyTypeBinpack, Field: aws.String("memory")}}})
	}
	st := e.stats()
	if st.TasksPlaced != 300 || st.Conflicts != 0 || st.Widened != 0 {
		t.Fatalf("stats %+v: want 300 tasks placed, no conflict, none widened", st)
	}
	for i, r := range e.replicas {
		if r.Stats().Narrowed == 0 {
			t.Errorf("replica %d placed nothing on its shards: %+v", i, r.Stats())
		}
	}
	insts, tasks := records(t, e.JS, "shards")
	checkAccounting(t, insts, tasks)
	// Binpack within each replica's share: at most three instances (one
	// per replica) are partly filled.
	partial := 0
	for _, in := range insts {
		if in.RemainingMemory != 0 && in.RemainingMemory != 4096 {
			partial++
		}
	}
	if partial > 3 {
		t.Errorf("%d instances partly filled, want at most one per replica", partial)
	}
}

// TestShards_ReplicaLeaves: a replica that stops deletes its key and the
// others take its shards at once.
func TestShards_ReplicaLeaves(t *testing.T) {
	e := startSched(t, 2, testConfig())
	nc := natstest.Connect(t, e.Server)
	js, err := jetstream.New(nc)
	must(t, err)
	cfg := testConfig()
	cfg.Region, cfg.Account = testenv.Region, testenv.Account
	third, err := control.New(cfg, nc, js)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- third.Run(ctx) }()
	defer cancel()
	select {
	case <-third.Ready():
	case <-time.After(15 * time.Second):
		t.Fatal("third replica not ready")
	}
	e.replicas = append(e.replicas, third)
	e.waitReplicas(t)
	cancel()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("third replica did not stop")
	}
	e.replicas = e.replicas[:2]
	// Well within the three heartbeat intervals a silent replica is given.
	natstest.Eventually(t, 2*time.Second, 10*time.Millisecond, func() error {
		sum := 0
		for _, r := range e.replicas {
			st := r.Stats()
			if st.Replicas != 2 {
				return fmt.Errorf("a replica still knows %d replicas", st.Replicas)
			}
			sum += st.Shards
		}
		if sum != 256 {
			return fmt.Errorf("the two replicas own %d shards", sum)
		}
		return nil
	})
}
