// Package supervisor is the ECS service supervisor: it owns services and
// their deployments (events.BucketServices, one events.ServiceRecord per
// service) and keeps each service's tasks as configured.
//
//	CreateService DescribeServices ListServices UpdateService DeleteService
//	ListServicesByNamespace (always NamespaceNotFoundException: Berth has no
//	Service Connect namespaces)
//
// are micro endpoints on berth.api.ecs.<Operation> (queue group "berth");
// berth.internal.supervisor.CountServices answers the scheduler's cluster
// counters and berth.internal.supervisor.{Tag,Untag,ListTagsFor}Resource
// the tagging calls the scheduler forwards for service ARNs.
//
// # Driving tasks
//
// The supervisor never touches tasks itself: it calls the scheduler's API
// over NATS like any client. RunTask (group service:<name>, startedBy the
// deployment id ecs-svc/<digits>, clientToken <deployment id>-<sequence>),
// StopTask, DescribeTasks, ListContainerInstances and
// DescribeContainerInstances. DAEMON tasks are RunTask calls pinned to one
// instance by a memberOf ec2InstanceId constraint, so they too carry a
// clientToken (StartTask has none).
//
// # Reconciling
//
//	task / instance event ─┐   (durable consumer "supervisor" on EVENTS,
//	API call (this replica)├─▶ shared by every replica)
//	tick: WakeAt, stale,   │        queue (a key once, one worker at a time)
//	      resync ──────────┘            │
//	                                    ▼
//	  read record + revision ─▶ re-send its pending launches, fold them
//	  DescribeTasks / instances ─▶ reconcile.Decide (pure)
//	  CAS the record ─▶ publish its outbox ─▶ StopTask ─▶ RunTask ─▶ CAS fold
//
// Every decision is one compare-and-set of the record: replicas that
// reconcile the same service at once never both decide; the loser reads
// again. What a decision asks for (launches, stops) is in the record before
// it is sent, and sending it again is harmless (the clientToken replays
// RunTask, StopTask of a stopping task is a no-op), so a replica that dies
// mid-deployment leaves nothing half done: the next reconcile of any
// replica (an event, or the tick: a launch older than a few seconds, WakeAt,
// Resync) carries on.
//
// # Health
//
// A task counts toward minimumHealthyPercent (and completes a rollout) when
// RUNNING and, if an essential container of its task definition has a health
// check, HEALTHY; without one, HealthyAfter (ECS: 40 s) after it reached
// RUNNING. A RUNNING task not yet healthy is not stopped while that would
// leave fewer RUNNING tasks than the minimum. UNHEALTHY tasks are stopped
// ("Task failed container health checks") and replaced.
//
// # Events
//
// Service events (events[] of DescribeServices) are in the record.
// Public "ECS Service Action" (events.ecs.<cluster>.service.<name>) and
// "ECS Deployment State Change" (events.ecs.<cluster>.deployment.<id>)
// events are decided with the record (its outbox) and published after the
// commit with Nats-Msg-Id <service arn>#<sequence>.
//
// Lock order: queue.mu, cache.mu and instMu are never held together.
package supervisor
