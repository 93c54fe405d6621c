package events

import "time"

// BucketSchedMembers lists the live scheduler replicas, one key per
// replica, MemberKey(id), re-written every second or so and deleted when
// the replica stops; a replica that died leaves its key until the
// bucket's TTL removes it. Every replica watches the bucket and splits the
// container instances of each cluster among the live replicas by
// rendezvous hashing over instance shards (internal/members): a replica
// places onto its own shards first, so replicas compete only when a
// request does not fit there. The split is a preference; the expected
// revisions of every commit keep placement safe whatever two replicas
// believe.
var BucketSchedMembers = BucketDef{
	Name:        "sched_members",
	Writer:      ServiceScheduler,
	Description: "live scheduler replicas (placement shards)",
	History:     1,
	TTL:         30 * time.Second,
}

// BucketCronMembers lists the live cron replicas, as BucketSchedMembers
// does the scheduler's: the schedules and scheduled rules are split among
// them by the same shards (a hash of the record's key), and each replica
// produces the occurrences of its own share only. The split is a
// preference: CRON_FIRES keeps one message per occurrence whoever produced
// it.
var BucketCronMembers = BucketDef{
	Name:        "cron_members",
	Writer:      ServiceCron,
	Description: "live cron replicas (shares of the schedules)",
	History:     1,
	TTL:         30 * time.Second,
}

// MemberKey is the key of one replica in BucketSchedMembers or
// BucketCronMembers.
func MemberKey(id string) string { return "replica." + id }

// Member is the value of a replica's key.
type Member struct {
	ID        string    `json:"id"`
	StartedAt time.Time `json:"startedAt"`
}
