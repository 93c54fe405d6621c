// Command logs runs Berth's CloudWatch Logs service alone against an
// external NATS server (package logs holds the logic). Run any number of
// replicas; the NATS server's max_payload must be at least 2 MiB.
package main
