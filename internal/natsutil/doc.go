// Package natsutil is the NATS plumbing every Berth service shares:
// connecting with retry (a JetStream cluster can take seconds to be ready),
// ensuring the streams and KV buckets events/ defines, atomic multi-key KV
// commits (JetStream atomic batch publish), micro endpoints that answer AWS
// API operations with bounded concurrency and one error mapping, and the
// client side that rebuilds apierr errors from a reply.
package natsutil
