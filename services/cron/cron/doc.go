// Package cron is the cron service: Amazon EventBridge Scheduler and
// EventBridge rules for Berth. It owns the cron_state KV bucket
// (events.BucketCron, one writer) and the CRON_FIRES work queue
// (events.StreamCronFires), and answers
//
//	berth.api.scheduler.<Op>   CreateSchedule GetSchedule UpdateSchedule DeleteSchedule
//	                           ListSchedules CreateScheduleGroup GetScheduleGroup
//	                           DeleteScheduleGroup ListScheduleGroups
//	                           TagResource UntagResource ListTagsForResource
//	berth.api.events.<Op>      PutRule DescribeRule ListRules EnableRule DisableRule
//	                           DeleteRule PutTargets RemoveTargets ListTargetsByRule
//	                           ListRuleNamesByTarget TestEventPattern PutEvents
//	                           TagResource UntagResource ListTagsForResource
//
// in queue group "berth". The gateway routes Scheduler's REST-JSON requests
// by path (events.SchedulerRoute) and EventBridge's JSON 1.1 by
// X-Amz-Target (events.EventsRoute).
//
// # State
//
//	grp.<group>          groupRecord (the default group exists without a record)
//	sch.<group>.<name>   scheduleRecord
//	rule.<bus>.<name>    ruleRecord with its targets (bus "default" only)
//
// Every write is a KV create or a compare-and-set on the revision read,
// retried on conflict. Records keep the targets in their wire form.
//
// # Firing exactly once
//
//	KV watch ─▶ cache: next occurrence of every enabled schedule and
//	            scheduled rule, in a heap by due time     (every replica)
//	tick ─────▶ due occurrences of this replica's share ─▶ CRON_FIRES,
//	            Nats-Msg-Id "<kind>/<key>@<occurrence>"   (one replica)
//	CRON_FIRES ─▶ durable consumer "cron" (shared, explicit ack)
//	            ─▶ re-read the record (deleted or disabled: nothing)
//	            ─▶ RunTask over NATS with clientToken = sha256(msg id, target)
//	            ─▶ invocation event, then ack              (one replica)
//
// The producing replicas split the schedules and scheduled rules among
// themselves (internal/members, bucket events.BucketCronMembers: 256
// shards by a hash of the record's key, rendezvous-hashed over the
// replicas heard of in the last three seconds). Each keeps every record
// in its cache, produces the occurrences of its own share, and keeps
// the others' due occurrences for 30 s; when its share grows (a replica
// left, or died and went silent), it produces those of the new part at
// once, since their old owner may have died before producing them.
// Producing an occurrence twice is harmless: the stream's duplicate
// window (20 minutes) keeps one message per occurrence, and the shared
// durable consumer hands it to one replica. An occurrence whose publish
// failed is tried again the next tick. A replica that dies mid-invocation
// leaves the message unacknowledged; another replica gets it after AckWait
// and repeats the RunTask with the same clientToken, which the scheduler
// answers with the tasks already started. So an occurrence starts its
// tasks once whatever the number of replicas, restarts and redeliveries.
//
// Missed occurrences. A starting replica (or a replica seeing a schedule
// change) produces the occurrences of the last CatchUp (5 minutes) that
// are not older than the schedule's last change; older ones are skipped,
// never fired late. So after an outage of every replica shorter than 5
// minutes, the missed occurrences fire late, once; after a longer outage
// only those of the last 5 minutes do. (AWS does not document outages of
// its own; Scheduler invokes within 60 s of the time, later only within a
// FlexibleTimeWindow.)
//
// Flexible time windows: an occurrence is fired at a fixed offset within
// the window derived from its key and time, so every replica picks the
// same moment.
//
// # Targets
//
// An ECS cluster ARN with EcsParameters (Scheduler's templated target and a
// rule's ECS target) becomes RunTask with TaskDefinitionArn, TaskCount,
// LaunchType, NetworkConfiguration, Group, capacity providers, placement,
// tags; Input is the task's overrides ({"containerOverrides": [...]}).
// Scheduler's universal target arn:aws:scheduler:::aws-sdk:ecs:runTask
// takes the RunTask request from Input. An event bus ARN with
// EventBridgeParameters (Scheduler) puts an event on the EVENTS stream.
// Tasks get startedBy "events-rule/<rule>" from rules and
// "scheduler/<schedule>" from schedules (Berth's choice), and ECS's default
// group family:<family> unless EcsParameters.Group says otherwise. Other
// target types are refused with a ValidationException.
//
// # Event-pattern rules
//
// A durable consumer "cron-rules" shared by every replica reads the EVENTS
// stream (ECS task and instance changes, service actions, ECR image
// actions, PutEvents entries) from the moment it was first created; each
// event matching an enabled rule (package pattern) is queued on CRON_FIRES
// once per target with Nats-Msg-Id "match/<rule>/<target>@<event id>", and
// fired like an occurrence.
//
// # Events and retries
//
// Each invocation publishes "Scheduled Target Invocation" and each failure
// "Scheduled Target Invocation Failed" (source berth.cron, subject
// events.cron.<scope>.<schedule|rule>.<name>; Berth-specific, AWS has no
// such events). A failed invocation is retried with exponential backoff
// (RetryDelay doubling up to RetryMaxDelay) while the target's RetryPolicy
// allows (MaximumRetryAttempts, default 185; MaximumEventAgeInSeconds,
// default 86400); failures a retry cannot fix (an ECS client error, a
// placement failure, a bad Input) are final at once.
package cron
