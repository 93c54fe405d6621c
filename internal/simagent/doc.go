// Package simagent is a simulated container agent for tests and load tests:
// it registers container instances and runs fake containers that start,
// run for a set time and exit, speaking the agent protocol of
// events/agent.go through internal/agentproto exactly like the real agent.
// It is never Berth's runtime; nothing but tests and benchmarks use it.
//
// # One instance
//
// Start registers one container instance (RegisterContainerInstance over
// NATS, with CPU, memory, reserved ports and the usual ecs.* attributes),
// publishes heartbeats, watches the instance's assignments with
// agentproto.Client.Watch and plays each task:
//
//	assignment seen ──▶ PENDING (pullStartedAt)
//	      PullTime  ──▶ RUNNING (pullStoppedAt, startedAt, runtimeId,
//	                    imageDigest, networkBindings: static host ports as
//	                    given, host mode = container port, dynamic ports
//	                    picked from 49153-65535)
//	       RunTime  ──▶ STOPPED, exit code ExitCode, stopCode
//	                    EssentialContainerExited ("Essential container in
//	                    task exited"); RunTime 0 runs until stopped
//	desired STOPPED ──▶ (StopTime) STOPPED, exit code StopExitCode, echoing
//	                    the assignment's stopCode and stoppedReason
//
// With FullLifecycle it also reports ACTIVATING, DEACTIVATING, STOPPING and
// DEPROVISIONING; FailStart makes chosen tasks stop at once with
// TaskFailedToStart ("CannotPullContainerError: …"); Hold takes
// assignments and never reports (placement load tests).
//
// # Many instances
//
// StartFleet runs many instances (a thousand is fine) in one process. A
// KV watcher is an ephemeral consumer with goroutines and server state, so
// instead of one per instance the fleet runs a single watcher on
// asg.<cluster>.> and dispatches each assignment to its instance by the
// instance id in the key, and a single goroutine publishes every
// instance's heartbeats. Registration still goes through agentproto, one
// call per instance. Tasks are goroutines that mostly sleep.
package simagent
