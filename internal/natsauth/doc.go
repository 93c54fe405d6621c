// Package natsauth is who may do what on Berth's NATS: the identities, the
// subjects each may publish and subscribe to, the credentials files, the
// server's authorization configuration and the auth callout that admits
// agents.
//
// Authentication is nats-server's own: accounts and users with publish and
// subscribe permissions (config mode), plus an auth callout for identities
// that are made at run time. All of Berth lives in one account, BERTH, with
// JetStream.
//
//   - Each service (gateway, taskdefs, scheduler, supervisor, cron, registry,
//     logs, metrics) is a static user whose permissions name its own buckets
//     and streams, the API and internal subjects it serves and the ones it
//     calls (Perms). Its replies go to its own inbox prefix (_INBOX.<name>),
//     so no identity but admin can read another's replies or KV watches.
//   - admin may do everything; it is for operators (`nats` CLI) and tests.
//   - events is read-only: it subscribes to events.> and logs.>, and may
//     only read the EVENTS stream through JetStream (`berth events`). It
//     cannot read any bucket and cannot publish anywhere else.
//   - Agents are not in the configuration. An agent connects as
//     join.<nonce> with the cluster's join token as password; the auth
//     callout (served by the scheduler, ServeCallout) admits it with
//     JoinPerms: it may only ask to join. The scheduler registers the
//     instance and returns an instance credential; the agent then connects
//     as agent.<cluster>.<instanceID>, and the callout admits it with
//     AgentPerms: its own heartbeats, reports, telemetry and assignments,
//     nothing of another instance's. Deregistering the instance revokes it.
//
// The secrets (one password per static user and the callout's signing key)
// are generated on the first start into a 0600 file (Secrets); ServerConfig
// renders them as nats-server configuration, used by the all-in-one's
// embedded server, the tests' servers and compose's NATS nodes alike.
package natsauth
