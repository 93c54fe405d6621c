// Package scheduler holds the placement logic of Berth's ECS scheduler as
// pure functions: no NATS, no I/O, no clocks, no global state. The
// scheduler service (services/scheduler) reads instance snapshots from KV,
// calls this package, and commits the result with KV revision
// compare-and-set.
//
// # Pipeline
//
// For every task of a request, in turn (placements so far count as tasks
// on their instances):
//
//	instances ──filter──▶ ACTIVE, agent connected, required attributes
//	   │                  present, enough CPU and memory, static TCP and
//	   │                  UDP host ports free
//	   ▼
//	constraints ────────▶ every memberOf expression holds;
//	   │                  distinctInstance: no task of the group yet
//	   ▼
//	strategies ─────────▶ binpack (least cpu|memory left), spread
//	   │                  (fewest group tasks per instanceId or attribute
//	   │                  value), random; the first ranks, later ones break
//	   ▼                  ties
//	pick ───────────────▶ best instance, remaining ties at random
//
// Compile validates a TaskRequest into a Plan; Plan.Place runs the pipeline
// count times and returns a Result: the placements, and when a task could
// not be placed, one Failure per reason (RESOURCE:CPU, RESOURCE:MEMORY,
// RESOURCE:PORTS, RESOURCE:PORTS_UDP, AGENT, ATTRIBUTE, "MemberOf placement constraint
// unsatisfied.", "DistinctInstance placement constraint unsatisfied.") with
// the closest instance's ARN, as RunTask reports them. A cluster without an
// ACTIVE instance yields ErrNoContainerInstances.
//
// # Task definitions
//
// ApplyOverrides gives the task definition as its tasks run with RunTask
// overrides (task and container cpu and memory, ...), checked with the
// rules RegisterTaskDefinition applies to the same fields; Reserved is what
// a task of it holds; RequiredAttributes turns requiresAttributes and
// runtimePlatform into the attributes placement requires. A container with
// no memory at either level reserves none.
//
// # Cluster query language
//
// Parse compiles memberOf expressions and ListContainerInstances filters:
// subjects agentConnected, agentVersion, attribute:<name>, ec2InstanceId,
// registeredAt, runningTasksCount and task:group; the comparison, set,
// existence and (whole-value, Java-style) regular expression operators;
// and, or, not and parentheses. Expr.Match evaluates an expression against
// an Instance.
//
// # Committing
//
// Placement works on a snapshot that may be stale by the time the service
// commits. Plan.Check re-verifies one re-read instance; Apply adds a task's
// resources to an instance and Release takes them back (Started moves a task
// from pending to running). They never modify their input, and they fail
// with ErrConflict when the instance cannot take or does not hold the task,
// which tells the service to re-read and place again.
//
// # Errors
//
// Invalid input matches ErrInvalidParameter and its text is fit for an
// InvalidParameterException; ErrNoContainerInstances maps to
// InvalidParameterException with MsgNoContainerInstances; ErrConflict asks
// for a retry.
package scheduler
