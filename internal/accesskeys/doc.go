// Package accesskeys manages the access keys that sign API calls, stored in
// the events.BucketAccessKeys KV bucket: Bootstrap creates the root key on
// first start (the only writer), and Cache keeps a watched, in-memory copy for
// the gateway's SigV4 checks and the registry's tokens and caller
// assertions (internal/callerauth).
//
// Bootstrap survives a crash at any point: the marker "root" holds the whole
// key and is written (KV Create) before the key record "key.<id>", which
// every later Bootstrap rolls forward. WriteAWSFiles writes each file to a
// temporary file and renames it, so a crash never leaves half a file.
package accesskeys
