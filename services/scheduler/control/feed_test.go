package control_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/simagent"
	"github.com/berth-project/berth/services/scheduler/control"
)

// TestFeed_EveryReplicaSeesEveryCommit: the tasks placed by whichever
// replica took each RunTask reach the cache of every replica.
func TestFeed_EveryReplicaSeesEveryCommit(t *testing.T) {
	e := startSched(t, 3, testConfig())
	feedTasksReachEveryReplica(t, e)
}

// TestFeed_LostDigests: with every digest lost (as if each replica died
// right after its commits), every replica still learns every commit: it
// reads the holes from the state stream.
func TestFeed_LostDigests(t *testing.T) {
	control.SetLoseDigests(true)
	t.Cleanup(func() { control.SetLoseDigests(false) })
	e := startSched(t, 2, testConfig())
	feedTasksReachEveryReplica(t, e)
	var reads int64
	for _, r := range e.replicas {
		reads += r.Stats().FeedReads
	}
	if reads == 0 {
		t.Fatal("no replica read a hole from the stream, yet no digest went out")
	}
}

func feedTasksReachEveryReplica(t *testing.T, e *schedEnv) {
	t.Helper()
	e.waitReplicas(t)
	e.cluster(t, "feed")
	e.fleet(t, simagent.FleetConfig{Count: 6, Template: simagent.Config{Cluster: "feed", CPU: 4096, Memory: 4096, Hold: true}})
	// Every replica knows the instances before any places: with the
	// digests lost, one learns of another's registrations from the stream.
	natstest.Eventually(t, 15*time.Second, 20*time.Millisecond, func() error {
		for i, r := range e.replicas {
			if n := r.CachedInstances("feed"); n != 6 {
				return fmt.Errorf("replica %d knows %d instances of 6", i, n)
			}
		}
		return nil
	})
	td := e.taskDef(t, "feed", 64, 64)
	var ids []string
	for range 6 {
		out := e.runTask(t, &ecs.RunTaskInput{Cluster: aws.String("feed"), TaskDefinition: aws.String(td), Count: aws.Int32(3)})
		for _, task := range out.Tasks {
			arn, err := events.ParseECSARN(aws.ToString(task.TaskArn))
			must(t, err)
			ids = append(ids, arn.ID)
		}
	}
	natstest.Eventually(t, 15*time.Second, 20*time.Millisecond, func() error {
		for i, r := range e.replicas {
			for _, id := range ids {
				if status, ok := r.CachedTask("feed", id); !ok || status != events.TaskProvisioning {
					return fmt.Errorf("replica %d has task %s as %q (%v)", i, id, status, ok)
				}
			}
		}
		return nil
	})
}
