// Package svc is the bootstrap every Berth service main shares: flags with
// environment equivalents, the JSON slog logger, and the NATS + JetStream
// connection with retry, and the garbage collector's default target
// (DefaultGC). It keeps mains thin: parse, log, connect, run.
package svc
