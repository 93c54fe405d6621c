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
// record lists its parts in order (with each part's chunk subject, chunk
// count and the stream sequence of every chunk: the first, and whether the
// rest follow it or where they are), so completing an upload writes no
// second copy, and reads start right at the data. The registry writes and
// reads part objects itself in the Object Store's format (objects.go): a
// bounded window of chunk publishes, retried whole from the part buffer,
// one part stored while the next is published; reads are direct gets of
// one chunk by its sequence (seqread.go; no consumer, no subject scan), a
// few chunks requested ahead across part boundaries and spread over
// connections of the registry's own (Config.ReadConns), within one byte
// budget for all reads in flight (direct gets have no flow control of
// their own). Records written before the sequences were kept are read
// with batched direct gets, part by part (blobstore.go). Parts just written or read stay in a
// per-replica cache (Config.BlobCacheSize) while they are among the most
// recently used. Each byte is hashed once, for
// the blob's digest: a part carries an Object Store digest only when that
// is the same hash (a one-part sha256 upload). Chunks are 1 MiB (less if
// the server's max_payload is smaller). Manifests live in KV values, so the
// manifest size limit (4 MiB) needs a max_payload above it (Berth runs with
// 8 MiB).
//
// Every change is a sequence of single-key writes with an expected
// revision (about 80 µs each; a multi-key atomic batch costs 7-17 ms on
// file storage and such batches serialise), ordered so that one write is
// the commit point and the rest is derived: written before it, derived keys
// stay invisible until it exists; written after it, they are re-created by
// a retry, and whatever a cut-off request leaves is ignored on reads and
// collected.
//
//   - Upload session (up.<id>): keeps the offset, the parts so far and the
//     serialized sha256/sha512 state, and moves only by a revision-checked
//     write: a chunk is stored and hashed first, then the session advances,
//     so a session started on one replica continues on another, and an old
//     Location stays valid.
//   - Upload completion: the session is marked closing with its final parts
//     (what a concurrent PATCH or PUT loses to), then the blob record is
//     created (the commit point), linked into the repository, and the
//     session deleted. A PUT that finds its session closing finishes it.
//   - Mount, or an upload of content already stored: the link is written,
//     then the blob record is rewritten (touched) at the revision it was
//     read at; if the collector deleted it meanwhile, the link is taken
//     back and the blob is reported missing.
//   - Manifest push: every config and layer link is touched at its
//     revision, the referrer entry is written, then the manifest record is
//     created (the commit point), then the tags, each naming the manifest's
//     revision. A tag counts only while that manifest incarnation exists, a
//     referrer entry only while its manifest exists.
//   - Manifest delete: the manifest record goes first (the commit point),
//     then its tags and referrer entry.
//
// # Flow
//
//	docker/podman/oras ──HTTP──> Service.Handler ─┐
//	aws ecr ──gateway──> berth.api.ecr.<Op> ──────┴─> KV "registry" + Object Store "registry_blobs"
//	                                                   └─> EVENTS: events.ecr.<repo>.image.<digest>
//
// Pushes and deletes of images are announced after they are committed, as
// EventBridge "ECR Image Action" events with a Nats-Msg-Id derived from the
// change (the key and the revision the commit replaced). The committing
// write carries its event (events.go): the tag write of a tagged push, the
// manifest creation of an untagged one, the manifest or tag delete. It is
// published right after the write, and by the relay (internal/outbox: the
// durable consumer "outbox" on the bucket's man.> and tag.> writes) when
// the replica died first.
//
// # Authentication
//
// HTTP Basic, as ECR: user "AWS" with a token, never a raw secret. A token
// from GetAuthorizationToken is an HMAC of the access key's secret, checked
// by any replica against the access keys (deleting the key revokes it); it
// is issued only for the caller the gateway proved (internal/callerauth),
// not for a key id a NATS client put in a header. Agents get pull-only
// tokens from the internal request events.SubjRegistryPullToken, an HMAC
// with the registry's pull key (the auth.pull key of its bucket, created by
// the first replica); they read, and pushes or deletes with them get 403
// DENIED.
//
// # Garbage collection
//
// GC (periodic with Config.GCInterval, or called) removes expired upload
// sessions, keys cut-off requests left behind (tags and referrer entries
// without their manifest, the contents of deleted repositories), links no
// manifest uses, blobs no repository links and orphan part objects; nothing
// younger than Config.GCGrace, and every delete expects the revision it was
// decided on, so the touches above make a collector that raced a push or a
// mount fail instead of deleting what it relies on. It reads every key
// space page by page (walk.go), keeping keys, revisions and digests but
// never manifest contents, so its memory does not grow with the manifests.
//
// Finished, cancelled and expired uploads leave nothing behind: their
// session key is purged (no delete marker stays: session ids are never
// reused), and a part object is removed with its metadata message (where
// ObjectStore.Delete would leave a "deleted" marker).
package registry
