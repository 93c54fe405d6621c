// Command registry runs Berth's image registry alone against an external
// NATS server: the OCI distribution API on its own port and the ECR
// operations over NATS (package registry). Replicas are stateless.
package main
