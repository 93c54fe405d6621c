// Command scheduler runs Berth's ECS control plane alone against an external
// NATS server: clusters, container instances, tasks and placement (package
// services/scheduler/control, placement logic in the top-level scheduler
// package). Run any number of replicas.
package main
