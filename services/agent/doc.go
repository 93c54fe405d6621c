// Command agent is Berth's container agent, one per host: it joins a
// cluster over NATS, registers the host as a container instance, runs the
// tasks the scheduler assigns to it as Docker containers, and reports their
// state (see package services/agent/agent).
//
// Every flag has an environment equivalent, named like the ECS agent's
// variable where one exists (ECS_CLUSTER, ECS_RESERVED_MEMORY,
// ECS_IMAGE_PULL_BEHAVIOR, ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION,
// ECS_CONTAINER_STOP_TIMEOUT, ECS_INSTANCE_ATTRIBUTES, ECS_DATADIR,
// DOCKER_HOST, ...) and BERTH_AGENT_* otherwise; plus the common
// BERTH_NATS_URL, BERTH_NATS_CREDS, BERTH_REGION, BERTH_ACCOUNT,
// BERTH_LOG_LEVEL. `agent -h` lists them.
//
// SIGINT and SIGTERM stop the agent; task containers keep running and are
// adopted by the next agent process.
package main
