// Package control is the scheduler's NATS service: the ECS control-plane
// operations the scheduler owns, answered as micro endpoints on
// berth.api.ecs.<Operation> (queue group "berth", so any number of replicas
// share the requests), and the scheduler side of the agent protocol
// (events/agent.go).
//
//	CreateCluster DescribeClusters ListClusters DeleteCluster
//	UpdateCluster UpdateClusterSettings
//	TagResource UntagResource ListTagsForResource
//	RegisterContainerInstance DeregisterContainerInstance
//	DescribeContainerInstances ListContainerInstances
//	UpdateContainerInstancesState PutAttributes ListAttributes DeleteAttributes
//	RunTask StartTask StopTask DescribeTasks ListTasks
//	SubmitTaskStateChange SubmitContainerStateChange
//	PutAccountSetting PutAccountSettingDefault ListAccountSettings DeleteAccountSetting
//
// # State
//
// Clusters live in events.BucketClusters, one events.ClusterRecord per
// events.ClusterKey(name), written by compare-and-set on the revision read
// and retried on conflict. DeleteCluster keeps the record INACTIVE.
//
// Container instances, tasks and the agents' assignments live in
// events.BucketECSState (one writer: this service):
//
//	inst.<cluster>.<instanceID>            events.InstanceRecord
//	task.<cluster>.<taskID>                events.TaskRecord
//	asg.<cluster>.<instanceID>.<taskID>    events.TaskAssignment (the agent's desired state)
//	iid.<cluster>.<host identity>          identity index: a re-registering host gets its instance back
//	tok.<cluster>.<hash of clientToken>    RunTask idempotency: the request's hash and its tasks
//	set.<principal>.<name>                 events.AccountSettingRecord (the root user's are the account defaults)
//
// An instance record is stored with its value-less capability attributes
// moved to a "caps" list of names without their common prefix
// (instcodec.go): they are two thirds of a record, and every placement
// writes its instances again.
//
// Task definitions belong to the taskdefs service: RunTask and StartTask
// resolve them with a request to berth.internal.taskdefs.DescribeTaskDefinition
// and never read its bucket.
//
// An instance record carries what placement needs: registered and
// remaining CPU and memory, reserved ports, the number of tasks holding
// resources and their groups. How many run or are pending is derived from
// the task records, so a task starting writes only its own record.
//
// Every change that moves resources is one JetStream atomic batch
// (natsutil.CommitKV) that expects the revisions it was computed from:
// placing tasks writes the instances, the tasks, their assignments and the
// clientToken; a STOPPED report writes the task, gives the resources back to
// the instance and deletes the assignment. A stale revision anywhere fails
// the whole batch, so replicas never oversubscribe an instance: the loser
// refreshes what it touched and decides again.
//
// # Placement and the group committer
//
// Each replica keeps an in-memory cache of the instance and task records
// (cache.go), kept current by the feed (below), and places on it with the pure
// scheduler package; the commit's expected revisions make a stale cache
// safe. On a one-replica file-backed stream JetStream syncs every atomic
// batch to disk at commit (10-15 ms here, whatever its size), so each
// replica runs one committer per cluster (commit.go): it takes every
// placement and release queued meanwhile, applies them in turn to one
// working copy of the instances, and commits them as one batch; while a
// batch commits, the next one is built on top of it. A round that loses a
// race with another replica is built again, and the committer shrinks its
// rounds while it keeps losing.
//
//	RunTask ─┐                     ┌─ round: decide on the working copy,
//	StopTask │  per-cluster queue  │  tasks + assignments + instances + token
//	report ──┼──────────────────▶  │  ──▶ CommitKV (expected revisions)
//	STOPPED ─┘                     └─ landed: cache, then events, then answer
//
// # Replicas and placement shards
//
// Replicas share the requests (queue group) and would compete for the
// same instances' revisions: random or binpack rounds of two replicas
// nearly always touch a common instance, and the loser decides again. So
// each replica writes its key in events.BucketSchedMembers every
// MemberInterval (1 s) and deletes it when it stops; every replica watches
// the bucket, counts as live the replicas heard of in the last three
// intervals, and splits the instances of every cluster among them: an
// instance's shard is a hash of its id (256 shards), a shard belongs to
// the live replica with the highest rendezvous score for it (internal/members).
// A RunTask is placed with the request's strategies and constraints over
// the replica's own instances (scheduler.Options.Allowed) when all its
// tasks fit there, and over the whole cluster otherwise; StartTask names
// its instances. Replicas therefore contend only when a request does not
// fit in one share, or for the few seconds two replicas disagree on who is
// live; the expected revisions keep every commit safe whatever they
// believe, and a lone replica owns everything.
//
// What this changes when several replicas run: a strategy holds within
// the share of the replica that got the request, not over the whole
// cluster. binpack fills one instance of each replica's share at a time
// (with N replicas, up to N instances are partly filled); spread by
// instance or attribute chooses among the replica's instances but counts
// the group's tasks on every instance, so zones stay balanced as long as
// each share spans the zones; random is random within the share. When a
// request does not fit in the share (capacity, constraints, memberOf,
// distinctInstance), the whole cluster is searched with AWS's semantics.
// Stats reports commits, lost races and widened placements per replica.
//
// # The feed
//
// A replica loads its cache with one KV watch of the records (recordsFilter)
// that stops once it has delivered them. From then on every commit is
// announced by the replica that made it, once, on berth.internal.scheduler.feed:
// a digest of the stream sequences the commit occupies and the records it
// wrote (feed.go; several digests for a large commit), each in the form the
// caches need: a task record as its summary (what the caches keep), an
// instance record that a placement round rewrote as a delta from the
// revision it replaced (instdelta.go; every replica holds that revision
// when the delta arrives, or reads the record), any other write whole.
// Every replica, the
// writer included, applies the digests in stream order and holds back one
// that arrives before an earlier one. A hole that stays open for feedGrace
// (a digest lost, or a replica that died between its commit and its digest;
// the stream's last sequence, read every second, shows a hole at the end)
// is read from the state stream with a consumer of its own. So a replica
// reads one message per commit of any replica, where a watch delivered one
// per record written: with several replicas on one machine that was most of
// what a replica added (BENCHMARKS.md). Every write of the bucket goes
// through stateStore.commit, which announces it, except PutAccountSetting's
// (a key the caches do not follow; the other replicas read that hole).
//
// # Task lifecycle
//
// RunTask and StartTask create tasks PROVISIONING with desiredStatus
// RUNNING. Agents report on the work queue AGENT_REPORTS, consumed by the
// durable consumer "scheduler" shared by every replica (explicit ack,
// small pulls, acknowledged only after the commit). transition
// (lifecycle.go) moves lastStatus forward only:
//
//	PROVISIONING → PENDING → ACTIVATING → RUNNING → DEACTIVATING → STOPPING → DEPROVISIONING → STOPPED
//
// A status an agent skips is jumped over; a repeated or older report is a
// no-op that publishes the task's current event again (the stream drops
// the repeat). StopTask sets desiredStatus STOPPED (stopCode
// UserInitiated, stoppingAt) on the task and its assignment at once; the
// agent stops the containers and reports STOPPED. Every change bumps the
// task's version.
//
// # Agents
//
// Heartbeats live in AGENT_HEARTBEATS; each replica follows the stream
// (heartbeat.go) and derives agentConnected from the last one, so a
// heartbeat never touches an instance record. A detector records connects
// and disconnects (a new instance version and event); every replica runs
// it, the revision check lets one record each transition. A disconnected
// agent gets no new task (failure AGENT).
//
// # Events
//
// Every committed change is announced on the EVENTS stream as
// "ECS Task State Change" or "ECS Container Instance State Change"
// (events.SubjECSEvent), after the commit, with Nats-Msg-Id
// <arn>#<version> and an event id derived from it, so a retried publish
// is stored once. A replica that dies between a commit and its events
// loses nothing (internal/outbox): the durable consumer "outbox" on the
// bucket's stream (task.> and inst.>, shared by the replicas) derives the
// events of every committed record once it is RelayGrace old and publishes
// those not stored yet, and a write that replaces a record whose event
// this replica has not seen stored carries that event (publish.go).
//
// # Janitor
//
// No per-key TTLs: every replica runs a janitor (janitor.go) that deletes
// STOPPED tasks and deregistered instances after TaskRetention (1 h),
// clientTokens after TokenRetention, records STOPPED the tasks asked to
// stop whose agent is gone, and drops old delete markers; each delete
// expects the revision seen, so janitors never race.
//
// # Tagging
//
// TagResource, UntagResource and ListTagsForResource arrive here for every
// ECS resource type. Cluster, task and container-instance tags live in
// their records (a tag change is not a state change: no new version, no
// event). Resources other services own are forwarded unchanged to
// berth.internal.<owner>.<Operation> (tagOwners): today task definitions
// go to the taskdefs service.
//
// # Errors
//
// Caller mistakes are *apierr.Error values built in errors.go, the one
// place that holds the AWS codes and messages of this package; anything
// else is a ServerException.
//
// Lock order: feed.mu, then cache.mu (applying a digest); cache.mu, then
// background.mu (starting a committer); no other code holds two locks.
package control
