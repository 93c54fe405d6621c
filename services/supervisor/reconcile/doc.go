// Package reconcile holds the supervisor's decisions as pure functions over
// a service record (events.ServiceRecord) and what the scheduler says about
// its tasks and container instances: no NATS, no clock, no I/O. The
// supervisor reads the record with its revision, observes, calls Decide,
// and commits the result with compare-and-set; only then does it send the
// RunTask and StopTask requests the record now holds, so a replica that
// dies in between leaves them to the next one.
//
// # A decision
//
//	fold      tasks seen STOPPED leave the record; one that never reached
//	          RUNNING is a failed launch (backoff; the circuit breaker's
//	          first stage), one stopped for failing health checks counts in
//	          the second stage
//	health    RUNNING tasks that turned UNHEALTHY are stopped
//	breaker   PRIMARY at the threshold (0.5 x desired, 10..200) → FAILED;
//	          with rollback a new PRIMARY on the last COMPLETED revision
//	replica   start missing PRIMARY tasks within maximumPercent; stop older
//	          deployments' tasks, tasks on DRAINING instances and extras
//	          within minimumHealthyPercent
//	daemon    one PRIMARY task per eligible instance (RunTask pinned by
//	          ec2InstanceId); the rest stop
//	finish    counters, COMPLETED, drained deployments leave, steady state,
//	          DRAINING → INACTIVE, WakeAt
//
// A launch is a RunTask request stored in the record with a clientToken
// derived from the deployment id and a sequence number: sending it again
// replays the same tasks, so no launch starts its tasks twice. FoldLaunch
// replaces it by the tasks it created.
package reconcile
