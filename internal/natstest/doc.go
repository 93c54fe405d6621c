// Package natstest starts throwaway JetStream servers for tests: Start gives
// one server with file storage in a temp dir, Cluster gives n clustered
// nodes, Connect a client, and Eventually polls instead of sleeping.
//
// BERTH_TEST_NATS_DEBUG=1 makes Start listen on 127.0.0.1:4222 (so the
// `nats` CLI can look inside) and log to stderr.
package natstest
