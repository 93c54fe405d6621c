// Package accesskeys manages the access keys that sign API calls, stored in
// the events.BucketAccessKeys KV bucket: Bootstrap creates the root key on
// first start (the only writer), and Cache keeps a watched, in-memory copy for
// the gateway's SigV4 checks and the registry's Basic auth.
package accesskeys
