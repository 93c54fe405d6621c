// Package engine is the agent's per-host task engine: it runs the ECS tasks
// the control plane assigns to this host as Docker containers (through
// docker.Runtime) and reports their state, like amazon-ecs-agent's
// DockerTaskEngine and task manager.
//
// # Place in the event flow
//
// The agent's protocol layer (NATS, not in this package) turns desired
// state from the scheduler into Task values and calls Engine.Sync (the full
// set for this host) or Engine.Upsert (one task); it turns every Report the
// engine emits into a task state change for the control plane. The engine
// itself publishes and consumes no NATS subjects. Reports are full snapshots
// of a task: lastStatus (task and containers) only moves forward, Seq grows,
// duplicates are harmless.
//
// # Concurrency
//
// One goroutine per task (runner) owns that task's state. It launches
// pulls, creates, starts and stops as separate goroutines and folds their
// results back in, so a 30 s stop never blocks it. The engine goroutine
// (Run) follows Docker events for containers labelled io.berth.managed=owner
// and pokes the runner of the event's task, which re-inspects the container:
// Docker is the source of truth, events only say where to look. A periodic
// resync (and any reconnect of the event stream) re-inspects everything.
// Lock order: Engine.mu before runner.mu; neither is held during I/O.
//
// # Container states
//
// Forward only: NONE < PULLED < CREATED < RUNNING < STOPPED.
//
//	NONE --pull--> PULLED --create--> CREATED --start--> RUNNING --+
//	  |               |                  |                          |
//	  |               |                  |      exited, killed, OOM,|
//	  |               |                  |      docker stop, or     |
//	  |               |                  |      stopped by the task v
//	  +---------------+------------------+----------------------> STOPPED
//	     pull, create or start failed, a dependency failed,
//	     or the task stopped before the container ran
//
// All images are pulled up front (one pull per image is shared between
// tasks). With the default pull behavior the engine first asks
// Config.ResolveDigest which manifest the registry serves for the image:
// when the local image already has that digest the pull is skipped (it
// would fetch nothing). create waits until links and volumesFrom targets
// exist; start waits for dependsOn (START, COMPLETE, SUCCESS, HEALTHY) and
// for linked containers to run. Public lastStatus: NONE, PULLED and CREATED are
// PENDING; then RUNNING; then STOPPED.
//
// # Task states
//
//	PENDING --(every container RUNNING or STOPPED)--> RUNNING
//	   |                                                 |
//	   +-------------------> STOPPING <------------------+
//	                            |    on: desired STOPPED, an essential container
//	                            |    stopped, a pull failed, an essential
//	                            |    container failed to create/start or lost
//	                            |    its dependency
//	                            |    containers stop in reverse dependency order:
//	                            v    SIGTERM, SIGKILL after stopTimeout
//	                         STOPPED
//	                            |
//	                            +--(CleanupDelay)--> containers and task-scoped
//	                                                 volumes removed
//
// ACTIVATING, DEACTIVATING and DEPROVISIONING exist in TaskStatus for the
// public lifecycle but are not used: an awsvpc task's namespace is set up
// as its pause container starts (PENDING), and no task has a load balancer.
//
// Stop codes: EssentialContainerExited ("Essential container in task
// exited"), TaskFailedToStart ("CannotPullContainerError: …",
// "CannotCreateContainerError: …", "CannotStartContainerError: …",
// "DependencyError: …", "TaskValidationError: …"), or whatever the control
// plane put on the Task when it asked for STOPPED.
//
// A container killed for memory gets the reason "OutOfMemoryError: …" from
// State.OOMKilled or Docker's "oom" event. Docker 20.10 may handle the exit
// first (exit 137, OOMKilled false) and send "oom" after "die"; since the
// control plane merges nothing into a STOPPED task, a task whose container
// was SIGKILLed under a memory limit, not by the engine, stays STOPPING for
// up to 5 s waiting for that event (2 s proved too short under the load
// of a full test run).
//
// # awsvpc
//
// With Config.AWSVPC set, an awsvpc task gets a pause container first (from
// the local pause image, never pulled) on the agent's awsvpc network: its
// other containers are created after it, join its network namespace, start
// once it runs, and it is stopped last (SIGKILL at once), which frees the
// task's address. The pause container is essential but never reported;
// Report.Network carries the task's address, MAC and gateway instead
// (Attached false once the pause container stopped). Without Config.AWSVPC,
// awsvpc tasks stop with TaskFailedToStart.
//
// # Injected environment
//
// Config.ContainerEnv, when set, gives extra environment variables per
// container (the agent's task metadata URIs); the container definition's
// own variables win. Config.HostCPUs caps task-level CPU ceilings.
//
// # Restart and adoption
//
// Run lists the containers carrying its owner label before anything else.
// A task given to Sync or Upsert adopts its containers (by task ARN and
// container name) instead of creating new ones; container names are
// deterministic, so even an unlisted container is found through the name
// conflict. The first Sync stops (and later removes) containers of tasks
// that are not in it. Stopping the engine (cancelling Run's context) leaves
// every container as it is.
//
// # Cleanup
//
// A STOPPED task's containers (and its task-scoped Docker volumes) are
// removed after Config.CleanupDelay (3 h by default, like
// ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION). Images the engine pulled itself
// are removed by a periodic cycle once no container uses them and they were
// pulled and last used more than ImageCleanup.MinAge ago; images that were
// already on the host, and prefer-cached images, are never removed.
package engine
