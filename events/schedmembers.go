package events

import "time"

// BucketSchedMembers lists the live scheduler replicas, one key per
// replica, SchedMemberKey(id), re-written every second or so and deleted
// when the replica stops; a replica that died leaves its key until the
// bucket's TTL removes it. Every replica watches the bucket and splits the
// container instances of each cluster among the live replicas by
// rendezvous hashing over instance shards (services/scheduler/control,
// members.go): a replica places onto its own shards first, so replicas
// compete only when a request does not fit there. The split is a
// preference; the expected revisions of every commit keep placement safe
// whatever two replicas believe.
var BucketSchedMembers = BucketDef{
	Name:        "sched_members",
	Writer:      ServiceScheduler,
	Description: "live scheduler replicas (placement shards)",
	History:     1,
	TTL:         30 * time.Second,
}

// SchedMemberKey is the key of one scheduler replica in
// BucketSchedMembers.
func SchedMemberKey(id string) string { return "replica." + id }

// SchedMember is the value of a replica's key.
type SchedMember struct {
	ID        string    `json:"id"`
	StartedAt time.Time `json:"startedAt"`
}
