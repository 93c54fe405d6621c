// Package outbox makes sure that every committed state change is announced
// on the public EVENTS stream exactly once, even when the process that
// committed it dies between the commit and the publish.
//
// Every event has a deterministic Nats-Msg-Id derived from the change
// (events.ECSEventMsgID: <arn>#<version>; the registry: the key and the
// revision the commit replaced), so publishing it again is harmless. Three
// paths publish, all through Publisher, in one way:
//
//   - The fast path: the service publishes a change's events right after its
//     commit, as before (Publisher.Publish).
//   - The relay: one durable consumer per bucket on the bucket's own stream
//     (KV_<bucket>), shared by the replicas, starting at its creation (a new
//     consumer never replays history). A replica takes each committed write
//     once it is Grace old, derives the write's events (from the record, or
//     from events the write carries in its Berth-Outbox header), publishes
//     the ones it has not seen published and acknowledges the write only
//     then. So a write whose fast path died is announced by whichever replica
//     takes it, and a write taken by a replica that died is redelivered.
//   - Carry-forward: a bucket keeps only the latest revision of a key, so a
//     write superseded before the relay took it is gone. A writer that
//     replaces a record whose event it has not seen published attaches that
//     event to its own write (Attach) and publishes it after the commit
//     (Publisher.Later); the relay sees it on the new write.
//
// Exactly once: the fast path publishes a change's events with their ids,
// and the stream's Duplicates window (2 min) drops a copy published within
// it. The relay and carried events take the other way (Publisher.Ensure):
// for each event this replica has not seen stored, look for its
// Nats-Msg-Id on its subject from the change's time on (a short scan: a
// subject gets a few events per change) and publish only if it is absent,
// so a late relay (beyond the window) stores nothing twice and plain
// subscribers of the subject see no second copy. The fast path also looks
// first for an event older than half the window (a repeated announcement
// of an old change). Each Publisher remembers the ids it saw stored (a
// bounded set), and tells the service's other replicas after each publish
// in one core NATS message of their hashes (Config.Share, share.go), so
// the relay skips a change any live replica published without a look-up.
// Two copies can still reach plain (core NATS)
// subscribers when a relay's look-up races a fast path later than Grace;
// the stream stores one.
//
// What is not covered: a change is lost only if its writer died before
// publishing and the writes that replaced it also lost both their fast
// path and their carried copy before the relay saw them (two crashes on one
// key within Grace). Events carry their change's commit time, not the time
// they were published.
package outbox
