// Package taskdefs is the ECS task-definition service: it owns the
// ecs_taskdefs KV bucket (events.BucketTaskDefs, one writer) and answers
//
//	berth.api.ecs.RegisterTaskDefinition      berth.api.ecs.DescribeTaskDefinition
//	berth.api.ecs.ListTaskDefinitions         berth.api.ecs.ListTaskDefinitionFamilies
//	berth.api.ecs.DeregisterTaskDefinition    berth.api.ecs.DeleteTaskDefinitions
//	berth.internal.taskdefs.TagResource       berth.internal.taskdefs.UntagResource
//	berth.internal.taskdefs.ListTagsForResource
//
// in queue group "berth", so any number of replicas share the calls. The
// gateway forwards the public ECS calls; the scheduler forwards tagging
// calls on task-definition ARNs to the internal subjects.
//
// State. Each family has a record at fam.<family> (events.FamilyRecord: the
// highest revision ever registered and the revisions by status) and each
// revision a record at rev.<family>.<revision> (events.TaskDefRecord: the
// task definition as DescribeTaskDefinition returns it, plus its tags).
// Every change of a revision's status writes both records in one JetStream
// atomic batch with expected KV revisions (natsutil.CommitKV); on a conflict
// the handler re-reads and retries after a random wait. So revisions are
// 1..N per family with no gap and no duplicate however many replicas
// register at once, and they are never reused, even after deletion.
//
// Life of a revision:
//
//	RegisterTaskDefinition      DeregisterTaskDefinition      DeleteTaskDefinitions
//	  ──────────────► ACTIVE ──────────────────► INACTIVE ───────────────► DELETE_IN_PROGRESS
//
// DELETE_IN_PROGRESS revisions stay describable by family:revision; nothing
// removes them yet.
//
// Registration validates the definition as ECS does (AWS's messages where
// known; see errors.go), normalises task cpu/memory ("1 vCPU" -> "1024",
// "2 GB" -> "2048"), fills in ECS's container defaults, and derives
// compatibilities and requiresAttributes. Invalid input stores nothing.
//
// Task definitions have no public EventBridge event in AWS; the service
// publishes none.
package taskdefs
