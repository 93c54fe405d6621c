package members_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/members"
	"github.com/berth-project/berth/internal/natstest"
)

// replica is one joined member running until stop.
type replica struct {
	m    *members.Members
	stop func()
}

// join joins a replica and runs it until stop, which leaves the members
// list (Start) or, with killed, ends Run without leaving, as a replica
// killed with SIGKILL would.
func join(t *testing.T, js jetstream.JetStream, killed bool) *replica {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := members.Join(ctx, js, members.Config{Bucket: events.BucketCronMembers, Interval: 100 * time.Millisecond, What: "test shares"})
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{m: m}
	if killed {
		rctx, rcancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); m.Run(rctx) }()
		r.stop = func() { rcancel(); <-done }
	} else {
		r.stop = m.Start(context.Background())
	}
	var once sync.Once
	stop := r.stop
	r.stop = func() { once.Do(stop) }
	t.Cleanup(r.stop)
	return r
}

// split checks that the replicas see each other and own every shard once.
func split(rs ...*replica) error {
	owners := make([]int, members.NumShards)
	for _, r := range rs {
		o := r.m.Current()
		if o.Live != len(rs) || (o.All && len(rs) > 1) {
			return fmt.Errorf("replica %s sees %d live (all=%v), want %d", r.m.ID(), o.Live, o.All, len(rs))
		}
		for sh := range members.NumShards {
			if o.Owns(sh) {
				owners[sh]++
			}
		}
	}
	for sh, n := range owners {
		if n != 1 {
			return fmt.Errorf("shard %d has %d owners", sh, n)
		}
	}
	return nil
}

// TestJoin: replicas joining the cron service's members bucket (with the
// cron identity's permissions) split the shards, and the share of one
// that leaves (deletes its key) or dies (its key stays until the bucket's
// TTL) goes back to the one left.
func TestJoin(t *testing.T) {
	s := natstest.Start(t)
	nc := natstest.Connect(t, s, natstest.As(t, events.ServiceCron)...)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	a, b := join(t, js, true), join(t, js, false)
	natstest.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error { return split(a, b) })

	b.stop() // leaves
	natstest.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error { return split(a) })

	c := join(t, js, true)
	natstest.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error { return split(a, c) })
	c.stop() // killed: its key stays until the bucket's TTL
	natstest.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error { return split(a) })
}
