// Command taskdefs runs Berth's ECS task-definition service alone against an
// external NATS server (package services/taskdefs/taskdefs). Run any number
// of replicas.
package main
