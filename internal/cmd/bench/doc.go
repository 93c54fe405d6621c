// Command bench runs Berth's side-by-side benchmarks and prints a table.
//
//	go run ./internal/cmd/bench api [-n 2000] [-rounds 3] [-conn inproc|tcp] [-moto moto_server]
//
// The api benchmark starts an in-process Berth stack (an embedded NATS
// server with JetStream file storage and the server's default sync policy,
// the gateway and the taskdefs service, each on its own connection, as the
// all-in-one wires them) and moto_server on loopback, then drives both with
// the same AWS SDK for Go v2 client code, one call at a time:
// RegisterTaskDefinition (one family) and DescribeTaskDefinition (by family
// name). It prints, per round, each operation's p50 and p99 for Berth and
// moto, and the load average, since the numbers move with the machine's load.
// -conn tcp connects the services to NATS over loopback TCP instead, as
// separate processes would be.
package main
