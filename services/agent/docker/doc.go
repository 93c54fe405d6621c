// Package docker is the agent's container runtime: a thin layer over the
// Docker Engine API (github.com/moby/moby/client, API version negotiated, so
// it works from Docker 20.10 / API 1.41 up) behind the Runtime interface the
// task engine (services/agent/engine) uses.
//
// It does three things:
//
//   - Calls: pull (with optional registry auth, ECR-style user "AWS" plus
//     password, sent base64url-encoded in X-Registry-Auth) following the
//     ECS_IMAGE_PULL_BEHAVIOR modes (default, always, once, prefer-cached),
//     create, start, stop with a timeout (SIGTERM, then SIGKILL), remove,
//     inspect, list by label, and task-scoped volume removal.
//   - Translation: Translate turns an ECS container definition, its task
//     definition and a RunTask override into Docker's container and host
//     configuration, as amazon-ecs-agent does (cpu → CpuShares with a floor
//     of 2, memory → hard limit, portMappings with hostPort 0 → ephemeral
//     host ports, health checks with the AWS defaults, volumes, links,
//     linuxParameters, logConfiguration…), plus the task-level cpu and
//     memory as per-container ceilings (NanoCpus; a hard memory limit for
//     containers without their own; ApplyTaskOverride puts a RunTask
//     overrides.cpu / overrides.memory in their place, ApplyOverride a
//     container override's cpu, memory and memoryReservation). A container
//     with no memory at either level gets no memory limit (Docker Memory 0).
//     AWS makes the task-level memory one hard limit for the whole task (a
//     task cgroup); Berth applies it to each container, so no container
//     exceeds it though together they may. The environment the agent
//     injects (ContainerSpec.Env, e.g. ECS_CONTAINER_METADATA_URI_V4) is
//     added. Secrets and other features that need AWS services are refused
//     with ErrUnsupported, and so are awsvpc and FARGATE-only definitions
//     unless the agent offers awsvpc (TaskInfo.AWSVPCNetwork).
//   - awsvpc (awsvpc.go): EnsureAWSVPCNetwork makes the Docker bridge
//     network awsvpc tasks get their addresses on (the agent's
//     --awsvpc-subnet); EnsurePauseImage makes the pause image (one tiny
//     static executable written here, no registry). Each awsvpc task has a
//     pause container (PauseContainerName) on that network holding the
//     task's network namespace; its other containers join it
//     (NetworkMode container:<pause>), so they share the address and
//     localhost, publish no host ports, and ECS's awsvpc restrictions
//     apply (no hostname, DNS settings or extra hosts; hostPort equal to
//     containerPort).
//   - Host: Info (engine ID, versions, CPUs, memory), BridgeGateway (the
//     host's address on the default bridge, for the task metadata endpoint)
//     and Stats (one Docker stats document) on Client, outside Runtime.
//   - Events: a container event stream (start, die, oom, health_status,
//     stop, kill, destroy) that reconnects by itself and tells its reader
//     when it did, so the reader can re-inspect.
//
// Every container carries the labels amazon-ecs-agent uses
// (com.amazonaws.ecs.task-arn, container-name, cluster,
// task-definition-family, task-definition-version) plus io.berth.managed =
// owner, so an agent that restarts finds and adopts its containers.
//
// The package publishes and consumes no NATS subjects; it only talks to the
// local Docker daemon. Subpackage dockertest builds test images without a
// registry.
package docker
