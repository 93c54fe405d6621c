// Package registry is Berth's container registry: the OCI distribution API
// (v1.1, plus the Docker catalog extension) over HTTP on its own port, and
// the Amazon ECR operations as NATS micro endpoints behind the gateway, both
// on one JetStream state so that any number of replicas serve any request.
//
// # Storage
//
// Everything lives in JetStream (events/registry.go): one KV bucket,
// "registry", for metadata (repositories, tags, manifests with their exact
// bytes, per-repository blob links, referrer entries, blob records and
// upload sessions), and one Object Store, "registry_blobs", for blob
// content cut into part objects of at most Config.PartSize bytes. A blob
// record lists its parts in order, so completing an upload writes no second
// copy; reads stream the parts one after another, each with a deadline
// fitting its size. The registry writes and reads part objects itself in the
// Object Store's format (objects.go): a bounded window of chunk publishes,
// retried whole from the part buffer, and reads through an ordered consumer
// without a second SHA-256 pass. Chunks are 1 MiB (less if the server's
// max_payload is smaller); manifests live in KV values, so the manifest
// size limit (4 MiB) needs a max_payload above it (Berth runs with 8 MiB).
//
// An upload session (up.<id>) keeps the offset, the parts so far and the
// serialized sha256/sha512 state, and moves only by a revision-checked
// write: a chunk is stored and hashed first, then the session advances, so
// a session started on one replica continues on another, and an old
// Location stays valid. Every change that spans keys (a manifest with its
// tags, referrer entry and the links it depends on; a blob record with its
// link and the closing of its session) is one JetStream atomic batch with
// expected revisions: all or nothing.
//
// # Flow
//
//	docker/podman/oras ──HTTP──> Service.Handler ─┐
//	aws ecr ──gateway──> berth.api.ecr.<Op> ──────┴─> KV "registry" + Object Store "registry_blobs"
//	                                                   └─> EVENTS: events.ecr.<repo>.image.<digest>
//
// Pushes and deletes of images are announced after they are committed, as
// EventBridge "ECR Image Action" events with a Nats-Msg-Id derived from the
// change.
//
// # Authentication
//
// HTTP Basic, as ECR: user "AWS" with a token from GetAuthorizationToken
// (an HMAC of the access key's secret, checked by any replica against the
// access keys, so deleting the key revokes it), or an access key id and
// secret.
//
// # Garbage collection
//
// GC (periodic with Config.GCInterval, or called) removes expired upload
// sessions, links no manifest uses, blobs no repository links and orphan
// part objects; nothing younger than Config.GCGrace, and every delete
// expects the revision it was decided on.
package registry
