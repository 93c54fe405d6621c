// Package agent is Berth's per-host container agent: the glue between the
// agent protocol (internal/agentproto, events/agent.go) and the task engine
// (services/agent/engine) running tasks as Docker containers.
//
// # Place in the event flow
//
//	scheduler --(KV ecs_state: asg.<cluster>.<instance>.<task>)--> agent
//	agent --(AGENT_REPORTS: berth.agent.report.<cluster>.<instance>)--> scheduler
//	agent --(AGENT_HEARTBEATS: berth.agent.heartbeat.<cluster>.<instance>)--> scheduler
//	agent --(request/reply berth.api.ecs.CreateCluster, .RegisterContainerInstance)--> scheduler
//	agent --(request/reply berth.internal.registry.PullToken)--> registry
//
// Run probes Docker first and fails at once with ErrNoDocker when it does
// not answer (the all-in-one reports that and runs without a local agent).
// It then opens its HTTP listeners, creates the cluster (idempotent, as the
// ECS agent does), registers the host with its CPU (1024 per core), memory
// (MiB less ECS_RESERVED_MEMORY), reserved ports, attributes and
// capabilities, and a stable instanceId kept in the data folder (derived
// the first time from /etc/machine-id, Docker's engine ID and the owner
// label), so a restarted agent gets its container instance back. The
// streams and the bucket above belong to the scheduler: the agent only
// opens them, waiting (and saying so in its log) until the scheduler has
// created them; it never creates or reconfigures them.
//
// # awsvpc
//
// With Config.AWSVPCSubnet (--awsvpc-subnet, BERTH_AGENT_AWSVPC_SUBNET)
// the agent makes its pause image and a Docker bridge network on that
// subnet (docker.AWSVPCNetworkName(owner); an existing one must have the
// same subnet), registers with ecs.capability.task-eni, and runs awsvpc
// tasks each in its own namespace and address (see the engine). Reports
// carry the task's network (events.TaskNetworkReport: networkInterfaceId
// events.ENIID(taskArn), private address, subnet CIDR, gateway, MAC); the
// task metadata endpoint and introspection show it as the containers'
// network. Containers reach the metadata endpoint on the bridge gateway.
//
// # Desired state
//
// The assignment watch delivers the current assignments, then a Synced
// marker, then changes. On every Synced marker (also after a watcher
// restart), every ResyncInterval and after a NATS reconnect, the agent
// re-reads all assignments and calls Engine.Sync with the full set: tasks
// no longer assigned are stopped, and containers left by a previous agent
// process are adopted, never duplicated. Between syncs, changes go to
// Engine.Upsert (newer assignment versions only), and a deleted assignment
// stops what still runs.
//
// # Reports
//
// Every engine report (a full snapshot of a task) becomes a TaskStateReport
// in an outbox drained by one goroutine, which retries with back-off until
// JetStream acknowledges; the engine's clock-based Seq is kept, so retries
// are de-duplicated by Nats-Msg-Id. An unsent report is replaced by a newer
// one of the same task and status, so the outbox stays small during an
// outage. After a restart the engine reports every adopted task again.
//
// # Registry credentials
//
// Before a pull the engine asks for credentials: the agent gets a pull-only
// token from the registry service (events.SubjRegistryPullToken over NATS,
// on the agent's own NATS identity: no access key), caches it until near
// expiry, and uses it for
// images whose registry host is the token's proxyEndpoint host, a loopback
// or ECR-style alias of it on the same port, or a configured extra host.
// Other images are pulled anonymously.
//
// With the default pull behavior (pull every time) the agent also resolves
// tags of images in Berth's registry to their manifest digest (ECR
// BatchGetImage over NATS); the engine skips the Docker pull when the local
// image already has that digest. Images of other registries are pulled.
//
// # HTTP endpoints
//
// Introspection (default 127.0.0.1:51678): GET /v1/metadata and
// GET /v1/tasks[?dockerid=|?taskarn=], as amazon-ecs-agent.
//
// Task metadata (default 127.0.0.1:51679): /v4/<id>, /v4/<id>/task,
// /v4/<id>/taskWithTags, /v4/<id>/stats, /v4/<id>/task/stats, and the same
// under /v3. Each container gets ECS_CONTAINER_METADATA_URI_V4 (and v3's
// ECS_CONTAINER_METADATA_URI) with its own id, a MAC of task ARN and
// container name under a key kept in the data folder: stable across
// restarts, not guessable. There is no 169.254.170.2 address (that needs
// iptables rules on the host); instead:
//
//   - host network mode: the metadata listener's own address (127.0.0.1
//     when it listens on all addresses);
//   - bridge mode: unless DisableMetadataBridge, the agent also listens on
//     the default bridge's gateway (docker0, found with a network inspect of
//     "bridge"; usually 172.17.0.1), on the same port when free, and
//     containers get that address. Without it, or when the gateway cannot be
//     bound (the agent itself in a container), bridge-mode containers get no
//     URI;
//   - none mode: no URI.
//
// Stats answers carry the Docker stats document with precpu_stats from the
// previous sample the agent saw and network_rate_stats. The endpoint allows
// 40 requests per second (bursts of 60), as the ECS agent's default.
package agent
