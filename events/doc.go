// Package events is Berth's contract: every NATS subject, every JetStream
// stream and KV bucket (with its one writer), the envelopes of public and
// internal messages, the payload types, and the table of stable error codes.
// It imports nothing but the standard library, so any program can depend on
// it without Berth's dependencies.
//
// # Subject taxonomy
//
//	berth.api.<api>.<Operation>          core request/reply (micro endpoints, queue
//	                                      group "berth"): one subject per AWS
//	                                      operation, <api> = ecs | ecr | logs | ...;
//	                                      body = the AWS JSON request, reply = the AWS
//	                                      JSON response or an error (see codes.go)
//	berth.internal.<service>.<verb>      core request/reply between services
//	                                      (e.g. the registry asking for access keys)
//	berth.agent.heartbeat.<cluster>.<id> agent heartbeats (stream AGENT_HEARTBEATS)
//	berth.agent.report.<cluster>.<id>    agent task state reports (work queue
//	                                      AGENT_REPORTS); see agent.go for the
//	                                      whole agent protocol
//	events.<source>.<scope>.<kind>.<id>  the public EVENTS stream, EventBridge
//	                                      envelopes (envelope.go); <source> = ecs | ecr
//	$KV.<bucket>.<key>                   JetStream KV (streams.go lists the buckets)
//
// User-supplied names (cluster, family, repository, log group) never go into
// a subject or key as they are: Token encodes them (names.go).
//
// # Versioning
//
// Additive only. A field may be added to a payload, a subject, stream or
// bucket may be added; nothing is renamed, retyped or removed. A breaking
// change is a new type string (".v2") or a new subject, and both versions are
// served until no reader of the old one remains. testdata/v1 keeps frozen
// payloads that today's decoders must still read.
package events
