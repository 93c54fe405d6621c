// Package members splits a service's work among its live replicas.
//
// Each replica writes its key (events.MemberKey) in the service's members
// bucket every Interval and deletes it when it stops; every replica
// watches the bucket and counts as live the replicas heard of within the
// last three intervals (a replica killed without deleting its key drops
// out after that). The work is cut into NumShards shards (ShardOf, a hash
// of a key), and each shard belongs to the live replica with the highest
// rendezvous score for it, so a replica joining or leaving moves only its
// own share and every replica computes the same split from the same list.
//
// Ownership is a preference, not a lock: for a few seconds after a
// replica joins or dies two replicas may disagree on a shard. The users
// keep that safe on their own: the scheduler's commits carry expected
// revisions, and the cron service's occurrences carry message ids the
// CRON_FIRES stream deduplicates.
//
// A lone replica, and a service without a members bucket, owns every
// shard (Ownership.All).
package members
