// Command berth is Berth on one machine: an embedded NATS server with
// JetStream file storage under the data folder, and every Berth service
// (gateway, task definitions, scheduler, registry, logs, local agent) in one
// process, wired by hand. A restart on the same data folder keeps all state.
//
//	berth [flags]          run everything (see -h)
//	berth events [flags]   follow the public event stream
//	berth version          print the version
//	berth help             the usage (as -h and --help)
//
// Every listener (API, registry, NATS, the local agent's introspection and
// task metadata endpoints) is bound before anything else starts, and the
// banner comes only after; a busy port stops the start at once with an
// error naming its flag.
//
// Shutdown (SIGINT or SIGTERM) is staged: the HTTP front doors stop taking
// requests and finish the ones in flight, then the services stop their
// endpoints and finish their handlers, then the NATS connections drain and
// the server stops.
package main
